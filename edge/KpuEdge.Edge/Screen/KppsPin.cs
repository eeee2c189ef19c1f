using System.Security.Cryptography;
using System.Text;

namespace KpuEdge.Edge.Screen;

/// <summary>
/// The KPPS chair's PIN, without which the device signs nothing from its screen: 6–12 digits, kept in the device folder
/// only as a salted PBKDF2-SHA256 hash (<c>kpps-pin</c>, owner-only), set with <c>kpu-edge set-pin</c>. Five wrong
/// PINs in a row lock signing for five minutes (the KPPS chair is at the table; a guesser is not).
/// </summary>
public sealed class KppsPin(string path, TimeProvider time)
{
    public const string FileName = "kpps-pin";
    private const int Iterations = 210_000;
    private const int MaxFailures = 5;
    private static readonly TimeSpan Lockout = TimeSpan.FromMinutes(5);
    private int _failures;
    private DateTimeOffset _lockedUntil;
    private readonly Lock _lock = new();

    public bool IsSet => File.Exists(path);

    public static string? Problem(string? pin) =>
        pin is null || pin.Length is < 6 or > 12 || !pin.All(char.IsAsciiDigit) ? "PIN terdiri dari 6–12 angka." : null;

    /// <summary>Sets (or replaces) the PIN.</summary>
    public void Set(string pin)
    {
        if (Problem(pin) is { } problem) throw new ArgumentException(problem, nameof(pin));
        var salt = RandomNumberGenerator.GetBytes(16);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(pin), salt, Iterations, HashAlgorithmName.SHA256, 32);
        string temp = path + ".tmp";
        File.WriteAllText(temp, $"pbkdf2-sha256:{Iterations}:{Convert.ToBase64String(salt)}:{Convert.ToBase64String(hash)}\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Whether <paramref name="pin"/> is the KPPS chair's; a refusal says why (wrong, locked, not set) in Bahasa Indonesia.</summary>
    public bool Check(string? pin, out string? refusal)
    {
        lock (_lock)
        {
            var now = time.GetUtcNow();
            if (now < _lockedUntil)
            {
                refusal = $"Terlalu banyak PIN salah; coba lagi setelah {_lockedUntil.ToLocalTime():HH:mm}.";
                return false;
            }
            if (!IsSet)
            {
                refusal = "PIN ketua KPPS belum diatur di perangkat ini (kpu-edge set-pin).";
                return false;
            }
            var parts = File.ReadAllText(path).Trim().Split(':');
            bool ok = parts.Length == 4 && parts[0] == "pbkdf2-sha256" && int.TryParse(parts[1], out int iterations) && pin is not null
                      && CryptographicOperations.FixedTimeEquals(
                          Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(pin), Convert.FromBase64String(parts[2]), iterations, HashAlgorithmName.SHA256, 32),
                          Convert.FromBase64String(parts[3]));
            if (ok)
            {
                _failures = 0;
                refusal = null;
                return true;
            }
            if (++_failures >= MaxFailures)
            {
                _failures = 0;
                _lockedUntil = now + Lockout;
            }
            refusal = "PIN ketua KPPS salah.";
            return false;
        }
    }
}
