using System.Runtime.CompilerServices;
using KpuEdge.Cloud.Ingest;
using KpuEdge.Cloud.Recap;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Security;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Transparency;
using Npgsql;
using NpgsqlTypes;

namespace KpuEdge.Cloud.Ledger;

/// <summary>
/// The ledger in PostgreSQL, shared by every node of a cluster. An append locks the one row of <c>ledger_head</c> (the
/// next position and log index) for its transaction, so appends from all nodes are serialized there: positions and
/// log indexes are gapless and in commit order, and a node's tree can follow the log by reading what lies between its
/// commits. A batch is two round trips whatever its size — the locks and lookups, then every write as arrays unnested
/// server-side — so the lock is held for those and the commit. <c>UNIQUE (device_id, sequence)</c> and <c>UNIQUE (hash)</c> make a fork or a
/// second copy impossible to write whoever decided it; such a form is reported as a conflict, not written.
/// Commits are durable (fsync and synchronous_commit on, checked at open): nothing is acknowledged that a crash could lose.
/// </summary>
public sealed class PostgresLedger : IResultsLedger
{
    private readonly NpgsqlDataSource _data;

    private PostgresLedger(NpgsqlDataSource data) => _data = data;

    /// <summary>
    /// Connects, refuses a server or database that would acknowledge commits a crash could lose, and creates the schema
    /// if missing (nodes starting together take turns on an advisory lock).
    /// </summary>
    /// <exception cref="InvalidOperationException"><c>fsync</c> or <c>synchronous_commit</c> is off for this database.</exception>
    public static PostgresLedger Open(string connectionString)
    {
        var data = NpgsqlDataSource.Create(connectionString);
        try
        {
            using var connection = data.OpenConnection();
            CheckDurable(connection);
            using var transaction = connection.BeginTransaction();
            foreach (var sql in new[] { "SELECT pg_advisory_xact_lock(7315420240214)", Schema })
            {
                using var command = new NpgsqlCommand(sql, connection, transaction);
                command.ExecuteNonQuery();
            }
            transaction.Commit();
            return new PostgresLedger(data);
        }
        catch
        {
            data.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Every level of synchronous_commit but <c>off</c> flushes the commit locally before answering; <c>off</c> (or fsync
    /// off) would let a crash lose forms whose receipts were sent.
    /// </summary>
    private static void CheckDurable(NpgsqlConnection connection)
    {
        using var command = new NpgsqlCommand("SELECT current_setting('fsync'), current_setting('synchronous_commit')", connection);
        using var reader = command.ExecuteReader();
        reader.Read();
        var (fsync, synchronousCommit) = (reader.GetString(0), reader.GetString(1));
        if (fsync == "off" || synchronousCommit == "off")
            throw new InvalidOperationException(
                $"PostgreSQL database '{connection.Database}' has fsync={fsync}, synchronous_commit={synchronousCommit}: a crash could lose " +
                "acknowledged forms. The ledger needs both on (ALTER DATABASE … RESET synchronous_commit, or the server's configuration).");
    }

    private const string Schema = """
        CREATE TABLE IF NOT EXISTS ledger_head (
            id        integer PRIMARY KEY CHECK (id = 1),
            positions bigint  NOT NULL,
            log_size  bigint  NOT NULL
        );
        INSERT INTO ledger_head (id, positions, log_size) VALUES (1, 0, 0) ON CONFLICT (id) DO NOTHING;
        CREATE TABLE IF NOT EXISTS submissions (
            position    bigint  PRIMARY KEY,
            hash        bytea   NOT NULL UNIQUE,
            device_id   text    NOT NULL,
            sequence    bigint  NOT NULL,
            tps         text    NOT NULL,
            contest     integer NOT NULL,
            received_at bigint  NOT NULL,
            wire        bytea   NOT NULL,
            prev_hash   bytea   NOT NULL,
            device_time bigint  NOT NULL,
            log_index   bigint  NOT NULL,
            image_hash  bytea,
            UNIQUE (device_id, sequence)
        );
        CREATE INDEX IF NOT EXISTS submissions_tps_version ON submissions (tps, contest, sequence, position);
        CREATE INDEX IF NOT EXISTS submissions_image ON submissions (image_hash) WHERE image_hash IS NOT NULL;
        CREATE TABLE IF NOT EXISTS rejections (
            id           bigserial PRIMARY KEY,
            received_at  bigint  NOT NULL,
            topic        text    NOT NULL,
            device_id    text,
            reason       text    NOT NULL,
            detail       text    NOT NULL,
            payload_hash bytea   NOT NULL,
            size         integer NOT NULL
        );
        CREATE INDEX IF NOT EXISTS rejections_reason ON rejections (reason);
        CREATE TABLE IF NOT EXISTS log_entries (
            log_index bigint  PRIMARY KEY,
            type      integer NOT NULL,
            position  bigint,
            content   bytea
        );
        CREATE TABLE IF NOT EXISTS checkpoints (
            size      bigint PRIMARY KEY,
            root      bytea  NOT NULL,
            note      text   NOT NULL,
            signed_at bigint NOT NULL
        );
        CREATE TABLE IF NOT EXISTS revocations (
            serial      text   PRIMARY KEY,
            device_id   text   NOT NULL,
            revoked_at  bigint NOT NULL,
            reason      text   NOT NULL,
            recorded_at bigint NOT NULL,
            log_index   bigint NOT NULL
        );
        CREATE TABLE IF NOT EXISTS security_events (
            id        bigint PRIMARY KEY,
            ts        bigint NOT NULL,
            kind      text   NOT NULL,
            device_id text,
            json      text   NOT NULL
        );
        -- The last event id given out, its row locked by the transaction that takes ids: ids become visible in their
        -- order, so a reader paging by id (the NSOC wall) never passes one that a slower transaction commits later.
        CREATE TABLE IF NOT EXISTS security_event_head (
            id      integer PRIMARY KEY CHECK (id = 1),
            last_id bigint  NOT NULL
        );
        INSERT INTO security_event_head (id, last_id) SELECT 1, COALESCE(MAX(id), 0) FROM security_events ON CONFLICT (id) DO NOTHING;
        CREATE TABLE IF NOT EXISTS images (
            image_hash bytea   NOT NULL,
            page       integer NOT NULL,
            pages      integer NOT NULL,
            page_hash  bytea   NOT NULL,
            tps        text    NOT NULL,
            contest    integer NOT NULL,
            size       integer NOT NULL,
            path       text    NOT NULL,
            stored_at  bigint  NOT NULL,
            PRIMARY KEY (image_hash, page)
        );
        CREATE INDEX IF NOT EXISTS images_tps ON images (tps, contest);
        CREATE INDEX IF NOT EXISTS images_stored ON images (stored_at);
        -- Refusals by reason, counted in the transaction that writes them (under the head lock: no contention of their own).
        CREATE TABLE IF NOT EXISTS rejection_counts (
            reason text   PRIMARY KEY,
            count  bigint NOT NULL
        );
        INSERT INTO rejection_counts (reason, count)
            SELECT reason, COUNT(*) FROM rejections WHERE NOT EXISTS (SELECT 1 FROM rejection_counts) GROUP BY reason;
        -- The device registry every node reads: each device's signing certificate (DER), by id and by serial.
        CREATE TABLE IF NOT EXISTS devices (
            device_id   text  PRIMARY KEY,
            tps         text  NOT NULL,
            serial      text  NOT NULL,
            certificate bytea NOT NULL
        );
        CREATE INDEX IF NOT EXISTS devices_serial ON devices (serial);
        -- PPK stations' signed statements (verification, objection, correction, D.Hasil), each logged whole.
        CREATE TABLE IF NOT EXISTS ppk_statements (
            hash         bytea   PRIMARY KEY,
            station      text    NOT NULL,
            sequence     bigint  NOT NULL,
            kind         integer NOT NULL,
            kecamatan    text    NOT NULL,
            received_at  bigint  NOT NULL,
            prev_hash    bytea   NOT NULL,
            station_time bigint  NOT NULL,
            wire         bytea   NOT NULL,
            log_index    bigint  NOT NULL,
            finding      text,
            UNIQUE (station, sequence)
        );
        CREATE INDEX IF NOT EXISTS ppk_statements_kecamatan ON ppk_statements (kecamatan);
        -- The forms each statement names (a D.Hasil, one row per TPS): a TPS's page and a desa's recap find them by TPS.
        CREATE TABLE IF NOT EXISTS ppk_statement_forms (
            statement_hash bytea   NOT NULL,
            tps            text    NOT NULL,
            contest        integer NOT NULL,
            form_hash      bytea   NOT NULL,
            kind           integer NOT NULL
        );
        CREATE INDEX IF NOT EXISTS ppk_statement_forms_tps ON ppk_statement_forms (tps, kind);
        -- The newest installed revocation list of each issuing CA; nodes poll (issuer, number).
        CREATE TABLE IF NOT EXISTS crls (
            issuer      text   PRIMARY KEY,
            number      bigint NOT NULL,
            this_update bigint NOT NULL,
            der         bytea  NOT NULL
        );
        """;

    public async Task<LedgerCommit> AppendAsync(LedgerBatch batch, CancellationToken cancellationToken = default)
    {
        var accepted = batch.Accepted;
        var revocations = batch.Revocations;
        await using var connection = await _data.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        // Round trip 1: take the head — every node's appends queue here, for this transaction's length, so the order of
        // the log is the order of commits — then, seeing what the previous holder committed, look up what the ledger
        // holds already; and take the batch's event ids.
        long lastPosition, firstLogIndex;
        var conflicts = InBatchRepeats(accepted);
        var statementConflicts = StatementRepeats(batch.Statements);
        var logged = new Dictionary<string, long>(StringComparer.Ordinal);
        var eventIds = new List<long>(batch.Events.Count);
        await using (var lookup = new NpgsqlBatch(connection, transaction))
        {
            lookup.BatchCommands.Add(new NpgsqlBatchCommand("SELECT positions, log_size FROM ledger_head WHERE id = 1 FOR UPDATE"));
            if (accepted.Count > 0) lookup.BatchCommands.Add(HeldFormsCommand(accepted));
            if (revocations.Count > 0) lookup.BatchCommands.Add(LoggedRevocationsCommand(revocations));
            if (batch.Events.Count > 0) lookup.BatchCommands.Add(EventIdsCommand(batch.Events.Count));
            if (batch.Statements.Count > 0) lookup.BatchCommands.Add(HeldStatementsCommand(batch.Statements));
            await using var reader = await lookup.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken)) throw new InvalidDataException("The ledger has no head row.");
            (lastPosition, firstLogIndex) = (reader.GetInt64(0), reader.GetInt64(1));
            if (accepted.Count > 0)
            {
                await reader.NextResultAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken)) conflicts.Add((int)reader.GetInt64(0) - 1);
            }
            if (revocations.Count > 0)
            {
                await reader.NextResultAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken)) logged[reader.GetString(0)] = reader.GetInt64(1);
            }
            if (batch.Events.Count > 0)
            {
                await reader.NextResultAsync(cancellationToken);
                eventIds.AddRange(await ReadEventIdsAsync(reader, batch.Events.Count, cancellationToken));
            }
            if (batch.Statements.Count > 0)
            {
                await reader.NextResultAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken)) statementConflicts.Add((int)reader.GetInt64(0) - 1);
            }
        }

        var positions = new long[accepted.Count];
        var submissionLog = new long[accepted.Count];
        var revocationLog = new long[revocations.Count];
        var entries = new List<byte[]>(accepted.Count + revocations.Count);
        long next = lastPosition, nextLog = firstLogIndex;
        var rows = new List<int>(accepted.Count);
        for (int i = 0; i < accepted.Count; i++)
        {
            if (conflicts.Contains(i))
            {
                positions[i] = submissionLog[i] = -1;
                continue;
            }
            positions[i] = ++next;
            submissionLog[i] = nextLog++;
            entries.Add(LogEntry.EncodeSubmission(accepted[i].Submission.Wire));
            rows.Add(i);
        }
        // A revocation already logged (another node installed the same list meanwhile) keeps the index it has.
        var freshRevocations = new List<int>(revocations.Count);
        for (int i = 0; i < revocations.Count; i++)
        {
            if (logged.TryGetValue(revocations[i].SerialHex, out long index))
            {
                revocationLog[i] = index;
                continue;
            }
            revocationLog[i] = logged[revocations[i].SerialHex] = nextLog++;
            entries.Add(revocations[i].LogEntry);
            freshRevocations.Add(i);
        }

        var statementLog = new long[batch.Statements.Count];
        var freshStatements = new List<(StatementRecord Record, long LogIndex)>();
        for (int i = 0; i < batch.Statements.Count; i++)
        {
            if (statementConflicts.Contains(i))
            {
                statementLog[i] = -1;
                continue;
            }
            statementLog[i] = nextLog++;
            entries.Add(LogEntry.EncodeStatement(batch.Statements[i].Signed.Wire));
            freshStatements.Add((batch.Statements[i], statementLog[i]));
        }

        // Round trip 2: everything written, the head moved; then the commit.
        await using (var write = new NpgsqlBatch(connection, transaction))
        {
            if (rows.Count > 0) AddSubmissions(write, rows.Select(i => (accepted[i].Submission, accepted[i].ReceivedAt, positions[i], submissionLog[i])).ToList());
            if (freshRevocations.Count > 0) AddRevocations(write, freshRevocations.Select(i => (revocations[i], revocationLog[i])).ToList());
            if (freshStatements.Count > 0) AddStatements(write, freshStatements);
            if (batch.Rejections.Count > 0) AddRejections(write, batch.Rejections);
            var events = RecordedEvents(batch.Events, eventIds);
            if (events.Count > 0) AddEvents(write, events);
            var head = new NpgsqlBatchCommand("UPDATE ledger_head SET positions = @positions, log_size = @log_size WHERE id = 1");
            head.Parameters.AddWithValue("positions", next);
            head.Parameters.AddWithValue("log_size", nextLog);
            write.BatchCommands.Add(head);
            await write.ExecuteNonQueryAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return new LedgerCommit(positions, submissionLog, revocationLog, firstLogIndex, entries)
        {
            Conflicts = conflicts, StatementLogIndexes = statementLog, StatementConflicts = statementConflicts,
        };
    }

    /// <summary>Statements that repeat one earlier in the batch (same bytes, or same station and sequence).</summary>
    private static HashSet<int> StatementRepeats(IReadOnlyList<StatementRecord> statements)
    {
        var repeats = new HashSet<int>();
        var seen = new HashSet<(string, ulong)>();
        var seenHashes = new HashSet<Sha256Hash>();
        for (int i = 0; i < statements.Count; i++)
        {
            var s = statements[i].Signed;
            if (!seen.Add((s.Statement.StationId, s.Statement.Sequence)) | !seenHashes.Add(s.Hash)) repeats.Add(i);
        }
        return repeats;
    }

    /// <summary>The (1-based) ordinals of the statements the ledger already holds: the same bytes, or the same station and sequence.</summary>
    private static NpgsqlBatchCommand HeldStatementsCommand(IReadOnlyList<StatementRecord> statements)
    {
        var command = new NpgsqlBatchCommand("""
            SELECT t.i FROM unnest(@hash, @station, @sequence) WITH ORDINALITY AS t(hash, station, sequence, i)
            WHERE EXISTS (SELECT 1 FROM ppk_statements s WHERE s.hash = t.hash)
               OR EXISTS (SELECT 1 FROM ppk_statements s WHERE s.station = t.station AND s.sequence = t.sequence)
            """);
        command.Parameters.AddWithValue("hash", statements.Select(s => s.Signed.Hash.ToArray()).ToArray());
        command.Parameters.AddWithValue("station", statements.Select(s => s.Signed.Statement.StationId).ToArray());
        command.Parameters.AddWithValue("sequence", statements.Select(s => (long)s.Signed.Statement.Sequence).ToArray());
        return command;
    }

    private static void AddStatements(NpgsqlBatch batch, IReadOnlyList<(StatementRecord Record, long LogIndex)> statements)
    {
        foreach (var (record, logIndex) in statements)
        {
            var (signed, receivedAt, finding) = record;
            var s = signed.Statement;
            var insert = new NpgsqlBatchCommand("""
                INSERT INTO ppk_statements (hash, station, sequence, kind, kecamatan, received_at, prev_hash, station_time, wire, log_index, finding)
                VALUES (@hash, @station, @sequence, @kind, @kecamatan, @received, @prev, @time, @wire, @log_index, @finding)
                """);
            insert.Parameters.AddWithValue("hash", signed.Hash.ToArray());
            insert.Parameters.AddWithValue("station", s.StationId);
            insert.Parameters.AddWithValue("sequence", (long)s.Sequence);
            insert.Parameters.AddWithValue("kind", (int)s.Kind);
            insert.Parameters.AddWithValue("kecamatan", s.Kecamatan.Value);
            insert.Parameters.AddWithValue("received", receivedAt.ToUnixTimeMilliseconds());
            insert.Parameters.AddWithValue("prev", s.PreviousHash.ToArray());
            insert.Parameters.AddWithValue("time", s.StationTime.ToUnixTimeMilliseconds());
            insert.Parameters.AddWithValue("wire", signed.Wire);
            insert.Parameters.AddWithValue("log_index", logIndex);
            insert.Parameters.Add(new NpgsqlParameter("finding", NpgsqlDbType.Text) { Value = (object?)finding ?? DBNull.Value });
            batch.BatchCommands.Add(insert);
            var rows = PpkSql.FormRows(signed).ToList();
            var forms = new NpgsqlBatchCommand("""
                INSERT INTO ppk_statement_forms (statement_hash, tps, contest, form_hash, kind)
                SELECT @hash, tps, contest, form_hash, @kind FROM unnest(@tps, @contest, @form_hash) AS t(tps, contest, form_hash)
                """);
            forms.Parameters.AddWithValue("hash", signed.Hash.ToArray());
            forms.Parameters.AddWithValue("kind", (int)s.Kind);
            forms.Parameters.AddWithValue("tps", rows.Select(r => r.Tps).ToArray());
            forms.Parameters.AddWithValue("contest", rows.Select(r => r.Contest).ToArray());
            forms.Parameters.AddWithValue("form_hash", rows.Select(r => r.FormHash).ToArray());
            batch.BatchCommands.Add(forms);
            var log = new NpgsqlBatchCommand("INSERT INTO log_entries (log_index, type, position, content) VALUES (@log_index, @type, NULL, @content)");
            log.Parameters.AddWithValue("log_index", logIndex);
            log.Parameters.AddWithValue("type", (int)LogEntryType.PpkStatement);
            log.Parameters.AddWithValue("content", LogEntry.EncodeStatement(signed.Wire));
            batch.BatchCommands.Add(log);
        }
    }

    public async Task<IReadOnlyList<StationLink>> StationLinksAsync(string station, CancellationToken cancellationToken = default)
    {
        var links = new List<StationLink>();
        await ReadAsync(PpkSql.Links, r => links.Add(new StationLink(
            new ChainLink((ulong)r.GetInt64(0), Sha256Hash.FromBytes((byte[])r[1]), Sha256Hash.FromBytes((byte[])r[2]),
                DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3))), r.GetInt64(4))), cancellationToken, ("station", station));
        return links;
    }

    public async Task<StoredStatement?> FindStatementAsync(Sha256Hash hash, CancellationToken cancellationToken = default) =>
        (await StatementsAsync(PpkSql.Find, cancellationToken, ("hash", hash.ToArray()))).FirstOrDefault();

    public Task<IReadOnlyList<StoredStatement>> StatementsForKecamatanAsync(RegionCode kecamatan, CancellationToken cancellationToken = default) =>
        StatementsAsync(PpkSql.ForKecamatan, cancellationToken, ("kecamatan", kecamatan.Value));

    public Task<IReadOnlyList<StoredStatement>> StatementsForTpsAsync(TpsCode tps, CancellationToken cancellationToken = default) =>
        StatementsAsync(PpkSql.ForTps, cancellationToken, ("tps", tps.Value));

    public Task<IReadOnlyList<StoredStatement>> CorrectionsForDesaAsync(RegionCode desa, CancellationToken cancellationToken = default)
    {
        var (from, to) = PpkSql.DesaRange(desa);
        return StatementsAsync(PpkSql.CorrectionsForDesa, cancellationToken, ("from", from), ("to", to), ("kind", (int)KpuEdge.Crypto.Ppk.PpkStatementKind.Correction));
    }

    private async Task<IReadOnlyList<StoredStatement>> StatementsAsync(string sql, CancellationToken cancellationToken, params (string Name, object Value)[] values)
    {
        var statements = new List<StoredStatement>();
        await ReadAsync(sql, r => statements.Add(new StoredStatement(
            Sha256Hash.FromBytes((byte[])r[0]), r.GetString(1), (ulong)r.GetInt64(2), (KpuEdge.Crypto.Ppk.PpkStatementKind)r.GetInt32(3),
            RegionCode.Parse(r.GetString(4)), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(5)), (byte[])r[6], r.GetInt64(7),
            r.IsDBNull(8) ? null : r.GetString(8))), cancellationToken, values);
        return statements;
    }

    /// <summary>Forms that repeat one earlier in the batch (same bytes, or same device and sequence).</summary>
    private static HashSet<int> InBatchRepeats(IReadOnlyList<(SignedSubmission Submission, DateTimeOffset ReceivedAt)> accepted)
    {
        var repeats = new HashSet<int>();
        var seen = new HashSet<(string, ulong)>();
        var seenHashes = new HashSet<Sha256Hash>();
        for (int i = 0; i < accepted.Count; i++)
        {
            var s = accepted[i].Submission;
            if (!seen.Add((s.Submission.DeviceId, s.Submission.Sequence)) | !seenHashes.Add(s.Hash)) repeats.Add(i);
        }
        return repeats;
    }

    /// <summary>
    /// The (1-based) ordinals of the forms the ledger already holds: the same bytes, or the same device and sequence.
    /// Probed form by form through the two unique indexes (a LATERAL subquery with LIMIT is never flattened): written as
    /// <c>EXISTS … OR EXISTS</c>, the planner may hash the whole table twice instead — it did here while the ledger held
    /// tens of thousands of forms, 170 ms per 500-form append, under the lock every node waits on.
    /// </summary>
    private static NpgsqlBatchCommand HeldFormsCommand(IReadOnlyList<(SignedSubmission Submission, DateTimeOffset ReceivedAt)> accepted)
    {
        var command = new NpgsqlBatchCommand("""
            SELECT t.i FROM unnest(@hash, @device, @sequence) WITH ORDINALITY AS t(hash, device, sequence, i)
            CROSS JOIN LATERAL (
                SELECT 1 FROM submissions s WHERE s.hash = t.hash
                UNION ALL
                SELECT 1 FROM submissions s WHERE s.device_id = t.device AND s.sequence = t.sequence
                LIMIT 1) AS held
            """);
        command.Parameters.AddWithValue("hash", accepted.Select(a => a.Submission.Hash.ToArray()).ToArray());
        command.Parameters.AddWithValue("device", accepted.Select(a => a.Submission.Submission.DeviceId).ToArray());
        command.Parameters.AddWithValue("sequence", accepted.Select(a => (long)a.Submission.Submission.Sequence).ToArray());
        return command;
    }

    /// <summary>The log indexes of the revocations among these (by certificate serial) that the ledger holds already.</summary>
    private static NpgsqlBatchCommand LoggedRevocationsCommand(IReadOnlyList<RevocationRecord> revocations)
    {
        var command = new NpgsqlBatchCommand("SELECT serial, log_index FROM revocations WHERE serial = ANY(@serials)");
        command.Parameters.AddWithValue("serials", revocations.Select(r => r.SerialHex).Distinct().ToArray());
        return command;
    }

    /// <summary>
    /// Takes <paramref name="count"/> event ids from the event head, whose row stays locked until commit: ids commit in
    /// their order whichever node takes them, so a reader paging by id never passes one committed later.
    /// </summary>
    private static NpgsqlBatchCommand EventIdsCommand(int count)
    {
        var command = new NpgsqlBatchCommand("UPDATE security_event_head SET last_id = last_id + @n WHERE id = 1 RETURNING last_id");
        command.Parameters.AddWithValue("n", (long)count);
        return command;
    }

    private static async Task<IEnumerable<long>> ReadEventIdsAsync(NpgsqlDataReader reader, int count, CancellationToken cancellationToken)
    {
        if (!await reader.ReadAsync(cancellationToken)) throw new InvalidDataException("The ledger has no event head row.");
        long last = reader.GetInt64(0);
        return Enumerable.Range(1, count).Select(i => last - count + i);
    }

    /// <summary>Events carry their own id in their JSON.</summary>
    private static List<SecurityEvent> RecordedEvents(IReadOnlyList<SecurityEvent> events, IReadOnlyList<long> ids) =>
        events.Select((e, i) => e with { Id = ids[i] }).ToList();

    private static void AddSubmissions(NpgsqlBatch batch, IReadOnlyList<(SignedSubmission Form, DateTimeOffset ReceivedAt, long Position, long LogIndex)> forms)
    {
        var insert = new NpgsqlBatchCommand("""
            INSERT INTO submissions (position, hash, device_id, sequence, tps, contest, received_at, wire, prev_hash, device_time, log_index, image_hash)
            SELECT * FROM unnest(@position, @hash, @device, @sequence, @tps, @contest, @received, @wire, @prev, @device_time, @log_index, @image_hash)
            """);
        insert.Parameters.AddWithValue("position", forms.Select(f => f.Position).ToArray());
        insert.Parameters.AddWithValue("hash", forms.Select(f => f.Form.Hash.ToArray()).ToArray());
        insert.Parameters.AddWithValue("device", forms.Select(f => f.Form.Submission.DeviceId).ToArray());
        insert.Parameters.AddWithValue("sequence", forms.Select(f => (long)f.Form.Submission.Sequence).ToArray());
        insert.Parameters.AddWithValue("tps", forms.Select(f => f.Form.Submission.Tps.Value).ToArray());
        insert.Parameters.AddWithValue("contest", forms.Select(f => (int)f.Form.Submission.Contest).ToArray());
        insert.Parameters.AddWithValue("received", forms.Select(f => f.ReceivedAt.ToUnixTimeMilliseconds()).ToArray());
        insert.Parameters.AddWithValue("wire", forms.Select(f => f.Form.Wire).ToArray());
        insert.Parameters.AddWithValue("prev", forms.Select(f => f.Form.Submission.PreviousHash.ToArray()).ToArray());
        insert.Parameters.AddWithValue("device_time", forms.Select(f => f.Form.Submission.DeviceTime.ToUnixTimeMilliseconds()).ToArray());
        insert.Parameters.AddWithValue("log_index", forms.Select(f => f.LogIndex).ToArray());
        insert.Parameters.Add(new NpgsqlParameter("image_hash", NpgsqlDbType.Array | NpgsqlDbType.Bytea)
        {
            Value = forms.Select(f => f.Form.Submission.ImageHash.IsEmpty ? null : f.Form.Submission.ImageHash.ToArray()).ToArray(),
        });
        batch.BatchCommands.Add(insert);
        // A submission's log entry is rebuilt from its row (0x01 ‖ wire) when read.
        var log = new NpgsqlBatchCommand("""
            INSERT INTO log_entries (log_index, type, position, content)
            SELECT log_index, @type, position, NULL FROM unnest(@log_index, @position) AS t(log_index, position)
            """);
        log.Parameters.AddWithValue("log_index", forms.Select(f => f.LogIndex).ToArray());
        log.Parameters.AddWithValue("position", forms.Select(f => f.Position).ToArray());
        log.Parameters.AddWithValue("type", (int)LogEntryType.Submission);
        batch.BatchCommands.Add(log);
    }

    private static void AddRevocations(NpgsqlBatch batch, IReadOnlyList<(RevocationRecord Record, long LogIndex)> revocations)
    {
        var insert = new NpgsqlBatchCommand("""
            INSERT INTO revocations (serial, device_id, revoked_at, reason, recorded_at, log_index)
            SELECT * FROM unnest(@serial, @device, @revoked, @reason, @recorded, @log_index)
            """);
        insert.Parameters.AddWithValue("serial", revocations.Select(r => r.Record.SerialHex).ToArray());
        insert.Parameters.AddWithValue("device", revocations.Select(r => r.Record.DeviceId).ToArray());
        insert.Parameters.AddWithValue("revoked", revocations.Select(r => r.Record.RevokedAt.ToUnixTimeMilliseconds()).ToArray());
        insert.Parameters.AddWithValue("reason", revocations.Select(r => r.Record.Reason).ToArray());
        insert.Parameters.AddWithValue("recorded", revocations.Select(r => r.Record.RecordedAt.ToUnixTimeMilliseconds()).ToArray());
        insert.Parameters.AddWithValue("log_index", revocations.Select(r => r.LogIndex).ToArray());
        batch.BatchCommands.Add(insert);
        var log = new NpgsqlBatchCommand("""
            INSERT INTO log_entries (log_index, type, position, content)
            SELECT log_index, @type, NULL, content FROM unnest(@log_index, @content) AS t(log_index, content)
            """);
        log.Parameters.AddWithValue("log_index", revocations.Select(r => r.LogIndex).ToArray());
        log.Parameters.AddWithValue("content", revocations.Select(r => r.Record.LogEntry).ToArray());
        log.Parameters.AddWithValue("type", (int)LogEntryType.Revocation);
        batch.BatchCommands.Add(log);
    }

    private static void AddRejections(NpgsqlBatch batch, IReadOnlyList<Rejection> rejections)
    {
        var insert = new NpgsqlBatchCommand("""
            INSERT INTO rejections (received_at, topic, device_id, reason, detail, payload_hash, size)
            SELECT * FROM unnest(@received, @topic, @device, @reason, @detail, @hash, @size)
            """);
        insert.Parameters.AddWithValue("received", rejections.Select(x => x.ReceivedAt.ToUnixTimeMilliseconds()).ToArray());
        insert.Parameters.AddWithValue("topic", rejections.Select(x => x.Topic).ToArray());
        insert.Parameters.Add(new NpgsqlParameter("device", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = rejections.Select(x => x.DeviceId).ToArray() });
        insert.Parameters.AddWithValue("reason", rejections.Select(x => x.Reason).ToArray());
        insert.Parameters.AddWithValue("detail", rejections.Select(x => x.Detail).ToArray());
        insert.Parameters.AddWithValue("hash", rejections.Select(x => x.PayloadHash.ToArray()).ToArray());
        insert.Parameters.AddWithValue("size", rejections.Select(x => x.Size).ToArray());
        batch.BatchCommands.Add(insert);
        var count = new NpgsqlBatchCommand("""
            INSERT INTO rejection_counts (reason, count) SELECT reason, COUNT(*) FROM unnest(@reason) AS t(reason) GROUP BY reason
            ON CONFLICT (reason) DO UPDATE SET count = rejection_counts.count + excluded.count
            """);
        count.Parameters.AddWithValue("reason", rejections.Select(x => x.Reason).ToArray());
        batch.BatchCommands.Add(count);
    }

    private static void AddEvents(NpgsqlBatch batch, IReadOnlyList<SecurityEvent> events)
    {
        var insert = new NpgsqlBatchCommand("""
            INSERT INTO security_events (id, ts, kind, device_id, json) SELECT * FROM unnest(@id, @ts, @kind, @device, @json)
            """);
        insert.Parameters.AddWithValue("id", events.Select(e => e.Id!.Value).ToArray());
        insert.Parameters.AddWithValue("ts", events.Select(e => e.Ts.ToUnixTimeMilliseconds()).ToArray());
        insert.Parameters.AddWithValue("kind", events.Select(e => e.Kind).ToArray());
        insert.Parameters.Add(new NpgsqlParameter("device", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = events.Select(e => e.DeviceId).ToArray() });
        insert.Parameters.AddWithValue("json", events.Select(e => e.ToJson()).ToArray());
        batch.BatchCommands.Add(insert);
    }

    public async Task<IReadOnlyList<SecurityEvent>> AppendEventsAsync(IReadOnlyList<SecurityEvent> events, CancellationToken cancellationToken = default)
    {
        if (events.Count == 0) return events;
        await using var connection = await _data.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        List<SecurityEvent> recorded;
        await using (var ids = new NpgsqlBatch(connection, transaction) { BatchCommands = { EventIdsCommand(events.Count) } })
        await using (var reader = await ids.ExecuteReaderAsync(cancellationToken))
            recorded = RecordedEvents(events, (await ReadEventIdsAsync(reader, events.Count, cancellationToken)).ToList());
        await using (var insert = new NpgsqlBatch(connection, transaction))
        {
            AddEvents(insert, recorded);
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return recorded;
    }

    private const string SelectEntry = "SELECT position, hash, device_id, sequence, tps, contest, received_at, wire, log_index FROM submissions";

    private static LedgerEntry ReadEntry(NpgsqlDataReader r) => new(
        r.GetInt64(0), Sha256Hash.FromBytes((byte[])r[1]), r.GetString(2), (ulong)r.GetInt64(3), TpsCode.Parse(r.GetString(4)),
        (ContestId)r.GetInt32(5), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(6)), (byte[])r[7], r.GetInt64(8));

    public async Task<LedgerEntry?> FindByHashAsync(Sha256Hash hash, CancellationToken cancellationToken = default) =>
        (await EntriesAsync($"{SelectEntry} WHERE hash = @hash", cancellationToken, ("hash", hash.ToArray()))).FirstOrDefault();

    public async Task<LedgerEntry?> FindByPositionAsync(long position, CancellationToken cancellationToken = default) =>
        (await EntriesAsync($"{SelectEntry} WHERE position = @position", cancellationToken, ("position", position))).FirstOrDefault();

    public Task<long> CountAsync(CancellationToken cancellationToken = default) =>
        ScalarAsync("SELECT positions FROM ledger_head WHERE id = 1", cancellationToken);

    public async IAsyncEnumerable<LedgerEntry> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using var connection = await _data.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand($"{SelectEntry} ORDER BY position", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) yield return ReadEntry(reader);
    }

    public Task<IReadOnlyList<LedgerEntry>> ForTpsAsync(TpsCode tps, CancellationToken cancellationToken = default) =>
        EntriesAsync($"{SelectEntry} WHERE tps = @tps ORDER BY position", cancellationToken, ("tps", tps.Value));

    public Task<long> VersionCountAsync(TpsCode tps, ContestId contest, CancellationToken cancellationToken = default) =>
        ScalarAsync("SELECT COUNT(*) FROM submissions WHERE tps = @tps AND contest = @contest", cancellationToken, ("tps", tps.Value), ("contest", (int)contest));

    public async Task<IReadOnlyList<LedgerEntry>> NewestVersionsAsync(TpsCode tps, ContestId contest, int count, CancellationToken cancellationToken = default)
    {
        var newestFirst = await EntriesAsync($"{SelectEntry} WHERE tps = @tps AND contest = @contest ORDER BY sequence DESC, position DESC LIMIT @limit",
            cancellationToken, ("tps", tps.Value), ("contest", (int)contest), ("limit", count));
        return newestFirst.Reverse().ToList();
    }

    public Task<IReadOnlyList<LedgerEntry>> VersionsAfterAsync(TpsCode tps, ContestId contest, FormVersion? after, int limit, CancellationToken cancellationToken = default) =>
        after is { } cursor
            ? EntriesAsync($"{SelectEntry} WHERE tps = @tps AND contest = @contest AND (sequence, position) > (@sequence, @position) ORDER BY sequence, position LIMIT @limit",
                cancellationToken, ("tps", tps.Value), ("contest", (int)contest), ("sequence", (long)cursor.Sequence), ("position", cursor.Position), ("limit", limit))
            : EntriesAsync($"{SelectEntry} WHERE tps = @tps AND contest = @contest ORDER BY sequence, position LIMIT @limit",
                cancellationToken, ("tps", tps.Value), ("contest", (int)contest), ("limit", limit));

    public async Task<IReadOnlyList<TpsCode>> ReportingTpsAsync(CancellationToken cancellationToken = default)
    {
        var codes = new List<TpsCode>();
        await ReadAsync("SELECT DISTINCT tps FROM submissions ORDER BY tps", r => codes.Add(TpsCode.Parse(r.GetString(0))), cancellationToken);
        return codes;
    }

    public Task<IReadOnlyList<LedgerEntry>> ForDesaAsync(RegionCode desa, CancellationToken cancellationToken = default) =>
        EntriesAsync($"{SelectEntry} WHERE starts_with(tps, @prefix) ORDER BY position", cancellationToken, ("prefix", desa.Value));

    public async Task<IReadOnlyList<RegionCode>> ReportingChildrenAsync(RegionCode region, CancellationToken cancellationToken = default)
    {
        var codes = new List<RegionCode>();
        await ReadAsync("SELECT DISTINCT left(tps, @length) FROM submissions WHERE starts_with(tps, @prefix)",
            r => codes.Add(RegionCode.Parse(r.GetString(0))), cancellationToken,
            ("length", RegionCode.CodeLength(region.Level + 1)), ("prefix", region.IsNasional ? "" : region.Value));
        return codes;
    }

    public async Task<IReadOnlyList<DeviceLink>> DeviceLinksAsync(string deviceId, CancellationToken cancellationToken = default)
    {
        var links = new List<DeviceLink>();
        await ReadAsync("""
            SELECT sequence, hash, prev_hash, device_time, tps, contest, position, log_index FROM submissions
            WHERE device_id = @device ORDER BY sequence
            """, r => links.Add(new DeviceLink(
                new ChainLink((ulong)r.GetInt64(0), Sha256Hash.FromBytes((byte[])r[1]), Sha256Hash.FromBytes((byte[])r[2]),
                    DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3))),
                TpsCode.Parse(r.GetString(4)), (ContestId)r.GetInt32(5), r.GetInt64(6), r.GetInt64(7))),
            cancellationToken, ("device", deviceId));
        return links;
    }

    public async Task<ChainChanges> ChainsChangedAfterAsync(long afterPosition, CancellationToken cancellationToken = default)
    {
        long through = await ScalarAsync("SELECT positions FROM ledger_head WHERE id = 1", cancellationToken);
        var changed = new List<ChainChanges.Summary>();
        // A range of the position key, then each changed device's chain summed up through its (device_id, sequence) index.
        await ReadAsync("""
            SELECT c.device_id, s.tps, s.head, s.last, s.links
            FROM (SELECT DISTINCT device_id FROM submissions WHERE position > @after AND position <= @through) c
            CROSS JOIN LATERAL (
                SELECT MAX(tps) AS tps, MAX(sequence) AS head, MAX(received_at) AS last, COUNT(*) AS links
                FROM submissions s WHERE s.device_id = c.device_id) s
            """, r => changed.Add(new ChainChanges.Summary(r.GetString(0), r.GetString(1), (ulong)r.GetInt64(2), r.GetInt64(4),
                DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3)))),
            cancellationToken, ("after", afterPosition), ("through", through));
        return await ChainChanges.FromAsync(through, changed, device => DeviceLinksAsync(device, cancellationToken));
    }

    /// <summary>
    /// One statement inserts what is new (a device id another node registers at the same moment is not overwritten:
    /// <c>ON CONFLICT DO NOTHING</c>); the next, seeing what is committed, names the ids held with another certificate.
    /// </summary>
    public async Task<DeviceRegistration> RegisterDevicesAsync(IReadOnlyList<DeviceRecord> devices, CancellationToken cancellationToken = default)
    {
        var (offered, conflicts) = DeviceBatch.Distinct(devices);
        if (offered.Count == 0) return new DeviceRegistration(0, 0, conflicts);
        var ids = offered.Select(o => o.Device.DeviceId).ToArray();
        await using var connection = await _data.OpenConnectionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection);
        // In id order: nodes inserting the same ids take their row locks in one order, so they wait for each other, never deadlock.
        var insert = new NpgsqlBatchCommand("""
            INSERT INTO devices (device_id, tps, serial, certificate)
            SELECT * FROM unnest(@device, @tps, @serial, @certificate) AS t(device_id, tps, serial, certificate) ORDER BY device_id
            ON CONFLICT (device_id) DO NOTHING RETURNING device_id
            """);
        insert.Parameters.AddWithValue("device", ids);
        insert.Parameters.AddWithValue("tps", offered.Select(o => o.Device.Tps.Value).ToArray());
        insert.Parameters.AddWithValue("serial", offered.Select(o => o.Certificate.SerialHex).ToArray());
        insert.Parameters.AddWithValue("certificate", offered.Select(o => o.Certificate.Der).ToArray());
        batch.BatchCommands.Add(insert);
        var registered = new NpgsqlBatchCommand("SELECT device_id, serial, sha256(certificate) FROM devices WHERE device_id = ANY(@device)");
        registered.Parameters.AddWithValue("device", ids);
        batch.BatchCommands.Add(registered);
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        int added = 0;
        while (await reader.ReadAsync(cancellationToken)) added++;
        await reader.NextResultAsync(cancellationToken);
        var byId = offered.ToDictionary(o => o.Device.DeviceId, o => o.Certificate, StringComparer.Ordinal);
        int refused = 0;
        while (await reader.ReadAsync(cancellationToken))
        {
            var certificate = byId[reader.GetString(0)];
            if (System.Security.Cryptography.SHA256.HashData(certificate.Der).AsSpan().SequenceEqual((byte[])reader[2])) continue;
            conflicts.Add(new DeviceConflict(reader.GetString(0), reader.GetString(1), certificate.SerialHex));
            refused++;
        }
        return new DeviceRegistration(added, offered.Count - added - refused, conflicts);
    }

    public async Task<IReadOnlyList<DeviceRecord>> FindDevicesAsync(IReadOnlyCollection<string> deviceIds, CancellationToken cancellationToken = default)
    {
        var devices = new List<DeviceRecord>();
        await ReadAsync("SELECT certificate FROM devices WHERE device_id = ANY(@keys)", r => devices.Add(DeviceBatch.Read((byte[])r[0])),
            cancellationToken, ("keys", deviceIds.ToArray()));
        return devices;
    }

    public async Task<IReadOnlyList<DeviceRecord>> DevicesWithCertificatesAsync(IReadOnlyCollection<string> serialHexes, CancellationToken cancellationToken = default)
    {
        var devices = new List<DeviceRecord>();
        await ReadAsync("SELECT certificate FROM devices WHERE serial = ANY(@keys)", r => devices.Add(DeviceBatch.Read((byte[])r[0])),
            cancellationToken, ("keys", serialHexes.ToArray()));
        return devices;
    }

    public Task<long> DeviceCountAsync(CancellationToken cancellationToken = default) => ScalarAsync("SELECT COUNT(*) FROM devices", cancellationToken);

    public async Task<bool> SaveCrlAsync(StoredCrl crl, CancellationToken cancellationToken = default)
    {
        await using var connection = await _data.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(StoredCrl.UpsertSql, connection);
        command.Parameters.AddWithValue("issuer", crl.Version.Issuer);
        command.Parameters.AddWithValue("number", crl.Version.Number);
        command.Parameters.AddWithValue("this_update", crl.Version.ThisUpdate.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("der", crl.Der);
        return await command.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    public async Task<IReadOnlyList<CrlVersion>> CrlVersionsAsync(CancellationToken cancellationToken = default)
    {
        var versions = new List<CrlVersion>();
        await ReadAsync("SELECT issuer, number, this_update FROM crls ORDER BY issuer",
            r => versions.Add(new CrlVersion(r.GetString(0), r.GetInt64(1), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(2)))), cancellationToken);
        return versions;
    }

    public async Task<StoredCrl?> CrlAsync(string issuer, CancellationToken cancellationToken = default)
    {
        StoredCrl? crl = null;
        await ReadAsync("SELECT issuer, number, this_update, der FROM crls WHERE issuer = @issuer",
            r => crl = new StoredCrl(new CrlVersion(r.GetString(0), r.GetInt64(1), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(2))), (byte[])r[3]),
            cancellationToken, ("issuer", issuer));
        return crl;
    }

    public Task<long> LogCountAsync(CancellationToken cancellationToken = default) =>
        ScalarAsync("SELECT log_size FROM ledger_head WHERE id = 1", cancellationToken);

    public async IAsyncEnumerable<byte[]> ReadLogAsync(long start, long end, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using var connection = await _data.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand("""
            SELECT l.log_index, l.type, COALESCE(l.content, s.wire) FROM log_entries l
            LEFT JOIN submissions s ON s.position = l.position
            WHERE l.log_index >= @start AND l.log_index < @end ORDER BY l.log_index
            """, connection);
        command.Parameters.AddWithValue("start", start);
        command.Parameters.AddWithValue("end", end);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        long expected = start;
        while (await reader.ReadAsync(cancellationToken))
        {
            long index = reader.GetInt64(0);
            if (index != expected) throw new InvalidDataException($"The stored log misses entry {expected}.");
            expected++;
            var content = reader.IsDBNull(2) ? [] : (byte[])reader[2];
            // A submission's entry is rebuilt from its wire bytes; other entries are stored whole.
            yield return reader.GetInt32(1) == (int)LogEntryType.Submission ? LogEntry.EncodeSubmission(content) : content;
        }
    }

    public async Task SaveCheckpointAsync(StoredCheckpoint checkpoint, CancellationToken cancellationToken = default)
    {
        await using var connection = await _data.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            "INSERT INTO checkpoints (size, root, note, signed_at) VALUES (@size, @root, @note, @at) ON CONFLICT (size) DO NOTHING", connection);
        command.Parameters.AddWithValue("size", checkpoint.Size);
        command.Parameters.AddWithValue("root", checkpoint.Root);
        command.Parameters.AddWithValue("note", checkpoint.Note);
        command.Parameters.AddWithValue("at", checkpoint.SignedAt.ToUnixTimeMilliseconds());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<StoredCheckpoint?> LatestCheckpointAsync(CancellationToken cancellationToken = default)
    {
        StoredCheckpoint? latest = null;
        await ReadAsync("SELECT size, root, note, signed_at FROM checkpoints ORDER BY size DESC LIMIT 1",
            r => latest = new StoredCheckpoint(r.GetInt64(0), (byte[])r[1], r.GetString(2), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3))),
            cancellationToken);
        return latest;
    }

    public async Task<IReadOnlyList<RevocationRecord>> RevocationsAsync(CancellationToken cancellationToken = default)
    {
        var records = new List<RevocationRecord>();
        await ReadAsync("SELECT device_id, serial, revoked_at, reason, recorded_at, log_index FROM revocations ORDER BY log_index",
            r => records.Add(new RevocationRecord(r.GetString(0), r.GetString(1), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(2)),
                r.GetString(3), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(4))) { LogIndex = r.GetInt64(5) }),
            cancellationToken);
        return records;
    }

    public async Task<IReadOnlyList<SecurityEvent>> SecurityEventsAsync(long afterId, int limit, CancellationToken cancellationToken = default)
    {
        var events = new List<SecurityEvent>();
        await ReadAsync("SELECT json FROM security_events WHERE id > @after ORDER BY id LIMIT @limit",
            r => events.Add(SecurityEvent.FromJson(r.GetString(0))), cancellationToken, ("after", afterId), ("limit", limit));
        return events;
    }

    public async Task<IReadOnlyDictionary<string, long>> RejectionCountsAsync(CancellationToken cancellationToken = default)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        await ReadAsync("SELECT reason, count FROM rejection_counts ORDER BY reason", r => counts[r.GetString(0)] = r.GetInt64(1), cancellationToken);
        return counts;
    }

    public async Task<IReadOnlyList<string>> ImageSignersAsync(TpsCode tps, ContestId contest, Sha256Hash imageHash, CancellationToken cancellationToken = default)
    {
        var devices = new List<string>();
        await ReadAsync("SELECT DISTINCT device_id FROM submissions WHERE image_hash = @image AND tps = @tps AND contest = @contest",
            r => devices.Add(r.GetString(0)), cancellationToken, ("image", imageHash.ToArray()), ("tps", tps.Value), ("contest", (int)contest));
        return devices;
    }

    public async Task RecordImagePageAsync(StoredImagePage page, CancellationToken cancellationToken = default)
    {
        await using var connection = await _data.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand("""
            INSERT INTO images (image_hash, page, pages, page_hash, tps, contest, size, path, stored_at)
            VALUES (@image, @page, @pages, @page_hash, @tps, @contest, @size, @path, @stored_at) ON CONFLICT DO NOTHING
            """, connection);
        command.Parameters.AddWithValue("image", page.ImageHash.ToArray());
        command.Parameters.AddWithValue("page", page.Page);
        command.Parameters.AddWithValue("pages", page.Pages);
        command.Parameters.AddWithValue("page_hash", page.PageHash.ToArray());
        command.Parameters.AddWithValue("tps", page.Tps.Value);
        command.Parameters.AddWithValue("contest", (int)page.Contest);
        command.Parameters.AddWithValue("size", page.Size);
        command.Parameters.AddWithValue("path", page.Path);
        command.Parameters.AddWithValue("stored_at", page.StoredAt.ToUnixTimeMilliseconds());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public Task<IReadOnlyList<StoredImagePage>> ImagePagesAsync(Sha256Hash imageHash, CancellationToken cancellationToken = default) =>
        ImagesAsync("WHERE image_hash = @image ORDER BY page", cancellationToken, ("image", imageHash.ToArray()));

    public Task<IReadOnlyList<StoredImagePage>> ImagesForTpsAsync(TpsCode tps, CancellationToken cancellationToken = default) =>
        ImagesAsync("WHERE tps = @tps ORDER BY contest, stored_at, image_hash, page", cancellationToken, ("tps", tps.Value));

    public Task<IReadOnlyList<StoredImagePage>> ImagesForDesaAsync(RegionCode desa, CancellationToken cancellationToken = default)
    {
        var (from, to) = PpkSql.DesaRange(desa);
        return ImagesAsync("WHERE tps >= @from AND tps < @to ORDER BY tps, contest, stored_at, image_hash, page", cancellationToken, ("from", from), ("to", to));
    }

    public async Task<IReadOnlyList<(TpsCode Tps, ContestId Contest)>> FormsWithImagesStoredSinceAsync(DateTimeOffset since, CancellationToken cancellationToken = default)
    {
        var found = new List<(TpsCode, ContestId)>();
        await ReadAsync("SELECT DISTINCT tps, contest FROM images WHERE stored_at >= @since",
            r => found.Add((TpsCode.Parse(r.GetString(0)), (ContestId)r.GetInt32(1))), cancellationToken, ("since", since.ToUnixTimeMilliseconds()));
        return found;
    }

    private async Task<IReadOnlyList<StoredImagePage>> ImagesAsync(string where, CancellationToken cancellationToken, params (string Name, object Value)[] values)
    {
        var pages = new List<StoredImagePage>();
        await ReadAsync($"SELECT image_hash, page, pages, page_hash, tps, contest, size, path, stored_at FROM images {where}",
            r => pages.Add(new StoredImagePage(Sha256Hash.FromBytes((byte[])r[0]), r.GetInt32(1), r.GetInt32(2), Sha256Hash.FromBytes((byte[])r[3]),
                TpsCode.Parse(r.GetString(4)), (ContestId)r.GetInt32(5), r.GetInt32(6), r.GetString(7), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(8)))),
            cancellationToken, values);
        return pages;
    }

    private async Task<IReadOnlyList<LedgerEntry>> EntriesAsync(string sql, CancellationToken cancellationToken, params (string Name, object Value)[] values)
    {
        var entries = new List<LedgerEntry>();
        await ReadAsync(sql, r => entries.Add(ReadEntry(r)), cancellationToken, values);
        return entries;
    }

    private async Task ReadAsync(string sql, Action<NpgsqlDataReader> row, CancellationToken cancellationToken, params (string Name, object Value)[] values)
    {
        await using var connection = await _data.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in values) command.Parameters.AddWithValue(name, value);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) row(reader);
    }

    private async Task<long> ScalarAsync(string sql, CancellationToken cancellationToken, params (string Name, object Value)[] values)
    {
        await using var connection = await _data.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in values) command.Parameters.AddWithValue(name, value);
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken));
    }

    public ValueTask DisposeAsync() => _data.DisposeAsync();
}
