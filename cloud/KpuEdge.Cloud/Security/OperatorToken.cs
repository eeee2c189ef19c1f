using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using KpuEdge.Crypto.Pki;

namespace KpuEdge.Cloud.Security;

/// <summary>
/// The NSOC operator's bearer token, which the security event feed asks for (until operator accounts, issue 12). It lives
/// in <see cref="CloudOptions.OperatorTokenFile"/>: made at the first start from 256 random bits (base64url), readable
/// by its owner only, and handed to operators out of band; the cloud logs where it is, never what it is. Only its SHA-256
/// is kept in memory, and a presented token is compared by hash in constant time.
/// </summary>
public sealed class OperatorToken
{
    /// <summary>Shortest token accepted from a file an operator wrote (a made token has 43 characters).</summary>
    public const int MinLength = 32;

    private readonly byte[] _hash;

    private OperatorToken(byte[] hash) => _hash = hash;

    /// <summary>Reads the token file, first writing a new random token to it if there is none.</summary>
    public static OperatorToken LoadOrCreate(string path, ILogger logger)
    {
        string fullPath = Path.GetFullPath(path);
        if (!File.Exists(fullPath))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(fullPath)!);
            PemFiles.WritePrivate(fullPath, Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32)) + "\n");
            logger.LogInformation("Made a new NSOC operator token in {Path} (readable by its owner only): give it to the operators", fullPath);
        }
        else
        {
            if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(fullPath) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead)) != 0)
                logger.LogWarning("{Path} is readable by others than its owner: chmod 600 it", fullPath);
            logger.LogInformation("NSOC operator token from {Path}", fullPath);
        }
        string token = File.ReadAllText(fullPath).Trim();
        if (token.Length < MinLength)
            throw new InvalidDataException($"{fullPath} holds no operator token of at least {MinLength} characters; delete it to have one made.");
        return new OperatorToken(Hash(token));
    }

    /// <summary>Whether an Authorization header is <c>Bearer</c> with this token.</summary>
    public bool Accepts(string? authorization)
    {
        const string scheme = "Bearer ";
        if (authorization is null || !authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return false;
        // Hashing first gives both sides the same length, so the comparison's time says nothing about the token.
        return CryptographicOperations.FixedTimeEquals(Hash(authorization[scheme.Length..].Trim()), _hash);
    }

    private static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));
}
