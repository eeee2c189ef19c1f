using System.Data;
using System.Data.Common;
using KpuEdge.Core.Security;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace KpuEdge.Nsoc.Incidents;

/// <summary>
/// The NSOC's durable record: incidents and their notes, the audit trail of every operator action, operator accounts and
/// sessions. SQLite for one node, PostgreSQL for a cluster (every node's wall and the one rules engine share it); the
/// statements are the same on both, only the tables' definitions differ. Times are Unix milliseconds.
/// </summary>
public sealed class IncidentStore : IAccountStore<NsocRole>, IAsyncDisposable
{
    private readonly Func<DbConnection> _connect;
    private readonly bool _postgres;
    private readonly NpgsqlDataSource? _dataSource;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Completes at the next change made through this store (this node): the wall pushes it at once. Changes made on
    /// other nodes reach it through <see cref="ChangedAfterAsync"/>, which the wall also reads every second.
    /// </summary>
    public Task NextChange => Volatile.Read(ref _changed).Task;

    private void Signal() => Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    private IncidentStore(Func<DbConnection> connect, bool postgres, NpgsqlDataSource? dataSource)
    {
        _connect = connect;
        _postgres = postgres;
        _dataSource = dataSource;
    }

    public static async Task<IncidentStore> OpenSqliteAsync(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        string connection = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true, DefaultTimeout = 30 }.ToString();
        var store = new IncidentStore(() => new SqliteConnection(connection), postgres: false, null);
        await store.CreateAsync(SqliteSchema + "PRAGMA journal_mode=WAL;");
        return store;
    }

    public static async Task<IncidentStore> OpenPostgresAsync(string connectionString)
    {
        var dataSource = NpgsqlDataSource.Create(connectionString);
        var store = new IncidentStore(() => dataSource.CreateConnection(), postgres: true, dataSource);
        // Several nodes may create the tables at once: one at a time, under an advisory lock.
        await store.CreateAsync("SELECT pg_advisory_xact_lock(735261); " + PostgresSchema, transaction: true);
        return store;
    }

    private const string SqliteSchema = """
        CREATE TABLE IF NOT EXISTS nsoc_incidents (
            id INTEGER PRIMARY KEY AUTOINCREMENT, rule TEXT NOT NULL, subject TEXT NOT NULL, severity INTEGER NOT NULL,
            state INTEGER NOT NULL, title TEXT NOT NULL, detail TEXT NOT NULL, device_id TEXT, region TEXT,
            opened_at INTEGER NOT NULL, last_seen_at INTEGER NOT NULL, count INTEGER NOT NULL,
            acked_by TEXT, acked_at INTEGER, resolved_by TEXT, resolved_at INTEGER, version INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS nsoc_notes (
            id INTEGER PRIMARY KEY AUTOINCREMENT, incident_id INTEGER NOT NULL, at INTEGER NOT NULL, account TEXT NOT NULL, text TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS nsoc_audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, account TEXT NOT NULL, action TEXT NOT NULL,
            incident_id INTEGER, detail TEXT NOT NULL, source TEXT);
        CREATE TABLE IF NOT EXISTS nsoc_accounts (
            name TEXT PRIMARY KEY, role INTEGER NOT NULL, password_hash TEXT NOT NULL, disabled INTEGER NOT NULL, created_at INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS nsoc_sessions (
            token_hash TEXT PRIMARY KEY, account TEXT NOT NULL, csrf TEXT NOT NULL, expires_at INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS nsoc_counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO nsoc_counter (name, value) VALUES ('incident_version', 0) ON CONFLICT DO NOTHING;
        CREATE INDEX IF NOT EXISTS nsoc_incidents_key ON nsoc_incidents (rule, subject, state);
        CREATE INDEX IF NOT EXISTS nsoc_incidents_version ON nsoc_incidents (version);
        CREATE INDEX IF NOT EXISTS nsoc_notes_incident ON nsoc_notes (incident_id);
        """;

    private const string PostgresSchema = """
        CREATE TABLE IF NOT EXISTS nsoc_incidents (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, rule TEXT NOT NULL, subject TEXT NOT NULL, severity INTEGER NOT NULL,
            state INTEGER NOT NULL, title TEXT NOT NULL, detail TEXT NOT NULL, device_id TEXT, region TEXT,
            opened_at BIGINT NOT NULL, last_seen_at BIGINT NOT NULL, count INTEGER NOT NULL,
            acked_by TEXT, acked_at BIGINT, resolved_by TEXT, resolved_at BIGINT, version BIGINT NOT NULL);
        CREATE TABLE IF NOT EXISTS nsoc_notes (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, incident_id BIGINT NOT NULL, at BIGINT NOT NULL, account TEXT NOT NULL, text TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS nsoc_audit (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at BIGINT NOT NULL, account TEXT NOT NULL, action TEXT NOT NULL,
            incident_id BIGINT, detail TEXT NOT NULL, source TEXT);
        CREATE TABLE IF NOT EXISTS nsoc_accounts (
            name TEXT PRIMARY KEY, role INTEGER NOT NULL, password_hash TEXT NOT NULL, disabled INTEGER NOT NULL, created_at BIGINT NOT NULL);
        CREATE TABLE IF NOT EXISTS nsoc_sessions (
            token_hash TEXT PRIMARY KEY, account TEXT NOT NULL, csrf TEXT NOT NULL, expires_at BIGINT NOT NULL);
        CREATE TABLE IF NOT EXISTS nsoc_counter (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
        INSERT INTO nsoc_counter (name, value) VALUES ('incident_version', 0) ON CONFLICT DO NOTHING;
        CREATE INDEX IF NOT EXISTS nsoc_incidents_key ON nsoc_incidents (rule, subject, state);
        CREATE INDEX IF NOT EXISTS nsoc_incidents_version ON nsoc_incidents (version);
        CREATE INDEX IF NOT EXISTS nsoc_notes_incident ON nsoc_notes (incident_id);
        """;

    private async Task CreateAsync(string sql, bool transaction = false)
    {
        await using var connection = await OpenAsync();
        await using var tx = transaction ? await connection.BeginTransactionAsync() : null;
        await using (var command = Command(connection, tx, sql)) await command.ExecuteNonQueryAsync();
        if (tx is not null) await tx.CommitAsync();
    }

    private async Task<DbConnection> OpenAsync()
    {
        var connection = _connect();
        await connection.OpenAsync();
        if (!_postgres)
        {
            await using var pragma = Command(connection, null, "PRAGMA busy_timeout=30000; PRAGMA synchronous=FULL;");
            await pragma.ExecuteNonQueryAsync();
        }
        return connection;
    }

    private static DbCommand Command(DbConnection connection, DbTransaction? tx, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var p = command.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            command.Parameters.Add(p);
        }
        return command;
    }

    /// <summary>A write transaction: SQLite takes its write lock at the start (no upgrade deadlocks); PostgreSQL locks the rows it updates.</summary>
    private async Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, Task<T>> work)
    {
        await using var connection = await OpenAsync();
        if (!_postgres)
        {
            await using var begin = Command(connection, null, "BEGIN IMMEDIATE");
            await begin.ExecuteNonQueryAsync();
            try
            {
                // Microsoft.Data.Sqlite does not know of the BEGIN above: work through a null transaction, commit by hand.
                var result = await work(connection, null!);
                await using var commit = Command(connection, null, "COMMIT");
                await commit.ExecuteNonQueryAsync();
                return result;
            }
            catch
            {
                await using var rollback = Command(connection, null, "ROLLBACK");
                await rollback.ExecuteNonQueryAsync();
                throw;
            }
        }
        await using var tx = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted);
        var value = await work(connection, tx);
        await tx.CommitAsync();
        return value;
    }

    private static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();
    private static DateTimeOffset At(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    private static async Task<long> NextVersionAsync(DbConnection c, DbTransaction tx)
    {
        await using var command = Command(c, tx, "UPDATE nsoc_counter SET value = value + 1 WHERE name = 'incident_version' RETURNING value");
        return Convert.ToInt64(await command.ExecuteScalarAsync());
    }

    /// <summary>
    /// Files alerts: one of a rule and subject with an open or acknowledged incident counts into it (one more occurrence
    /// when the last was longer than <paramref name="dedupWindow"/> ago; the severity only rises); otherwise it opens one.
    /// An alert within the window after an operator resolved its incident is taken as the same condition ending, not a
    /// new one. With <paramref name="cursor"/>, records how far the engine read its sources, in the same transaction.
    /// Answers the incidents opened or changed.
    /// </summary>
    public async Task<IReadOnlyList<long>> RaiseAsync(IReadOnlyList<Alert> alerts, TimeSpan dedupWindow, (string Name, long Value)? cursor = null)
    {
        var changed = await RaiseCoreAsync(alerts, dedupWindow, cursor);
        if (changed.Count > 0) Signal();
        return changed;
    }

    private Task<IReadOnlyList<long>> RaiseCoreAsync(IReadOnlyList<Alert> alerts, TimeSpan dedupWindow, (string Name, long Value)? cursor) =>
        WriteAsync<IReadOnlyList<long>>(async (c, tx) =>
    {
        var changed = new List<long>();
        if (cursor is { } at)
        {
            await using var save = Command(c, tx, "INSERT INTO nsoc_counter (name, value) VALUES (@name, @value) ON CONFLICT (name) DO UPDATE SET value = @value",
                ("@name", "cursor:" + at.Name), ("@value", at.Value));
            await save.ExecuteNonQueryAsync();
        }
        if (alerts.Count == 0) return changed;
        long version = await NextVersionAsync(c, tx);
        foreach (var alert in alerts)
        {
            long? id = null;
            long lastSeen = 0;
            int severity = 0;
            await using (var find = Command(c, tx,
                             "SELECT id, last_seen_at, severity FROM nsoc_incidents WHERE rule = @rule AND subject = @subject AND state <> @resolved ORDER BY id DESC LIMIT 1",
                             ("@rule", alert.Rule), ("@subject", alert.Subject), ("@resolved", (int)IncidentState.Resolved)))
            await using (var reader = await find.ExecuteReaderAsync())
            {
                if (await reader.ReadAsync())
                {
                    id = reader.GetInt64(0);
                    lastSeen = reader.GetInt64(1);
                    severity = reader.GetInt32(2);
                }
            }
            if (id is null)
            {
                await using var recent = Command(c, tx,
                    "SELECT resolved_at FROM nsoc_incidents WHERE rule = @rule AND subject = @subject AND state = @resolved ORDER BY id DESC LIMIT 1",
                    ("@rule", alert.Rule), ("@subject", alert.Subject), ("@resolved", (int)IncidentState.Resolved));
                if (await recent.ExecuteScalarAsync() is long resolvedAt && Ms(alert.At) - resolvedAt < dedupWindow.TotalMilliseconds) continue;
            }
            if (id is { } existing)
            {
                int more = Ms(alert.At) - lastSeen >= dedupWindow.TotalMilliseconds ? 1 : 0;
                if (more == 0 && (int)alert.Severity <= severity) continue; // the same condition again, inside the window
                await using var update = Command(c, tx, """
                    UPDATE nsoc_incidents SET last_seen_at = @at, count = count + @more, detail = @detail,
                        severity = CASE WHEN severity < @severity THEN @severity ELSE severity END, version = @version WHERE id = @id
                    """, ("@at", Math.Max(Ms(alert.At), lastSeen)), ("@more", more), ("@detail", alert.Detail), ("@severity", (int)alert.Severity),
                    ("@version", version), ("@id", existing));
                await update.ExecuteNonQueryAsync();
                changed.Add(existing);
                continue;
            }
            await using var insert = Command(c, tx, """
                INSERT INTO nsoc_incidents (rule, subject, severity, state, title, detail, device_id, region, opened_at, last_seen_at, count, version)
                VALUES (@rule, @subject, @severity, @state, @title, @detail, @device, @region, @at, @at, 1, @version) RETURNING id
                """, ("@rule", alert.Rule), ("@subject", alert.Subject), ("@severity", (int)alert.Severity), ("@state", (int)IncidentState.Open),
                ("@title", alert.Title), ("@detail", alert.Detail), ("@device", alert.DeviceId), ("@region", alert.Region), ("@at", Ms(alert.At)),
                ("@version", version));
            changed.Add(Convert.ToInt64(await insert.ExecuteScalarAsync()));
        }
        return changed;
    });

    /// <summary>open → acknowledged, by <paramref name="account"/>, with an optional note; audited in the same transaction.</summary>
    public Task<Incident> AcknowledgeAsync(long id, string account, string? note, DateTimeOffset at, string? source) =>
        ActAsync(id, account, "acknowledge", note, at, source, state => state == IncidentState.Open
            ? "UPDATE nsoc_incidents SET state = @state, acked_by = @account, acked_at = @at, version = @version WHERE id = @id"
            : throw new IncidentActionException(state == IncidentState.Acknowledged ? "Insiden sudah ditangani (acknowledged)." : "Insiden sudah selesai."),
            IncidentState.Acknowledged);

    /// <summary>open or acknowledged → resolved; audited.</summary>
    public Task<Incident> ResolveAsync(long id, string account, string? note, DateTimeOffset at, string? source) =>
        ActAsync(id, account, "resolve", note, at, source, state => state != IncidentState.Resolved
            ? "UPDATE nsoc_incidents SET state = @state, resolved_by = @account, resolved_at = @at, version = @version, " +
              "acked_by = COALESCE(acked_by, @account), acked_at = COALESCE(acked_at, @at) WHERE id = @id"
            : throw new IncidentActionException("Insiden sudah selesai."), IncidentState.Resolved);

    /// <summary>A note on an incident in any state; audited.</summary>
    public Task<Incident> AddNoteAsync(long id, string account, string note, DateTimeOffset at, string? source) =>
        ActAsync(id, account, "note", note, at, source, _ => "UPDATE nsoc_incidents SET version = @version WHERE id = @id", null);

    private async Task<Incident> ActAsync(long id, string account, string action, string? note, DateTimeOffset at, string? source,
        Func<IncidentState, string> update, IncidentState? newState)
    {
        var incident = await ActCoreAsync(id, account, action, note, at, source, update, newState);
        Signal();
        return incident;
    }

    private Task<Incident> ActCoreAsync(long id, string account, string action, string? note, DateTimeOffset at, string? source,
        Func<IncidentState, string> update, IncidentState? newState) => WriteAsync(async (c, tx) =>
    {
        IncidentState state;
        await using (var find = Command(c, tx, "SELECT state FROM nsoc_incidents WHERE id = @id" + (_postgres ? " FOR UPDATE" : ""), ("@id", id)))
        {
            var value = await find.ExecuteScalarAsync();
            if (value is null or DBNull) throw new KeyNotFoundException($"Tidak ada insiden {id}.");
            state = (IncidentState)Convert.ToInt32(value);
        }
        string sql = update(state);
        long version = await NextVersionAsync(c, tx);
        await using (var command = Command(c, tx, sql, ("@state", (int)(newState ?? state)), ("@account", account), ("@at", Ms(at)), ("@version", version), ("@id", id)))
            await command.ExecuteNonQueryAsync();
        if (!string.IsNullOrWhiteSpace(note))
        {
            await using var insert = Command(c, tx, "INSERT INTO nsoc_notes (incident_id, at, account, text) VALUES (@id, @at, @account, @text)",
                ("@id", id), ("@at", Ms(at)), ("@account", account), ("@text", note.Trim()));
            await insert.ExecuteNonQueryAsync();
        }
        await AppendAuditAsync(c, tx, at, account, action, id, note?.Trim() ?? "", source);
        return (await ReadIncidentsAsync(c, tx, "WHERE id = @id", ("@id", id)))[0];
    });

    /// <summary>Records an action not tied to an incident (a login, a refused login, an account made).</summary>
    public Task AuditAsync(string account, string action, string detail, DateTimeOffset at, string? source) =>
        WriteAsync(async (c, tx) =>
        {
            await AppendAuditAsync(c, tx, at, account, action, null, detail, source);
            return 0;
        });

    private static async Task AppendAuditAsync(DbConnection c, DbTransaction tx, DateTimeOffset at, string account, string action, long? incident, string detail, string? source)
    {
        await using var audit = Command(c, tx, "INSERT INTO nsoc_audit (at, account, action, incident_id, detail, source) VALUES (@at, @account, @action, @incident, @detail, @source)",
            ("@at", Ms(at)), ("@account", account), ("@action", action), ("@incident", incident), ("@detail", detail), ("@source", source));
        await audit.ExecuteNonQueryAsync();
    }

    public async Task<Incident?> GetAsync(long id)
    {
        await using var c = await OpenAsync();
        var found = await ReadIncidentsAsync(c, null, "WHERE id = @id", ("@id", id));
        if (found.Count == 0) return null;
        var notes = new List<IncidentNote>();
        await using (var command = Command(c, null, "SELECT at, account, text FROM nsoc_notes WHERE incident_id = @id ORDER BY id", ("@id", id)))
        await using (var reader = await command.ExecuteReaderAsync())
            while (await reader.ReadAsync()) notes.Add(new IncidentNote(At(reader.GetInt64(0)), reader.GetString(1), reader.GetString(2)));
        return found[0] with { Notes = notes };
    }

    /// <summary>Incidents changed after <paramref name="afterVersion"/> (0: all), oldest change first, at most <paramref name="limit"/>.</summary>
    public async Task<IReadOnlyList<Incident>> ChangedAfterAsync(long afterVersion, int limit)
    {
        await using var c = await OpenAsync();
        return await ReadIncidentsAsync(c, null, "WHERE version > @after ORDER BY version, id LIMIT @limit", ("@after", afterVersion), ("@limit", limit));
    }

    /// <summary>Incidents not resolved (or all), most severe and newest first.</summary>
    public async Task<IReadOnlyList<Incident>> ListAsync(bool includeResolved, int limit, string? region = null)
    {
        await using var c = await OpenAsync();
        string where = (includeResolved ? "WHERE 1 = 1" : $"WHERE state <> {(int)IncidentState.Resolved}") + (region is null ? "" : " AND region LIKE @region");
        return await ReadIncidentsAsync(c, null, where + " ORDER BY severity DESC, last_seen_at DESC LIMIT @limit", ("@limit", limit), ("@region", region + "%"));
    }

    /// <summary>Incidents not resolved, by severity.</summary>
    public async Task<IReadOnlyDictionary<SecuritySeverity, int>> OpenCountsAsync()
    {
        await using var c = await OpenAsync();
        await using var command = Command(c, null, $"SELECT severity, COUNT(*) FROM nsoc_incidents WHERE state <> {(int)IncidentState.Resolved} GROUP BY severity");
        var counts = Enum.GetValues<SecuritySeverity>().ToDictionary(s => s, _ => 0);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) counts[(SecuritySeverity)reader.GetInt32(0)] = Convert.ToInt32(reader.GetValue(1));
        return counts;
    }

    /// <summary>How far the rules engine had read a source (0 before it ever did).</summary>
    public async Task<long> CursorAsync(string name)
    {
        await using var c = await OpenAsync();
        await using var command = Command(c, null, "SELECT value FROM nsoc_counter WHERE name = @name", ("@name", "cursor:" + name));
        return await command.ExecuteScalarAsync() is { } value and not DBNull ? Convert.ToInt64(value) : 0;
    }

    public async Task<long> VersionAsync()
    {
        await using var c = await OpenAsync();
        await using var command = Command(c, null, "SELECT value FROM nsoc_counter WHERE name = 'incident_version'");
        return Convert.ToInt64(await command.ExecuteScalarAsync());
    }

    private static async Task<List<Incident>> ReadIncidentsAsync(DbConnection c, DbTransaction? tx, string where, params (string, object?)[] parameters)
    {
        await using var command = Command(c, tx, """
            SELECT id, rule, subject, severity, state, title, detail, device_id, region, opened_at, last_seen_at, count,
                   acked_by, acked_at, resolved_by, resolved_at, version FROM nsoc_incidents
            """ + " " + where, parameters);
        var list = new List<Incident>();
        await using var r = await command.ExecuteReaderAsync();
        while (await r.ReadAsync())
        {
            list.Add(new Incident
            {
                Id = r.GetInt64(0), Rule = r.GetString(1), Subject = r.GetString(2), Severity = (SecuritySeverity)r.GetInt32(3),
                State = (IncidentState)r.GetInt32(4), Title = r.GetString(5), Detail = r.GetString(6),
                DeviceId = r.IsDBNull(7) ? null : r.GetString(7), Region = r.IsDBNull(8) ? null : r.GetString(8),
                OpenedAt = At(r.GetInt64(9)), LastSeenAt = At(r.GetInt64(10)), Count = r.GetInt32(11),
                AcknowledgedBy = r.IsDBNull(12) ? null : r.GetString(12), AcknowledgedAt = r.IsDBNull(13) ? null : At(r.GetInt64(13)),
                ResolvedBy = r.IsDBNull(14) ? null : r.GetString(14), ResolvedAt = r.IsDBNull(15) ? null : At(r.GetInt64(15)),
                Version = r.GetInt64(16),
            });
        }
        return list;
    }

    public async Task<IReadOnlyList<AuditEntry>> AuditTrailAsync(long afterId, int limit)
    {
        await using var c = await OpenAsync();
        await using var command = Command(c, null, "SELECT id, at, account, action, incident_id, detail, source FROM nsoc_audit WHERE id > @after ORDER BY id LIMIT @limit",
            ("@after", afterId), ("@limit", limit));
        var list = new List<AuditEntry>();
        await using var r = await command.ExecuteReaderAsync();
        while (await r.ReadAsync())
            list.Add(new AuditEntry(r.GetInt64(0), At(r.GetInt64(1)), r.GetString(2), r.GetString(3), r.IsDBNull(4) ? null : r.GetInt64(4),
                r.GetString(5), r.IsDBNull(6) ? null : r.GetString(6)));
        return list;
    }

    // ---- accounts and sessions ----

    /// <summary>Makes an account; false if the name is taken.</summary>
    public Task<bool> CreateAccountAsync(string name, NsocRole role, string passwordHash, DateTimeOffset at) => WriteAsync(async (c, tx) =>
    {
        await using var command = Command(c, tx,
            "INSERT INTO nsoc_accounts (name, role, password_hash, disabled, created_at) VALUES (@name, @role, @hash, 0, @at) ON CONFLICT DO NOTHING",
            ("@name", name), ("@role", (int)role), ("@hash", passwordHash), ("@at", Ms(at)));
        return await command.ExecuteNonQueryAsync() == 1;
    });

    public async Task<NsocAccount?> FindAccountAsync(string name)
    {
        await using var c = await OpenAsync();
        await using var command = Command(c, null, "SELECT name, role, password_hash, disabled FROM nsoc_accounts WHERE name = @name", ("@name", name));
        await using var r = await command.ExecuteReaderAsync();
        return await r.ReadAsync() ? new NsocAccount(r.GetString(0), (NsocRole)r.GetInt32(1), r.GetString(2), r.GetInt32(3) != 0) : null;
    }

    public async Task<long> AccountCountAsync()
    {
        await using var c = await OpenAsync();
        await using var command = Command(c, null, "SELECT COUNT(*) FROM nsoc_accounts");
        return Convert.ToInt64(await command.ExecuteScalarAsync());
    }

    public Task UpdatePasswordHashAsync(string name, string hash) => WriteAsync(async (c, tx) =>
    {
        await using var command = Command(c, tx, "UPDATE nsoc_accounts SET password_hash = @hash WHERE name = @name", ("@hash", hash), ("@name", name));
        return await command.ExecuteNonQueryAsync();
    });

    public Task CreateSessionAsync(string tokenHash, string account, string csrf, DateTimeOffset expiresAt) => WriteAsync(async (c, tx) =>
    {
        await using (var purge = Command(c, tx, "DELETE FROM nsoc_sessions WHERE expires_at < @now", ("@now", Ms(DateTimeOffset.UtcNow.AddDays(-1)))))
            await purge.ExecuteNonQueryAsync();
        await using var command = Command(c, tx, "INSERT INTO nsoc_sessions (token_hash, account, csrf, expires_at) VALUES (@token, @account, @csrf, @expires)",
            ("@token", tokenHash), ("@account", account), ("@csrf", csrf), ("@expires", Ms(expiresAt)));
        return await command.ExecuteNonQueryAsync();
    });

    /// <summary>The live session of a token (with its account's role now), or null: unknown, expired, or the account disabled.</summary>
    public async Task<NsocSession?> FindSessionAsync(string tokenHash, DateTimeOffset now)
    {
        await using var c = await OpenAsync();
        await using var command = Command(c, null, """
            SELECT s.account, a.role, s.csrf, s.expires_at FROM nsoc_sessions s JOIN nsoc_accounts a ON a.name = s.account
            WHERE s.token_hash = @token AND s.expires_at > @now AND a.disabled = 0
            """, ("@token", tokenHash), ("@now", Ms(now)));
        await using var r = await command.ExecuteReaderAsync();
        return await r.ReadAsync() ? new NsocSession(r.GetString(0), (NsocRole)r.GetInt32(1), r.GetString(2), At(r.GetInt64(3))) : null;
    }

    public Task DeleteSessionAsync(string tokenHash) => WriteAsync(async (c, tx) =>
    {
        await using var command = Command(c, tx, "DELETE FROM nsoc_sessions WHERE token_hash = @token", ("@token", tokenHash));
        return await command.ExecuteNonQueryAsync();
    });

    public async ValueTask DisposeAsync()
    {
        if (_dataSource is not null) await _dataSource.DisposeAsync();
        else SqliteConnection.ClearAllPools();
    }
}
