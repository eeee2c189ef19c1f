using KpuEdge.Cloud.Ingest;
using KpuEdge.Cloud.Recap;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Security;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Transparency;
using Microsoft.Data.Sqlite;

namespace KpuEdge.Cloud.Ledger;

/// <summary>
/// The ledger in one SQLite file, WAL mode with synchronous=FULL: a transaction that returned is on disk,
/// so acknowledging after <see cref="Append"/> never acknowledges something a power cut could lose.
/// One writer at a time (the node's group commit, revocations, broker events); readers open their own pooled connections.
/// Positions and log indexes are allocated inside the write transaction from what the file holds, so they are gapless
/// and in commit order. SQLite does the work synchronously: the async methods complete before they return.
/// The transparency log's entries live here too, written in the same transaction as what they record, so the log
/// can never disagree with the ledger about order or content.
/// </summary>
public sealed class SqliteLedger : IResultsLedger
{
    private readonly string _connectionString;
    private readonly SqliteConnection _writer;
    private readonly Lock _writeLock = new();

    public SqliteLedger(string path)
    {
        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true }.ToString();
        _writer = new SqliteConnection(_connectionString);
        _writer.Open();
        CheckFormat();
        Execute(_writer, """
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = FULL;
            CREATE TABLE IF NOT EXISTS submissions (
                position    INTEGER PRIMARY KEY,
                hash        BLOB    NOT NULL UNIQUE,
                device_id   TEXT    NOT NULL,
                sequence    INTEGER NOT NULL,
                tps         TEXT    NOT NULL,
                contest     INTEGER NOT NULL,
                received_at INTEGER NOT NULL,
                wire        BLOB    NOT NULL,
                prev_hash   BLOB    NOT NULL,
                device_time INTEGER NOT NULL,
                log_index   INTEGER NOT NULL,
                image_hash  BLOB
            );
            -- A TPS's versions of a contest in the recap's order (sequence, then position, the rowid every index ends with).
            DROP INDEX IF EXISTS submissions_tps;
            CREATE INDEX IF NOT EXISTS submissions_tps_version ON submissions (tps, contest, sequence);
            -- One form per device and sequence number: a fork can never be written, whoever decided it.
            DROP INDEX IF EXISTS submissions_device;
            CREATE UNIQUE INDEX IF NOT EXISTS submissions_device_sequence ON submissions (device_id, sequence);
            CREATE TABLE IF NOT EXISTS rejections (
                id           INTEGER PRIMARY KEY,
                received_at  INTEGER NOT NULL,
                topic        TEXT    NOT NULL,
                device_id    TEXT,
                reason       TEXT    NOT NULL,
                detail       TEXT    NOT NULL,
                payload_hash BLOB    NOT NULL,
                size         INTEGER NOT NULL
            );
            -- The transparency log: a submission's entry (0x01 || wire) is rebuilt from its row; other entries are stored whole.
            CREATE TABLE IF NOT EXISTS log_entries (
                log_index  INTEGER PRIMARY KEY,
                type       INTEGER NOT NULL,
                position   INTEGER,
                content    BLOB
            );
            CREATE TABLE IF NOT EXISTS checkpoints (
                size      INTEGER PRIMARY KEY,
                root      BLOB    NOT NULL,
                note      TEXT    NOT NULL,
                signed_at INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS revocations (
                serial      TEXT    PRIMARY KEY,
                device_id   TEXT    NOT NULL,
                revoked_at  INTEGER NOT NULL,
                reason      TEXT    NOT NULL,
                recorded_at INTEGER NOT NULL,
                log_index   INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS security_events (
                id        INTEGER PRIMARY KEY,
                ts        INTEGER NOT NULL,
                kind      TEXT    NOT NULL,
                device_id TEXT,
                json      TEXT    NOT NULL
            );
            -- Form page images received and checked against the hash in a signed submission (the file lies under the image root).
            CREATE TABLE IF NOT EXISTS images (
                image_hash BLOB    NOT NULL,
                page       INTEGER NOT NULL,
                pages      INTEGER NOT NULL,
                page_hash  BLOB    NOT NULL,
                tps        TEXT    NOT NULL,
                contest    INTEGER NOT NULL,
                size       INTEGER NOT NULL,
                path       TEXT    NOT NULL,
                stored_at  INTEGER NOT NULL,
                PRIMARY KEY (image_hash, page)
            );
            CREATE INDEX IF NOT EXISTS images_tps ON images (tps, contest);
            CREATE INDEX IF NOT EXISTS images_stored ON images (stored_at);
            -- Refusals by reason, counted in the transaction that writes them (the status API reads these, not the table).
            CREATE TABLE IF NOT EXISTS rejection_counts (
                reason TEXT    PRIMARY KEY,
                count  INTEGER NOT NULL
            );
            INSERT INTO rejection_counts (reason, count)
                SELECT reason, COUNT(*) FROM rejections WHERE NOT EXISTS (SELECT 1 FROM rejection_counts) GROUP BY reason;
            -- The device registry: each device's signing certificate (DER), by id and by serial.
            CREATE TABLE IF NOT EXISTS devices (
                device_id   TEXT PRIMARY KEY,
                tps         TEXT NOT NULL,
                serial      TEXT NOT NULL,
                certificate BLOB NOT NULL
            );
            CREATE INDEX IF NOT EXISTS devices_serial ON devices (serial);
            -- PPK stations' signed statements (verification, objection, correction, D.Hasil), each logged whole.
            CREATE TABLE IF NOT EXISTS ppk_statements (
                hash         BLOB    PRIMARY KEY,
                station      TEXT    NOT NULL,
                sequence     INTEGER NOT NULL,
                kind         INTEGER NOT NULL,
                kecamatan    TEXT    NOT NULL,
                received_at  INTEGER NOT NULL,
                prev_hash    BLOB    NOT NULL,
                station_time INTEGER NOT NULL,
                wire         BLOB    NOT NULL,
                log_index    INTEGER NOT NULL,
                finding      TEXT,
                UNIQUE (station, sequence)
            );
            CREATE INDEX IF NOT EXISTS ppk_statements_kecamatan ON ppk_statements (kecamatan);
            -- The forms each statement names (a D.Hasil, one row per TPS): a TPS's page and a desa's recap find them by TPS.
            CREATE TABLE IF NOT EXISTS ppk_statement_forms (
                statement_hash BLOB    NOT NULL,
                tps            TEXT    NOT NULL,
                contest        INTEGER NOT NULL,
                form_hash      BLOB    NOT NULL,
                kind           INTEGER NOT NULL
            );
            CREATE INDEX IF NOT EXISTS ppk_statement_forms_tps ON ppk_statement_forms (tps, kind);
            -- The newest installed revocation list of each issuing CA.
            CREATE TABLE IF NOT EXISTS crls (
                issuer      TEXT    PRIMARY KEY,
                number      INTEGER NOT NULL,
                this_update INTEGER NOT NULL,
                der         BLOB    NOT NULL
            );
            """);
        Upgrade();
    }

    public Task<long> CountAsync(CancellationToken cancellationToken = default)
    {
        using var connection = OpenReader();
        return Task.FromResult(Scalar(connection, "SELECT COALESCE(MAX(position), 0) FROM submissions"));
    }

    public Task<long> LogCountAsync(CancellationToken cancellationToken = default)
    {
        using var connection = OpenReader();
        return Task.FromResult(Scalar(connection, "SELECT COALESCE(MAX(log_index) + 1, 0) FROM log_entries"));
    }

    public Task<LedgerCommit> AppendAsync(LedgerBatch batch, CancellationToken cancellationToken = default)
    {
        lock (_writeLock)
        {
            var accepted = batch.Accepted;
            var positions = new long[accepted.Count];
            var submissionLog = new long[accepted.Count];
            var revocationLog = new long[batch.Revocations.Count];
            var entries = new List<byte[]>(accepted.Count + batch.Revocations.Count);
            using var transaction = _writer.BeginTransaction();
            long next = Scalar(_writer, "SELECT COALESCE(MAX(position), 0) FROM submissions", transaction);
            long firstLogIndex = Scalar(_writer, "SELECT COALESCE(MAX(log_index) + 1, 0) FROM log_entries", transaction);
            long nextLog = firstLogIndex;
            var conflicts = FindConflicts(accepted, transaction);
            foreach (int i in conflicts) positions[i] = submissionLog[i] = -1;
            if (accepted.Count > conflicts.Count)
            {
                using var insert = _writer.CreateCommand();
                insert.Transaction = transaction;
                insert.CommandText = """
                    INSERT INTO submissions (position, hash, device_id, sequence, tps, contest, received_at, wire, prev_hash, device_time, log_index, image_hash)
                    VALUES ($position, $hash, $device, $sequence, $tps, $contest, $received, $wire, $prev, $device_time, $log_index, $image_hash);
                    INSERT INTO log_entries (log_index, type, position, content) VALUES ($log_index, $type, $position, NULL);
                    """;
                var pPosition = insert.Parameters.Add("$position", SqliteType.Integer);
                var pHash = insert.Parameters.Add("$hash", SqliteType.Blob);
                var pDevice = insert.Parameters.Add("$device", SqliteType.Text);
                var pSequence = insert.Parameters.Add("$sequence", SqliteType.Integer);
                var pTps = insert.Parameters.Add("$tps", SqliteType.Text);
                var pContest = insert.Parameters.Add("$contest", SqliteType.Integer);
                var pReceived = insert.Parameters.Add("$received", SqliteType.Integer);
                var pWire = insert.Parameters.Add("$wire", SqliteType.Blob);
                var pPrevious = insert.Parameters.Add("$prev", SqliteType.Blob);
                var pDeviceTime = insert.Parameters.Add("$device_time", SqliteType.Integer);
                var pLogIndex = insert.Parameters.Add("$log_index", SqliteType.Integer);
                var pImageHash = insert.Parameters.Add("$image_hash", SqliteType.Blob);
                insert.Parameters.AddWithValue("$type", (int)LogEntryType.Submission);
                for (int i = 0; i < accepted.Count; i++)
                {
                    if (conflicts.Contains(i)) continue;
                    var (s, receivedAt) = accepted[i];
                    positions[i] = ++next;
                    submissionLog[i] = nextLog++;
                    pPosition.Value = next;
                    pHash.Value = s.Hash.ToArray();
                    pDevice.Value = s.Submission.DeviceId;
                    pSequence.Value = (long)s.Submission.Sequence;
                    pTps.Value = s.Submission.Tps.Value;
                    pContest.Value = (int)s.Submission.Contest;
                    pReceived.Value = receivedAt.ToUnixTimeMilliseconds();
                    pWire.Value = s.Wire;
                    pPrevious.Value = s.Submission.PreviousHash.ToArray();
                    pDeviceTime.Value = s.Submission.DeviceTime.ToUnixTimeMilliseconds();
                    pLogIndex.Value = submissionLog[i];
                    pImageHash.Value = s.Submission.ImageHash.IsEmpty ? DBNull.Value : s.Submission.ImageHash.ToArray();
                    insert.ExecuteNonQuery();
                    entries.Add(LogEntry.EncodeSubmission(s.Wire));
                }
            }
            // A revocation already logged (the same list installed again) keeps the index it has.
            var logged = new Dictionary<string, long>(StringComparer.Ordinal);
            for (int i = 0; i < batch.Revocations.Count; i++)
            {
                var r = batch.Revocations[i];
                if ((logged.TryGetValue(r.SerialHex, out long inBatch) ? inBatch : LoggedRevocation(r.SerialHex, transaction)) is { } held)
                {
                    revocationLog[i] = held;
                    continue;
                }
                revocationLog[i] = logged[r.SerialHex] = nextLog++;
                using var insert = _writer.CreateCommand();
                insert.Transaction = transaction;
                insert.CommandText = """
                    INSERT INTO revocations (serial, device_id, revoked_at, reason, recorded_at, log_index)
                    VALUES ($serial, $device, $revoked, $reason, $recorded, $log_index);
                    INSERT INTO log_entries (log_index, type, position, content) VALUES ($log_index, $type, NULL, $content);
                    """;
                insert.Parameters.AddWithValue("$serial", r.SerialHex);
                insert.Parameters.AddWithValue("$device", r.DeviceId);
                insert.Parameters.AddWithValue("$revoked", r.RevokedAt.ToUnixTimeMilliseconds());
                insert.Parameters.AddWithValue("$reason", r.Reason);
                insert.Parameters.AddWithValue("$recorded", r.RecordedAt.ToUnixTimeMilliseconds());
                insert.Parameters.AddWithValue("$log_index", revocationLog[i]);
                insert.Parameters.AddWithValue("$type", (int)LogEntryType.Revocation);
                insert.Parameters.AddWithValue("$content", r.LogEntry);
                insert.ExecuteNonQuery();
                entries.Add(r.LogEntry);
            }
            var (statementLog, statementConflicts) = InsertStatements(batch.Statements, transaction, ref nextLog, entries);
            if (batch.Rejections.Count > 0)
            {
                using var insert = _writer.CreateCommand();
                insert.Transaction = transaction;
                insert.CommandText = """
                    INSERT INTO rejections (received_at, topic, device_id, reason, detail, payload_hash, size)
                    VALUES ($received, $topic, $device, $reason, $detail, $hash, $size)
                    """;
                foreach (var r in batch.Rejections)
                {
                    insert.Parameters.Clear();
                    insert.Parameters.AddWithValue("$received", r.ReceivedAt.ToUnixTimeMilliseconds());
                    insert.Parameters.AddWithValue("$topic", r.Topic);
                    insert.Parameters.AddWithValue("$device", (object?)r.DeviceId ?? DBNull.Value);
                    insert.Parameters.AddWithValue("$reason", r.Reason);
                    insert.Parameters.AddWithValue("$detail", r.Detail);
                    insert.Parameters.AddWithValue("$hash", r.PayloadHash.ToArray());
                    insert.Parameters.AddWithValue("$size", r.Size);
                    insert.ExecuteNonQuery();
                }
                using var count = _writer.CreateCommand();
                count.Transaction = transaction;
                count.CommandText = "INSERT INTO rejection_counts (reason, count) VALUES ($reason, $n) ON CONFLICT (reason) DO UPDATE SET count = count + excluded.count";
                var pReason = count.Parameters.Add("$reason", SqliteType.Text);
                var pCount = count.Parameters.Add("$n", SqliteType.Integer);
                foreach (var reason in batch.Rejections.GroupBy(r => r.Reason))
                {
                    pReason.Value = reason.Key;
                    pCount.Value = reason.Count();
                    count.ExecuteNonQuery();
                }
            }
            InsertEvents(transaction, batch.Events);
            transaction.Commit();
            return Task.FromResult(new LedgerCommit(positions, submissionLog, revocationLog, firstLogIndex, entries)
            {
                Conflicts = conflicts, StatementLogIndexes = statementLog, StatementConflicts = statementConflicts,
            });
        }
    }

    /// <summary>
    /// Writes the batch's PPK statements with the forms they name and their log entries (0x03 ‖ wire, stored whole). One the
    /// ledger holds already — the same bytes, or the station's sequence number taken — is not written: -1 and a conflict.
    /// </summary>
    private (long[] LogIndexes, HashSet<int> Conflicts) InsertStatements(
        IReadOnlyList<StatementRecord> statements, SqliteTransaction transaction, ref long nextLog, List<byte[]> entries)
    {
        var logIndexes = new long[statements.Count];
        var conflicts = new HashSet<int>();
        if (statements.Count == 0) return (logIndexes, conflicts);
        using var held = _writer.CreateCommand();
        held.Transaction = transaction;
        held.CommandText = "SELECT EXISTS (SELECT 1 FROM ppk_statements WHERE hash = @hash OR (station = @station AND sequence = @sequence))";
        var hHash = held.Parameters.Add("@hash", SqliteType.Blob);
        var hStation = held.Parameters.Add("@station", SqliteType.Text);
        var hSequence = held.Parameters.Add("@sequence", SqliteType.Integer);
        using var insert = _writer.CreateCommand();
        insert.Transaction = transaction;
        insert.CommandText = """
            INSERT INTO ppk_statements (hash, station, sequence, kind, kecamatan, received_at, prev_hash, station_time, wire, log_index, finding)
            VALUES (@hash, @station, @sequence, @kind, @kecamatan, @received, @prev, @time, @wire, @log_index, @finding);
            INSERT INTO log_entries (log_index, type, position, content) VALUES (@log_index, @type, NULL, @content);
            """;
        using var form = _writer.CreateCommand();
        form.Transaction = transaction;
        form.CommandText = "INSERT INTO ppk_statement_forms (statement_hash, tps, contest, form_hash, kind) VALUES (@hash, @tps, @contest, @form_hash, @kind)";
        var seen = new HashSet<(string, ulong)>();
        var seenHashes = new HashSet<Sha256Hash>();
        for (int i = 0; i < statements.Count; i++)
        {
            var (signed, receivedAt, finding) = statements[i];
            var s = signed.Statement;
            hHash.Value = signed.Hash.ToArray();
            hStation.Value = s.StationId;
            hSequence.Value = (long)s.Sequence;
            if (!seen.Add((s.StationId, s.Sequence)) | !seenHashes.Add(signed.Hash) || (long)held.ExecuteScalar()! != 0)
            {
                logIndexes[i] = -1;
                conflicts.Add(i);
                continue;
            }
            logIndexes[i] = nextLog++;
            var entry = LogEntry.EncodeStatement(signed.Wire);
            insert.Parameters.Clear();
            insert.Parameters.AddWithValue("@hash", signed.Hash.ToArray());
            insert.Parameters.AddWithValue("@station", s.StationId);
            insert.Parameters.AddWithValue("@sequence", (long)s.Sequence);
            insert.Parameters.AddWithValue("@kind", (int)s.Kind);
            insert.Parameters.AddWithValue("@kecamatan", s.Kecamatan.Value);
            insert.Parameters.AddWithValue("@received", receivedAt.ToUnixTimeMilliseconds());
            insert.Parameters.AddWithValue("@prev", s.PreviousHash.ToArray());
            insert.Parameters.AddWithValue("@time", s.StationTime.ToUnixTimeMilliseconds());
            insert.Parameters.AddWithValue("@wire", signed.Wire);
            insert.Parameters.AddWithValue("@log_index", logIndexes[i]);
            insert.Parameters.AddWithValue("@finding", (object?)finding ?? DBNull.Value);
            insert.Parameters.AddWithValue("@type", (int)LogEntryType.PpkStatement);
            insert.Parameters.AddWithValue("@content", entry);
            insert.ExecuteNonQuery();
            foreach (var (tps, contest, formHash) in PpkSql.FormRows(signed))
            {
                form.Parameters.Clear();
                form.Parameters.AddWithValue("@hash", signed.Hash.ToArray());
                form.Parameters.AddWithValue("@tps", tps);
                form.Parameters.AddWithValue("@contest", contest);
                form.Parameters.AddWithValue("@form_hash", formHash);
                form.Parameters.AddWithValue("@kind", (int)s.Kind);
                form.ExecuteNonQuery();
            }
            entries.Add(entry);
        }
        return (logIndexes, conflicts);
    }

    public Task<IReadOnlyList<StationLink>> StationLinksAsync(string station, CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyList<StationLink>>(Rows(PpkSql.Links, r => new StationLink(ReadLink(r, 0), r.GetInt64(4)), ("@station", station)));

    public Task<StoredStatement?> FindStatementAsync(Sha256Hash hash, CancellationToken cancellationToken = default) =>
        Task.FromResult(Rows(PpkSql.Find, ReadStatement, ("@hash", hash.ToArray())).FirstOrDefault());

    public Task<IReadOnlyList<StoredStatement>> StatementsForKecamatanAsync(RegionCode kecamatan, CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyList<StoredStatement>>(Rows(PpkSql.ForKecamatan, ReadStatement, ("@kecamatan", kecamatan.Value)));

    public Task<IReadOnlyList<StoredStatement>> StatementsForTpsAsync(TpsCode tps, CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyList<StoredStatement>>(Rows(PpkSql.ForTps, ReadStatement, ("@tps", tps.Value)));

    public Task<IReadOnlyList<StoredStatement>> CorrectionsForDesaAsync(RegionCode desa, CancellationToken cancellationToken = default)
    {
        var (from, to) = PpkSql.DesaRange(desa);
        return Task.FromResult<IReadOnlyList<StoredStatement>>(Rows(PpkSql.CorrectionsForDesa, ReadStatement,
            ("@from", from), ("@to", to), ("@kind", (int)KpuEdge.Crypto.Ppk.PpkStatementKind.Correction)));
    }

    private static StoredStatement ReadStatement(SqliteDataReader r) => new(
        Sha256Hash.FromBytes((byte[])r[0]), r.GetString(1), (ulong)r.GetInt64(2), (KpuEdge.Crypto.Ppk.PpkStatementKind)r.GetInt32(3),
        RegionCode.Parse(r.GetString(4)), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(5)), (byte[])r[6], r.GetInt64(7),
        r.IsDBNull(8) ? null : r.GetString(8));

    /// <summary>The log index of the revocation of this certificate serial, if the ledger holds it.</summary>
    private long? LoggedRevocation(string serialHex, SqliteTransaction transaction)
    {
        using var command = _writer.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT log_index FROM revocations WHERE serial = $serial";
        command.Parameters.AddWithValue("$serial", serialHex);
        return command.ExecuteScalar() is long index ? index : null;
    }

    /// <summary>Accepted forms the ledger already holds (same hash, or same device and sequence), or that repeat one earlier in the batch.</summary>
    private HashSet<int> FindConflicts(IReadOnlyList<(SignedSubmission Submission, DateTimeOffset ReceivedAt)> accepted, SqliteTransaction transaction)
    {
        var conflicts = new HashSet<int>();
        if (accepted.Count == 0) return conflicts;
        using var command = _writer.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT EXISTS (SELECT 1 FROM submissions WHERE hash = $hash OR (device_id = $device AND sequence = $sequence))";
        var pHash = command.Parameters.Add("$hash", SqliteType.Blob);
        var pDevice = command.Parameters.Add("$device", SqliteType.Text);
        var pSequence = command.Parameters.Add("$sequence", SqliteType.Integer);
        var seen = new HashSet<(string, ulong)>();
        var seenHashes = new HashSet<Sha256Hash>();
        for (int i = 0; i < accepted.Count; i++)
        {
            var s = accepted[i].Submission;
            pHash.Value = s.Hash.ToArray();
            pDevice.Value = s.Submission.DeviceId;
            pSequence.Value = (long)s.Submission.Sequence;
            if (!seen.Add((s.Submission.DeviceId, s.Submission.Sequence)) | !seenHashes.Add(s.Hash) || (long)command.ExecuteScalar()! != 0)
                conflicts.Add(i);
        }
        return conflicts;
    }

    public Task<IReadOnlyList<SecurityEvent>> AppendEventsAsync(IReadOnlyList<SecurityEvent> events, CancellationToken cancellationToken = default)
    {
        if (events.Count == 0) return Task.FromResult(events);
        lock (_writeLock)
        {
            using var transaction = _writer.BeginTransaction();
            IReadOnlyList<SecurityEvent> recorded = InsertEvents(transaction, events);
            transaction.Commit();
            return Task.FromResult(recorded);
        }
    }

    private List<SecurityEvent> InsertEvents(SqliteTransaction transaction, IReadOnlyList<SecurityEvent> events)
    {
        var recorded = new List<SecurityEvent>(events.Count);
        if (events.Count == 0) return recorded;
        using var insert = _writer.CreateCommand();
        insert.Transaction = transaction;
        insert.CommandText = "INSERT INTO security_events (ts, kind, device_id, json) VALUES ($ts, $kind, $device, '') RETURNING id";
        var pTs = insert.Parameters.Add("$ts", SqliteType.Integer);
        var pKind = insert.Parameters.Add("$kind", SqliteType.Text);
        var pDevice = insert.Parameters.Add("$device", SqliteType.Text);
        using var update = _writer.CreateCommand();
        update.Transaction = transaction;
        update.CommandText = "UPDATE security_events SET json = $json WHERE id = $id";
        var pJson = update.Parameters.Add("$json", SqliteType.Text);
        var pId = update.Parameters.Add("$id", SqliteType.Integer);
        foreach (var e in events)
        {
            pTs.Value = e.Ts.ToUnixTimeMilliseconds();
            pKind.Value = e.Kind;
            pDevice.Value = (object?)e.DeviceId ?? DBNull.Value;
            long id = (long)insert.ExecuteScalar()!;
            var withId = e with { Id = id };
            pJson.Value = withId.ToJson();
            pId.Value = id;
            update.ExecuteNonQuery();
            recorded.Add(withId);
        }
        return recorded;
    }

    public Task<LedgerEntry?> FindByHashAsync(Sha256Hash hash, CancellationToken cancellationToken = default)
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = $"{SelectEntry} WHERE hash = $hash";
        command.Parameters.AddWithValue("$hash", hash.ToArray());
        using var reader = command.ExecuteReader();
        return Task.FromResult(reader.Read() ? ReadEntry(reader) : null);
    }

    public Task<LedgerEntry?> FindByPositionAsync(long position, CancellationToken cancellationToken = default)
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = $"{SelectEntry} WHERE position = $position";
        command.Parameters.AddWithValue("$position", position);
        using var reader = command.ExecuteReader();
        return Task.FromResult(reader.Read() ? ReadEntry(reader) : null);
    }

