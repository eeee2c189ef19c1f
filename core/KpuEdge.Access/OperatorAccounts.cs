using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Logging;

namespace KpuEdge.Access;

/// <summary>An operator's account as its store keeps it: the password only as its hash.</summary>
public sealed record OperatorAccount<TRole>(string Name, TRole Role, string PasswordHash, bool Disabled) where TRole : struct, Enum;

/// <summary>A live session: whose, with which role now, its CSRF token and when it ends.</summary>
public sealed record OperatorSession<TRole>(string Account, TRole Role, string Csrf, DateTimeOffset ExpiresAt) where TRole : struct, Enum;

/// <summary>
/// Where a screen keeps its accounts, sessions (by the SHA-256 of their token only) and audit trail: the NSOC in its
/// incident store, a PPK station in its own database.
/// </summary>
public interface IAccountStore<TRole> where TRole : struct, Enum
{
    /// <summary>Makes an account; false if the name is taken.</summary>
    Task<bool> CreateAccountAsync(string name, TRole role, string passwordHash, DateTimeOffset at);
    Task<OperatorAccount<TRole>?> FindAccountAsync(string name);
    Task<long> AccountCountAsync();
    Task UpdatePasswordHashAsync(string name, string hash);
    Task CreateSessionAsync(string tokenHash, string account, string csrf, DateTimeOffset expiresAt);
    /// <summary>The live session of a token (with its account's role now), or null: unknown, expired, or the account disabled.</summary>
    Task<OperatorSession<TRole>?> FindSessionAsync(string tokenHash, DateTimeOffset now);
    Task DeleteSessionAsync(string tokenHash);
    /// <summary>Records who did what, from where (logins, refused logins, accounts made).</summary>
    Task AuditAsync(string account, string action, string detail, DateTimeOffset at, string? source);
}

/// <summary>
/// Operator accounts and their sessions: passwords hashed by ASP.NET Core Identity's <see cref="PasswordHasher{TUser}"/>
/// (PBKDF2-HMAC-SHA512, salted), a session a random 256-bit token kept only as its SHA-256 in the store, a CSRF token per
/// session. Five wrong passwords for a name within five minutes lock that name for five. Operator-facing texts are in
/// Bahasa Indonesia.
/// </summary>
public sealed class OperatorAccounts<TRole>(IAccountStore<TRole> store, TimeSpan sessionLifetime, TimeProvider time, ILogger logger)
    where TRole : struct, Enum
{
    public const string CsrfHeader = "X-CSRF-Token";
    private const int MaxFailures = 5;
    private static readonly TimeSpan LockWindow = TimeSpan.FromMinutes(5);

    private readonly PasswordHasher<OperatorAccount<TRole>> _hasher = new();
    private readonly ConcurrentDictionary<string, Queue<DateTimeOffset>> _failures = new(StringComparer.Ordinal);

    public static bool IsValidName(string? name) =>
        name is { Length: >= 2 and <= 40 } && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    public static string? PasswordProblem(string? password) =>
        password is null || password.Length < 12 ? "Kata sandi minimal 12 karakter."
        : password.Length > 200 ? "Kata sandi terlalu panjang." : null;

    public async Task<bool> CreateAsync(string name, TRole role, string password, string by, string? source)
    {
        if (!IsValidName(name)) throw new ArgumentException("Nama akun: 2–40 huruf, angka, '.', '_' atau '-'.", nameof(name));
        if (PasswordProblem(password) is { } problem) throw new ArgumentException(problem, nameof(password));
        var account = new OperatorAccount<TRole>(name, role, "", false);
        bool created = await store.CreateAccountAsync(name, role, _hasher.HashPassword(account, password), time.GetUtcNow());
        if (created) await store.AuditAsync(by, "account_create", $"{name} ({role.ToString().ToLowerInvariant()})", time.GetUtcNow(), source);
        return created;
    }

    /// <summary>At the first start: an account <c>admin</c> with <paramref name="role"/> and a random password in <paramref name="passwordFile"/> (owner-only).</summary>
    public async Task EnsureFirstOperatorAsync(TRole role, string passwordFile, string screen)
    {
        if (await store.AccountCountAsync() > 0) return;
        string password = Convert.ToBase64String(RandomNumberGenerator.GetBytes(18)).Replace('+', 'x').Replace('/', 'y');
        if (!await CreateAsync("admin", role, password, "system", null)) return; // another node made it first
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(passwordFile))!);
        await File.WriteAllTextAsync(passwordFile, password + "\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        logger.LogWarning("{Screen}: made the first account 'admin'; its password is in {Path} (readable by this user only)", screen, Path.GetFullPath(passwordFile));
    }

    /// <summary>A new session for a right name and password; null otherwise (also while the name is locked). Audited either way.</summary>
    public async Task<(string Token, OperatorSession<TRole> Session)?> LoginAsync(string name, string password, string? source)
    {
        var now = time.GetUtcNow();
        var failures = _failures.GetOrAdd(name, _ => new Queue<DateTimeOffset>());
        lock (failures)
        {
            while (failures.Count > 0 && now - failures.Peek() > LockWindow) failures.Dequeue();
            if (failures.Count >= MaxFailures)
            {
                _ = store.AuditAsync(name, "login_locked", "too many wrong passwords", now, source);
                return null;
            }
        }
        var account = IsValidName(name) ? await store.FindAccountAsync(name) : null;
        var verdict = account is null || account.Disabled ? PasswordVerificationResult.Failed : _hasher.VerifyHashedPassword(account, account.PasswordHash, password);
        if (verdict == PasswordVerificationResult.Failed)
        {
            lock (failures) failures.Enqueue(now);
            await store.AuditAsync(IsValidName(name) ? name : "?", "login_failed", "", now, source);
            return null;
        }
        if (verdict == PasswordVerificationResult.SuccessRehashNeeded) await store.UpdatePasswordHashAsync(name, _hasher.HashPassword(account!, password));
        lock (failures) failures.Clear();
        string token = Base64Url(RandomNumberGenerator.GetBytes(32));
        var session = new OperatorSession<TRole>(account!.Name, account.Role, Base64Url(RandomNumberGenerator.GetBytes(24)), now + sessionLifetime);
        await store.CreateSessionAsync(Hash(token), session.Account, session.Csrf, session.ExpiresAt);
        await store.AuditAsync(account.Name, "login", "", now, source);
        return (token, session);
    }

    public Task<OperatorSession<TRole>?> SessionAsync(string? token) =>
        string.IsNullOrEmpty(token) || token.Length > 100 ? Task.FromResult<OperatorSession<TRole>?>(null) : store.FindSessionAsync(Hash(token), time.GetUtcNow());

    public async Task LogoutAsync(string token, string account, string? source)
    {
        await store.DeleteSessionAsync(Hash(token));
        await store.AuditAsync(account, "logout", "", time.GetUtcNow(), source);
    }

    private static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Constant-time comparison of the CSRF token a request carries with its session's.</summary>
    public static bool CsrfMatches(OperatorSession<TRole> session, string? presented) =>
        presented is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(session.Csrf), Encoding.UTF8.GetBytes(presented));
}
