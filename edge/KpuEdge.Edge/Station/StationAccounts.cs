using System.Text.Json.Serialization;
using KpuEdge.Access;
using Microsoft.Data.Sqlite;

namespace KpuEdge.Edge.Station;

/// <summary>Who may do what on the PPK station's screen.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PpkRole>))]
public enum PpkRole
{
    /// <summary>Sees every form, photo, statement and D.Hasil (a saksi or Panwascam at the plenary, on the station's screen).</summary>
    [JsonStringEnumMemberName("viewer")] Viewer,
    /// <summary>A PPK member: verifies, records objections, corrects at the plenary, signs the D.Hasil, makes accounts.</summary>
    [JsonStringEnumMemberName("operator")] Operator,
}

/// <summary>
/// The station screen's accounts, sessions and audit trail in the station's own SQLite file (<c>station.db</c>, WAL,
/// synchronous=FULL, beside the outbox): the <see cref="IAccountStore{TRole}"/> of <see cref="OperatorAccounts{TRole}"/>.
/// The audit names the person behind each statement the station signs.
/// </summary>
public sealed class StationAccounts : IAccountStore<PpkRole>, IDisposable
{
    public const string FileName = "station.db";

    private readonly SqliteConnection _db;
    private readonly Lock _lock = new();

    public StationAccounts(string path)
    {
        _db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        _db.Open();
        Execute("""
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = FULL;
            CREATE TABLE IF NOT EXISTS accounts (
                name          TEXT    PRIMARY KEY,
                role          INTEGER NOT NULL,
                password_hash TEXT    NOT NULL,
                disabled      INTEGER NOT NULL DEFAULT 0,
                created_at    INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS sessions (
                token_hash TEXT    PRIMARY KEY,
                account    TEXT    NOT NULL,
                csrf       TEXT    NOT NULL,
                expires_at INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS audit (
                id      INTEGER PRIMARY KEY AUTOINCREMENT,
                at      INTEGER NOT NULL,
                account TEXT    NOT NULL,
                action  TEXT    NOT NULL,
                detail  TEXT    NOT NULL,
                source  TEXT
            );
            """);
    }

    public Task<bool> CreateAccountAsync(string name, PpkRole role, string passwordHash, DateTimeOffset at) =>
        Task.FromResult(Execute("INSERT INTO accounts (name, role, password_hash, created_at) VALUES ($name, $role, $hash, $at) ON CONFLICT DO NOTHING",
            ("$name", name), ("$role", (int)role), ("$hash", passwordHash), ("$at", at.ToUnixTimeMilliseconds())) == 1);

    public Task<OperatorAccount<PpkRole>?> FindAccountAsync(string name) =>
        Task.FromResult(Query("SELECT name, role, password_hash, disabled FROM accounts WHERE name = $name",
            r => new OperatorAccount<PpkRole>(r.GetString(0), (PpkRole)r.GetInt32(1), r.GetString(2), r.GetInt32(3) != 0), ("$name", name)).FirstOrDefault());

    public Task<long> AccountCountAsync() => Task.FromResult(Query("SELECT COUNT(*) FROM accounts", r => r.GetInt64(0)).Single());

    public Task UpdatePasswordHashAsync(string name, string hash)
    {
        Execute("UPDATE accounts SET password_hash = $hash WHERE name = $name", ("$hash", hash), ("$name", name));
        return Task.CompletedTask;
    }

    public Task CreateSessionAsync(string tokenHash, string account, string csrf, DateTimeOffset expiresAt)
    {
        Execute("DELETE FROM sessions WHERE expires_at < $now", ("$now", DateTimeOffset.UtcNow.AddDays(-1).ToUnixTimeMilliseconds()));
        Execute("INSERT INTO sessions (token_hash, account, csrf, expires_at) VALUES ($token, $account, $csrf, $expires)",
            ("$token", tokenHash), ("$account", account), ("$csrf", csrf), ("$expires", expiresAt.ToUnixTimeMilliseconds()));
        return Task.CompletedTask;
    }

    public Task<OperatorSession<PpkRole>?> FindSessionAsync(string tokenHash, DateTimeOffset now) =>
        Task.FromResult(Query("""
            SELECT s.account, a.role, s.csrf, s.expires_at FROM sessions s JOIN accounts a ON a.name = s.account
            WHERE s.token_hash = $token AND s.expires_at > $now AND a.disabled = 0
            """, r => new OperatorSession<PpkRole>(r.GetString(0), (PpkRole)r.GetInt32(1), r.GetString(2), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3))),
            ("$token", tokenHash), ("$now", now.ToUnixTimeMilliseconds())).FirstOrDefault());

    public Task DeleteSessionAsync(string tokenHash)
    {
        Execute("DELETE FROM sessions WHERE token_hash = $token", ("$token", tokenHash));
        return Task.CompletedTask;
    }

    public Task AuditAsync(string account, string action, string detail, DateTimeOffset at, string? source)
    {
        Execute("INSERT INTO audit (at, account, action, detail, source) VALUES ($at, $account, $action, $detail, $source)",
            ("$at", at.ToUnixTimeMilliseconds()), ("$account", account), ("$action", action), ("$detail", detail), ("$source", source));
        return Task.CompletedTask;
    }

    /// <summary>The newest audit rows, newest first.</summary>
    public IReadOnlyList<(DateTimeOffset At, string Account, string Action, string Detail)> Audit(int limit) =>
        Query("SELECT at, account, action, detail FROM audit ORDER BY id DESC LIMIT $limit",
            r => (DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(0)), r.GetString(1), r.GetString(2), r.GetString(3)), ("$limit", limit));

    private int Execute(string sql, params (string Name, object? Value)[] values)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = sql;
            foreach (var (name, value) in values) command.Parameters.AddWithValue(name, value ?? DBNull.Value);
            return command.ExecuteNonQuery();
        }
    }

    private List<T> Query<T>(string sql, Func<SqliteDataReader, T> row, params (string Name, object? Value)[] values)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = sql;
            foreach (var (name, value) in values) command.Parameters.AddWithValue(name, value ?? DBNull.Value);
            using var reader = command.ExecuteReader();
            var rows = new List<T>();
            while (reader.Read()) rows.Add(row(reader));
            return rows;
        }
    }

    public void Dispose() => _db.Dispose();
}