#pragma warning disable CS1998 // SQLite reads synchronously; the interface is async for PostgreSQL.
    public async IAsyncEnumerable<LedgerEntry> ReadAllAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = $"{SelectEntry} ORDER BY position";
        using var reader = command.ExecuteReader();
        while (reader.Read()) yield return ReadEntry(reader);
    }

#pragma warning restore CS1998

    public Task<IReadOnlyList<LedgerEntry>> ForTpsAsync(TpsCode tps, CancellationToken cancellationToken = default)
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = $"{SelectEntry} WHERE tps = $tps ORDER BY position";
        command.Parameters.AddWithValue("$tps", tps.Value);
        using var reader = command.ExecuteReader();
        var entries = new List<LedgerEntry>();
        while (reader.Read()) entries.Add(ReadEntry(reader));
        return Task.FromResult<IReadOnlyList<LedgerEntry>>(entries);
    }

    public Task<long> VersionCountAsync(TpsCode tps, ContestId contest, CancellationToken cancellationToken = default)
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM submissions WHERE tps = $tps AND contest = $contest";
        command.Parameters.AddWithValue("$tps", tps.Value);
        command.Parameters.AddWithValue("$contest", (int)contest);
        return Task.FromResult((long)command.ExecuteScalar()!);
    }

    public Task<IReadOnlyList<LedgerEntry>> NewestVersionsAsync(TpsCode tps, ContestId contest, int count, CancellationToken cancellationToken = default)
    {
        var newestFirst = ReadVersions("ORDER BY sequence DESC, position DESC LIMIT $limit", tps, contest, count);
        newestFirst.Reverse();
        return Task.FromResult<IReadOnlyList<LedgerEntry>>(newestFirst);
    }

    public Task<IReadOnlyList<LedgerEntry>> VersionsAfterAsync(TpsCode tps, ContestId contest, FormVersion? after, int limit, CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyList<LedgerEntry>>(after is { } cursor
        ? ReadVersions("AND (sequence, position) > ($sequence, $position) ORDER BY sequence, position LIMIT $limit", tps, contest, limit,
            ("$sequence", (long)cursor.Sequence), ("$position", cursor.Position))
        : ReadVersions("ORDER BY sequence, position LIMIT $limit", tps, contest, limit));

    private List<LedgerEntry> ReadVersions(string rest, TpsCode tps, ContestId contest, int limit, params (string Name, object Value)[] values)
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = $"{SelectEntry} WHERE tps = $tps AND contest = $contest {rest}";
        command.Parameters.AddWithValue("$tps", tps.Value);
        command.Parameters.AddWithValue("$contest", (int)contest);
        command.Parameters.AddWithValue("$limit", limit);
        foreach (var (name, value) in values) command.Parameters.AddWithValue(name, value);
        using var reader = command.ExecuteReader();
        var entries = new List<LedgerEntry>();
        while (reader.Read()) entries.Add(ReadEntry(reader));
        return entries;
    }

    public Task<IReadOnlyList<DeviceLink>> DeviceLinksAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT sequence, hash, prev_hash, device_time, tps, contest, position, log_index FROM submissions
            WHERE device_id = $device ORDER BY sequence
            """;
        command.Parameters.AddWithValue("$device", deviceId);
        using var reader = command.ExecuteReader();
        var links = new List<DeviceLink>();
        while (reader.Read())
            links.Add(new DeviceLink(ReadLink(reader, 0), TpsCode.Parse(reader.GetString(4)), (ContestId)reader.GetInt32(5), reader.GetInt64(6), reader.GetInt64(7)));
        return Task.FromResult<IReadOnlyList<DeviceLink>>(links);
    }

    public Task<ChainChanges> ChainsChangedAfterAsync(long afterPosition, CancellationToken cancellationToken = default)
    {
        using var connection = OpenReader();
        long through = Scalar(connection, "SELECT COALESCE(MAX(position), 0) FROM submissions");
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT device_id, MAX(tps), MAX(sequence), MAX(received_at), COUNT(*) FROM submissions
            WHERE device_id IN (SELECT device_id FROM submissions WHERE position > $after AND position <= $through)
            GROUP BY device_id
            """;
        command.Parameters.AddWithValue("$after", afterPosition);
        command.Parameters.AddWithValue("$through", through);
        var changed = new List<ChainChanges.Summary>();
        using (var reader = command.ExecuteReader())
            while (reader.Read())
                changed.Add(new ChainChanges.Summary(reader.GetString(0), reader.GetString(1), (ulong)reader.GetInt64(2), reader.GetInt64(4),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3))));
        return ChainChanges.FromAsync(through, changed, device => DeviceLinksAsync(device, cancellationToken));
    }

    public Task<DeviceRegistration> RegisterDevicesAsync(IReadOnlyList<DeviceRecord> devices, CancellationToken cancellationToken = default)
    {
        var (offered, conflicts) = DeviceBatch.Distinct(devices);
        int added = 0, held = 0;
        lock (_writeLock)
        {
            using var transaction = _writer.BeginTransaction();
            using var find = _writer.CreateCommand();
            find.Transaction = transaction;
            find.CommandText = "SELECT serial, certificate FROM devices WHERE device_id = $device";
            var pFind = find.Parameters.Add("$device", SqliteType.Text);
            using var insert = _writer.CreateCommand();
            insert.Transaction = transaction;
            insert.CommandText = "INSERT INTO devices (device_id, tps, serial, certificate) VALUES ($device, $tps, $serial, $certificate)";
            var pDevice = insert.Parameters.Add("$device", SqliteType.Text);
            var pTps = insert.Parameters.Add("$tps", SqliteType.Text);
            var pSerial = insert.Parameters.Add("$serial", SqliteType.Text);
            var pCertificate = insert.Parameters.Add("$certificate", SqliteType.Blob);
            foreach (var (device, certificate) in offered)
            {
                pFind.Value = device.DeviceId;
                using (var reader = find.ExecuteReader())
                {
                    if (reader.Read())
                    {
                        if (((byte[])reader[1]).AsSpan().SequenceEqual(certificate.Der)) held++;
                        else conflicts.Add(new DeviceConflict(device.DeviceId, reader.GetString(0), certificate.SerialHex));
                        continue;
                    }
                }
                pDevice.Value = device.DeviceId;
                pTps.Value = device.Tps.Value;
                pSerial.Value = certificate.SerialHex;
                pCertificate.Value = certificate.Der;
                insert.ExecuteNonQuery();
                added++;
            }
            transaction.Commit();
        }
        return Task.FromResult(new DeviceRegistration(added, held, conflicts));
    }

    public Task<IReadOnlyList<DeviceRecord>> FindDevicesAsync(IReadOnlyCollection<string> deviceIds, CancellationToken cancellationToken = default) =>
        Task.FromResult(ReadDevices("SELECT certificate FROM devices WHERE device_id = $key", deviceIds));

    public Task<IReadOnlyList<DeviceRecord>> DevicesWithCertificatesAsync(IReadOnlyCollection<string> serialHexes, CancellationToken cancellationToken = default) =>
        Task.FromResult(ReadDevices("SELECT certificate FROM devices WHERE serial = $key", serialHexes));

    /// <summary>One indexed lookup per key (SQLite answers in process: no round trip to save).</summary>
    private IReadOnlyList<DeviceRecord> ReadDevices(string sql, IReadOnlyCollection<string> keys)
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        var pKey = command.Parameters.Add("$key", SqliteType.Text);
        var devices = new List<DeviceRecord>();
        foreach (var key in keys.Distinct(StringComparer.Ordinal))
        {
            pKey.Value = key;
            using var reader = command.ExecuteReader();
            while (reader.Read()) devices.Add(DeviceBatch.Read((byte[])reader[0]));
        }
        return devices;
    }

    public Task<long> DeviceCountAsync(CancellationToken cancellationToken = default)
    {
        using var connection = OpenReader();
        return Task.FromResult(Scalar(connection, "SELECT COUNT(*) FROM devices"));
    }

    public Task<bool> SaveCrlAsync(StoredCrl crl, CancellationToken cancellationToken = default)
    {
        lock (_writeLock)
        {
            using var command = _writer.CreateCommand();
            command.CommandText = StoredCrl.UpsertSql;
            command.Parameters.AddWithValue("@issuer", crl.Version.Issuer);
            command.Parameters.AddWithValue("@number", crl.Version.Number);
            command.Parameters.AddWithValue("@this_update", crl.Version.ThisUpdate.ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("@der", crl.Der);
            return Task.FromResult(command.ExecuteNonQuery() > 0);
        }
    }

    public Task<IReadOnlyList<CrlVersion>> CrlVersionsAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyList<CrlVersion>>(Rows("SELECT issuer, number, this_update FROM crls ORDER BY issuer", ReadCrlVersion));

    public Task<StoredCrl?> CrlAsync(string issuer, CancellationToken cancellationToken = default) =>
        Task.FromResult(Rows("SELECT issuer, number, this_update, der FROM crls WHERE issuer = $issuer", r => new StoredCrl(ReadCrlVersion(r), (byte[])r[3]),
            ("$issuer", issuer)).FirstOrDefault());

    private static CrlVersion ReadCrlVersion(SqliteDataReader r) => new(r.GetString(0), r.GetInt64(1), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(2)));

    private List<T> Rows<T>(string sql, Func<SqliteDataReader, T> row, params (string Name, object Value)[] values)
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in values) command.Parameters.AddWithValue(name, value);
        using var reader = command.ExecuteReader();
        var rows = new List<T>();
        while (reader.Read()) rows.Add(row(reader));
        return rows;
    }

