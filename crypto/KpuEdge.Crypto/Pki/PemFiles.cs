using System.Security.Cryptography;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.EdEC;
using Org.BouncyCastle.Asn1.Pkcs;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.Security;

namespace KpuEdge.Crypto.Pki;

/// <summary>
/// PEM text (with .NET's own encoder; the label says what a block is) and the files of keys and certificates:
/// private keys are written readable by their owner only (mode 0600), everything atomically.
/// </summary>
public static class PemFiles
{
    public const string CertificateLabel = "CERTIFICATE";
    public const string RequestLabel = "CERTIFICATE REQUEST";
    public const string PrivateKeyLabel = "PRIVATE KEY";

    public static string Write(string label, ReadOnlySpan<byte> der) => new string(PemEncoding.Write(label, der)) + "\n";

    /// <summary>The DER of every block with this label, in order; blocks with other labels are skipped.</summary>
    public static IReadOnlyList<byte[]> Blocks(string text, string label)
    {
        var result = new List<byte[]>();
        var rest = text.AsMemory();
        while (PemEncoding.TryFind(rest.Span, out var fields))
        {
            var span = rest.Span;
            if (span[fields.Label].SequenceEqual(label))
            {
                try { result.Add(Convert.FromBase64String(new string(span[fields.Base64Data]))); }
                catch (FormatException e) { throw new CertificateFormatException($"Bad base64 in a PEM {label} block.", e); }
            }
            rest = rest[fields.Location.End..];
        }
        return result;
    }

    /// <summary>The first block with this label.</summary>
    /// <exception cref="CertificateFormatException">There is none.</exception>
    public static byte[] Single(string text, string label) =>
        Blocks(text, label) is [var first, ..] ? first : throw new CertificateFormatException($"No PEM {label} block found.");

    /// <summary>
    /// An Ed25519 signing key as PKCS#8 v1 PEM (RFC 8410; what `openssl genpkey -algorithm ed25519` writes). Written by
    /// hand because BouncyCastle writes v2 with the public key, which OpenSSL 3.0 refuses to load.
    /// </summary>
    public static string SigningKeyToPem(DeviceKey key) =>
        Write(PrivateKeyLabel, new PrivateKeyInfo(new AlgorithmIdentifier(EdECObjectIdentifiers.id_Ed25519), new DerOctetString(key.PrivateBytes())).GetEncoded());

    public static DeviceKey SigningKeyFromPem(string pem)
    {
        byte[] der = Single(pem, PrivateKeyLabel);
        Org.BouncyCastle.Crypto.AsymmetricKeyParameter key;
        try { key = PrivateKeyFactory.CreateKey(der); }
        catch (Exception e) { throw new CertificateFormatException($"Not a PKCS#8 private key: {e.Message}", e); }
        return key is Ed25519PrivateKeyParameters ed25519
            ? DeviceKey.FromPrivateBytes(ed25519.GetEncoded())
            : throw new CertificateFormatException("Not an Ed25519 private key.");
    }

    /// <summary>Writes a private key readable by its owner only; the mode is set at creation, so there is no readable moment.</summary>
    public static void WritePrivate(string path, string text)
    {
        string temp = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(temp, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(text);
        }
        // An older temp file keeps its mode when truncated: set it again.
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Writes a public file atomically (temp file, then rename).</summary>
    public static void WritePublic(string path, string text)
    {
        string temp = path + ".tmp";
        File.WriteAllText(temp, text);
        File.Move(temp, path, overwrite: true);
    }
}