#pragma warning disable CS1998
    public async IAsyncEnumerable<byte[]> ReadLogAsync(long start, long end, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT l.log_index, l.type, COALESCE(l.content, s.wire) FROM log_entries l
            LEFT JOIN submissions s ON s.position = l.position
            WHERE l.log_index >= $start AND l.log_index < $end ORDER BY l.log_index
            """;
        command.Parameters.AddWithValue("$start", start);
        command.Parameters.AddWithValue("$end", end);
        using var reader = command.ExecuteReader();
        long expected = start;
        while (reader.Read())
        {
            long index = reader.GetInt64(0);
            if (index != expected) throw new InvalidDataException($"The stored log misses entry {expected}.");
            expected++;
            var content = reader.IsDBNull(2) ? [] : (byte[])reader[2];
            // A submission's entry is rebuilt from its wire bytes; other entries are stored whole.
            yield return reader.GetInt32(1) == (int)LogEntryType.Submission ? LogEntry.EncodeSubmission(content) : content;
        }
    }

#pragma warning restore CS1998

    public Task SaveCheckpointAsync(StoredCheckpoint checkpoint, CancellationToken cancellationToken = default)
    {
        lock (_writeLock)
        {
            using var command = _writer.CreateCommand();
            command.CommandText = "INSERT OR IGNORE INTO checkpoints (size, root, note, signed_at) VALUES ($size, $root, $note, $at)";
            command.Parameters.AddWithValue("$size", checkpoint.Size);
            command.Parameters.AddWithValue("$root", checkpoint.Root);
            command.Parameters.AddWithValue("$note", checkpoint.Note);
            command.Parameters.AddWithValue("$at", checkpoint.SignedAt.ToUnixTimeMilliseconds());
            command.ExecuteNonQuery();
        }
        return Task.CompletedTask;
    }

    public Task<StoredCheckpoint?> LatestCheckpointAsync(CancellationToken cancellationToken = default)
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT size, root, note, signed_at FROM checkpoints ORDER BY size DESC LIMIT 1";
        using var reader = command.ExecuteReader();
        return Task.FromResult(reader.Read()
            ? new StoredCheckpoint(reader.GetInt64(0), (byte[])reader[1], reader.GetString(2), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3)))
            : null);
    }

    public Task<IReadOnlyList<RevocationRecord>> RevocationsAsync(CancellationToken cancellationToken = default)
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT device_id, serial, revoked_at, reason, recorded_at, log_index FROM revocations ORDER BY log_index";
        using var reader = command.ExecuteReader();
        var records = new List<RevocationRecord>();
        while (reader.Read())
            records.Add(new RevocationRecord(reader.GetString(0), reader.GetString(1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)),
                reader.GetString(3), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4))) { LogIndex = reader.GetInt64(5) });
        return Task.FromResult<IReadOnlyList<RevocationRecord>>(records);
    }

    public Task<IReadOnlyList<SecurityEvent>> SecurityEventsAsync(long afterId, int limit, CancellationToken cancellationToken = default)
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT json FROM security_events WHERE id > $after ORDER BY id LIMIT $limit";
        command.Parameters.AddWithValue("$after", afterId);
        command.Parameters.AddWithValue("$limit", limit);
        using var reader = command.ExecuteReader();
        var events = new List<SecurityEvent>();
        while (reader.Read()) events.Add(SecurityEvent.FromJson(reader.GetString(0)));
        return Task.FromResult<IReadOnlyList<SecurityEvent>>(events);
    }

    public Task<IReadOnlyDictionary<string, long>> RejectionCountsAsync(CancellationToken cancellationToken = default)
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT reason, count FROM rejection_counts ORDER BY reason";
        using var reader = command.ExecuteReader();
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        while (reader.Read()) counts[reader.GetString(0)] = reader.GetInt64(1);
        return Task.FromResult<IReadOnlyDictionary<string, long>>(counts);
    }

    public Task<IReadOnlyList<TpsCode>> ReportingTpsAsync(CancellationToken cancellationToken = default)
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT DISTINCT tps FROM submissions ORDER BY tps";
        using var reader = command.ExecuteReader();
        var codes = new List<TpsCode>();
        while (reader.Read()) codes.Add(TpsCode.Parse(reader.GetString(0)));
        return Task.FromResult<IReadOnlyList<TpsCode>>(codes);
    }

    public Task<IReadOnlyList<LedgerEntry>> ForDesaAsync(RegionCode desa, CancellationToken cancellationToken = default)
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        // A range on the (tps, …) index: every code with this prefix sorts between it and the prefix followed by ':' ('9' + 1).
        command.CommandText = $"{SelectEntry} WHERE tps >= $from AND tps < $to ORDER BY position";
        command.Parameters.AddWithValue("$from", desa.Value);
        command.Parameters.AddWithValue("$to", desa.Value + ":");
        using var reader = command.ExecuteReader();
        var entries = new List<LedgerEntry>();
        while (reader.Read()) entries.Add(ReadEntry(reader));
        return Task.FromResult<IReadOnlyList<LedgerEntry>>(entries);
    }

    public Task<IReadOnlyList<RegionCode>> ReportingChildrenAsync(RegionCode region, CancellationToken cancellationToken = default)
    {
        int length = RegionCode.CodeLength(region.Level + 1);
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT DISTINCT substr(tps, 1, $length) FROM submissions WHERE tps >= $from AND tps < $to";
        command.Parameters.AddWithValue("$length", length);
        command.Parameters.AddWithValue("$from", region.IsNasional ? "" : region.Value);
        command.Parameters.AddWithValue("$to", region.IsNasional ? ":" : region.Value + ":");
        using var reader = command.ExecuteReader();
        var codes = new List<RegionCode>();
        while (reader.Read()) codes.Add(RegionCode.Parse(reader.GetString(0)));
        return Task.FromResult<IReadOnlyList<RegionCode>>(codes);
    }

    public Task<IReadOnlyList<string>> ImageSignersAsync(TpsCode tps, ContestId contest, Sha256Hash imageHash, CancellationToken cancellationToken = default)
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT DISTINCT device_id FROM submissions WHERE tps = $tps AND contest = $contest AND image_hash = $image";
        command.Parameters.AddWithValue("$tps", tps.Value);
        command.Parameters.AddWithValue("$contest", (int)contest);
        command.Parameters.AddWithValue("$image", imageHash.ToArray());
        using var reader = command.ExecuteReader();
        var devices = new List<string>();
        while (reader.Read()) devices.Add(reader.GetString(0));
        return Task.FromResult<IReadOnlyList<string>>(devices);
    }

    public Task RecordImagePageAsync(StoredImagePage page, CancellationToken cancellationToken = default)
    {
        lock (_writeLock)
        {
            using var command = _writer.CreateCommand();
            command.CommandText = """
                INSERT OR IGNORE INTO images (image_hash, page, pages, page_hash, tps, contest, size, path, stored_at)
                VALUES ($image, $page, $pages, $page_hash, $tps, $contest, $size, $path, $stored_at)
                """;
            command.Parameters.AddWithValue("$image", page.ImageHash.ToArray());
            command.Parameters.AddWithValue("$page", page.Page);
            command.Parameters.AddWithValue("$pages", page.Pages);
            command.Parameters.AddWithValue("$page_hash", page.PageHash.ToArray());
            command.Parameters.AddWithValue("$tps", page.Tps.Value);
            command.Parameters.AddWithValue("$contest", (int)page.Contest);
            command.Parameters.AddWithValue("$size", page.Size);
            command.Parameters.AddWithValue("$path", page.Path);
            command.Parameters.AddWithValue("$stored_at", page.StoredAt.ToUnixTimeMilliseconds());
            command.ExecuteNonQuery();
        }
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<StoredImagePage>> ImagePagesAsync(Sha256Hash imageHash, CancellationToken cancellationToken = default) =>
        Task.FromResult(ReadImages("WHERE image_hash = $image ORDER BY page", ("$image", imageHash.ToArray())));

    public Task<IReadOnlyList<StoredImagePage>> ImagesForTpsAsync(TpsCode tps, CancellationToken cancellationToken = default) =>
        Task.FromResult(ReadImages("WHERE tps = $tps ORDER BY contest, stored_at, image_hash, page", ("$tps", tps.Value)));

    public Task<IReadOnlyList<StoredImagePage>> ImagesForDesaAsync(RegionCode desa, CancellationToken cancellationToken = default) =>
        Task.FromResult(ReadImages("WHERE tps >= $from AND tps < $to ORDER BY tps, contest, stored_at, image_hash, page",
            ("$from", desa.Value), ("$to", desa.Value + ":")));

    public Task<IReadOnlyList<(TpsCode Tps, ContestId Contest)>> FormsWithImagesStoredSinceAsync(DateTimeOffset since, CancellationToken cancellationToken = default)
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT DISTINCT tps, contest FROM images WHERE stored_at >= $since";
        command.Parameters.AddWithValue("$since", since.ToUnixTimeMilliseconds());
        using var r = command.ExecuteReader();
        var found = new List<(TpsCode, ContestId)>();
        while (r.Read()) found.Add((TpsCode.Parse(r.GetString(0)), (ContestId)r.GetInt32(1)));
        return Task.FromResult<IReadOnlyList<(TpsCode, ContestId)>>(found);
    }

    private IReadOnlyList<StoredImagePage> ReadImages(string where, params (string Name, object Value)[] values)
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT image_hash, page, pages, page_hash, tps, contest, size, path, stored_at FROM images {where}";
        foreach (var (name, value) in values) command.Parameters.AddWithValue(name, value);
        using var r = command.ExecuteReader();
        var pages = new List<StoredImagePage>();
        while (r.Read())
            pages.Add(new StoredImagePage(Sha256Hash.FromBytes((byte[])r[0]), r.GetInt32(1), r.GetInt32(2), Sha256Hash.FromBytes((byte[])r[3]),
                TpsCode.Parse(r.GetString(4)), (ContestId)r.GetInt32(5), r.GetInt32(6), r.GetString(7), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(8))));
        return pages;
    }

    public ValueTask DisposeAsync()
    {
        _writer.Dispose();
        SqliteConnection.ClearAllPools();
        return ValueTask.CompletedTask;
    }

    private const string SelectEntry = "SELECT position, hash, device_id, sequence, tps, contest, received_at, wire, log_index FROM submissions";

    private static LedgerEntry ReadEntry(SqliteDataReader r) => new(
        r.GetInt64(0), Sha256Hash.FromBytes((byte[])r[1]), r.GetString(2), (ulong)r.GetInt64(3), TpsCode.Parse(r.GetString(4)),
        (ContestId)r.GetInt32(5), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(6)), (byte[])r[7], r.GetInt64(8));

    private static ChainLink ReadLink(SqliteDataReader r, int first) => new(
        (ulong)r.GetInt64(first), Sha256Hash.FromBytes((byte[])r[first + 1]), Sha256Hash.FromBytes((byte[])r[first + 2]),
        DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(first + 3)));

    private SqliteConnection OpenReader()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        return connection;
    }

    /// <summary>Format 1 (before the transparency log) lacks the log and chain columns: refuse it clearly rather than half-work.</summary>
    private void CheckFormat()
    {
        long version = Scalar("PRAGMA user_version");
        bool hasSubmissions = Scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'submissions'") > 0;
        if (hasSubmissions && version < 2)
            throw new InvalidDataException(
                $"{_writer.DataSource} is a ledger of an older format (no transparency log); start on a new ledger file.");
    }

    /// <summary>
    /// Format 2 → 3: submissions gain their image hash (read back from the signed bytes), so that images can be matched
    /// to the form that names them; the images table is created above.
    /// </summary>
    private void Upgrade()
    {
        if (Scalar("PRAGMA user_version") >= 3) return;
        if (Scalar("SELECT COUNT(*) FROM pragma_table_info('submissions') WHERE name = 'image_hash'") == 0)
            Execute(_writer, "ALTER TABLE submissions ADD COLUMN image_hash BLOB");
        using var transaction = _writer.BeginTransaction();
        var rows = new List<(long Position, byte[] Wire)>();
        using (var select = _writer.CreateCommand())
        {
            select.Transaction = transaction;
            select.CommandText = "SELECT position, wire FROM submissions WHERE image_hash IS NULL";
            using var r = select.ExecuteReader();
            while (r.Read()) rows.Add((r.GetInt64(0), (byte[])r[1]));
        }
        using var update = _writer.CreateCommand();
        update.Transaction = transaction;
        update.CommandText = "UPDATE submissions SET image_hash = $image WHERE position = $position";
        var pImage = update.Parameters.Add("$image", SqliteType.Blob);
        var pPosition = update.Parameters.Add("$position", SqliteType.Integer);
        foreach (var (position, wire) in rows)
        {
            var image = SignedSubmission.Decode(wire).Submission.ImageHash;
            if (image.IsEmpty) continue;
            pImage.Value = image.ToArray();
            pPosition.Value = position;
            update.ExecuteNonQuery();
        }
        using (var version = _writer.CreateCommand())
        {
            version.Transaction = transaction;
            version.CommandText = "PRAGMA user_version = 3";
            version.ExecuteNonQuery();
        }
        transaction.Commit();
    }

    private long Scalar(string sql) => Scalar(_writer, sql);

    private static long Scalar(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return (long)command.ExecuteScalar()!;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
