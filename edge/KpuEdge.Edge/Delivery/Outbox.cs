using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Health;
using KpuEdge.Crypto.Images;
using KpuEdge.Edge.Device;
using Microsoft.Data.Sqlite;

namespace KpuEdge.Edge.Delivery;

/// <summary>Where an outbox entry stands. Only a verified receipt ends it.</summary>
public enum OutboxState
{
    /// <summary>Signed and durable, not sent yet (or the link dropped before it went).</summary>
    Queued = 0,
    /// <summary>Sent at least once, no verified receipt yet: it will be sent again.</summary>
    Sent = 1,
    /// <summary>The cloud's receipt (accepted or duplicate) arrived and its log proof verified: delivered.</summary>
    Receipted = 2,
    /// <summary>The cloud refused it; the reason is kept for the KPPS. Never resent.</summary>
    Rejected = 3,
}

/// <summary>What goes first on a thin link: the five tallies before anything else.</summary>
public static class OutboxPriority
{
    public const int Tally = 0;
    public const int Correction = 1;
    /// <summary>A PPK station's statements go after the forms they are about, which must reach the cloud first.</summary>
    public const int Statement = 2;
}

/// <summary>What an outbox entry carries.</summary>
public enum OutboxKind
{
    /// <summary>A signed C.Hasil form (the device's own, or one a PPK station relays).</summary>
    Form = 0,
    /// <summary>A PPK station's own signed statement (verification, objection, correction, D.Hasil).</summary>
    PpkStatement = 1,
}

/// <param name="Tps">For a statement, the TPS of the first form it names.</param>
/// <param name="Finding">For a receipted D.Hasil, the cloud's comparison with its own sum (JSON).</param>
public sealed record OutboxEntry(
    Sha256Hash Hash, ulong Sequence, TpsCode Tps, ContestId Contest, int Priority, byte[] Wire, OutboxState State,
    DateTimeOffset CreatedAt, DateTimeOffset? LastSentAt, int Attempts, string? Reason, long? LogIndex,
    OutboxKind Kind = OutboxKind.Form, string? Finding = null);

/// <summary>Where the form photos stand: pages stored by the cloud, pages refused, and bytes the cloud holds of all.</summary>
public sealed record ImageProgress(int Pages, int Stored, int Refused, long BytesConfirmed, long BytesTotal)
{
    public static readonly ImageProgress None = new(0, 0, 0, 0, 0);

    public int Pending => Pages - Stored - Refused;
}

/// <summary>The operator's view of delivery: how many forms wait, are in flight, are delivered, were refused; and the images.</summary>
public sealed record OutboxStatus(int Queued, int Sent, int Receipted, int Rejected)
{
    public ImageProgress Images { get; init; } = ImageProgress.None;

    public bool AllSettled => Queued == 0 && Sent == 0 && Images.Pending == 0;
}

/// <summary>
/// A page image waiting to go: its form's page hashes (every chunk repeats them), its size and the bytes the cloud
/// confirmed. The bytes themselves are read a chunk at a time (<see cref="Outbox.ReadPage"/>).
/// </summary>
public sealed record PendingPage(Sha256Hash ImageHash, IReadOnlyList<Sha256Hash> PageHashes, int Page, TpsCode Tps, ContestId Contest, int Size, int Confirmed);

/// <summary>State of a page image in the outbox.</summary>
public enum PageState
{
    Pending = 0,
    Stored = 1,
    Refused = 2,
}

/// <summary>
/// The device's durable outbox: one SQLite file (WAL, synchronous=FULL) holding every signed form and the device's
/// chain head. A form is signed and written — together with the advanced chain — in one transaction before anything
/// is sent, so a power cut at any instant leaves either nothing (the form was never sent) or the form ready to send;
/// a sequence number is never reused. Single writer: the device process.
/// </summary>
public sealed class Outbox : IDisposable
{
    public const string FileName = "outbox.db";

    private readonly SqliteConnection _db;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();

    public Outbox(string path, TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        _db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        _db.Open();
        Execute("""
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = FULL;
            CREATE TABLE IF NOT EXISTS chain (
                id       INTEGER PRIMARY KEY CHECK (id = 1),
                sequence INTEGER NOT NULL,
                hash     TEXT    NOT NULL
            );
            CREATE TABLE IF NOT EXISTS outbox (
                hash         BLOB    PRIMARY KEY,
                sequence     INTEGER NOT NULL,
                tps          TEXT    NOT NULL,
                contest      INTEGER NOT NULL,
                priority     INTEGER NOT NULL,
                wire         BLOB    NOT NULL,
                state        INTEGER NOT NULL,
                created_at   INTEGER NOT NULL,
                last_sent_at INTEGER,
                attempts     INTEGER NOT NULL DEFAULT 0,
                reason       TEXT,
                log_index    INTEGER
            );
            CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, priority, sequence);
            -- The form's page images (link-compressed), sent in chunks once the form's receipt is in.
            CREATE TABLE IF NOT EXISTS images (
                image_hash      BLOB    NOT NULL,
                page            INTEGER NOT NULL,
                pages           INTEGER NOT NULL,
                page_hash       BLOB    NOT NULL,
                submission_hash BLOB    NOT NULL,
                tps             TEXT    NOT NULL,
                contest         INTEGER NOT NULL,
                bytes           BLOB    NOT NULL,
                confirmed       INTEGER NOT NULL DEFAULT 0,
                state           INTEGER NOT NULL DEFAULT 0,
                reason          TEXT,
                statement       TEXT,
                PRIMARY KEY (image_hash, page)
            );
            """);
        // Health reports waiting for the link (the newest routine ones and every one carrying an event), and the
        // report counter, which survives restarts so the cloud can tell a replayed report from a new one.
        Execute("""
            CREATE TABLE IF NOT EXISTS health (
                sequence   INTEGER PRIMARY KEY,
                wire       BLOB    NOT NULL,
                urgent     INTEGER NOT NULL,
                created_at INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS relayed_health (
                id         INTEGER PRIMARY KEY AUTOINCREMENT,
                device     TEXT    NOT NULL,
                wire       BLOB    NOT NULL,
                urgent     INTEGER NOT NULL,
                created_at INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS health_counter (
                id   INTEGER PRIMARY KEY CHECK (id = 1),
                last INTEGER NOT NULL
            );
            """);
        // Outboxes written before pages carried the cloud's signed statement, or before PPK statements: add their columns.
        AddColumnIfMissing("images", "statement", "TEXT");
        AddColumnIfMissing("outbox", "kind", "INTEGER NOT NULL DEFAULT 0");
        AddColumnIfMissing("outbox", "finding", "TEXT");
        // A PPK station's chain of its own statements (apart from the forms it relays).
        Execute("""
            CREATE TABLE IF NOT EXISTS statement_chain (
                id       INTEGER PRIMARY KEY CHECK (id = 1),
                sequence INTEGER NOT NULL,
                hash     TEXT    NOT NULL
            );
            """);
    }

    private void AddColumnIfMissing(string table, string column, string type)
    {
        using var columns = _db.CreateCommand();
        columns.CommandText = $"SELECT count(*) FROM pragma_table_info('{table}') WHERE name = '{column}'";
        if ((long)columns.ExecuteScalar()! == 0) Execute($"ALTER TABLE {table} ADD COLUMN {column} {type}");
    }

    /// <summary>
    /// Signs a PPK station's statement as the next link of its chain and stores it with the advanced chain in one
    /// transaction, to be sent after the forms (<see cref="OutboxPriority.Statement"/>) whenever the link allows.
    /// </summary>
    public Crypto.Ppk.SignedPpkStatement SignAndAdd(Relay.StatementSigner signer, Crypto.Ppk.PpkStatement statement)
    {
        lock (_lock)
        {
            signer.Chain = StatementChain;
            var signed = signer.Sign(statement);
            var first = signed.Statement.Forms[0];
            using var transaction = _db.BeginTransaction();
            using (var insert = _db.CreateCommand())
            {
                insert.Transaction = transaction;
                insert.CommandText = """
                    INSERT INTO outbox (hash, sequence, tps, contest, priority, wire, state, created_at, kind)
                    VALUES ($hash, $sequence, $tps, $contest, $priority, $wire, 0, $now, 1);
                    INSERT INTO statement_chain (id, sequence, hash) VALUES (1, $sequence, $hex) ON CONFLICT (id) DO UPDATE SET sequence = $sequence, hash = $hex;
                    """;
                insert.Parameters.AddWithValue("$hash", signed.Hash.ToArray());
                insert.Parameters.AddWithValue("$hex", signed.Hash.ToString());
                insert.Parameters.AddWithValue("$sequence", (long)signed.Statement.Sequence);
                insert.Parameters.AddWithValue("$tps", first.Tps.Value);
                insert.Parameters.AddWithValue("$contest", (int)first.Contest);
                insert.Parameters.AddWithValue("$priority", OutboxPriority.Statement);
                insert.Parameters.AddWithValue("$wire", signed.Wire);
                insert.Parameters.AddWithValue("$now", _time.GetUtcNow().ToUnixTimeMilliseconds());
                insert.ExecuteNonQuery();
            }
            transaction.Commit();
            return signed;
        }
    }

    /// <summary>Where the station's chain of statements stands.</summary>
    public ChainState StatementChain
    {
        get
        {
            lock (_lock)
            {
                using var command = _db.CreateCommand();
                command.CommandText = "SELECT sequence, hash FROM statement_chain WHERE id = 1";
                using var r = command.ExecuteReader();
                return r.Read() ? new ChainState((ulong)r.GetInt64(0), r.GetString(1)) : ChainState.Start;
            }
        }
    }

    /// <summary>The station's statements, oldest first, with where each stands.</summary>
    public IReadOnlyList<OutboxEntry> Statements()
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = $"{Select} WHERE kind = 1 ORDER BY sequence";
            return Read(command);
        }
    }

    /// <summary>What waits to be delivered, for the health report: forms without a receipt, pages not stored, the oldest form's age.</summary>
    public OutboxReading Waiting()
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = """
                SELECT (SELECT COUNT(*) FROM outbox WHERE state IN (0, 1)),
                       (SELECT COUNT(*) FROM images WHERE state = 0),
                       (SELECT MIN(created_at) FROM outbox WHERE state IN (0, 1))
                """;
            using var reader = command.ExecuteReader();
            reader.Read();
            int age = reader.IsDBNull(2) ? 0
                : (int)Math.Max(0, (_time.GetUtcNow().ToUnixTimeMilliseconds() - reader.GetInt64(2)) / 1000);
            return new OutboxReading(reader.GetInt32(0), reader.GetInt32(1), age);
        }
    }

    /// <summary>Routine health reports kept while the link is down; older ones give way (an event never does).</summary>
    public const int MaxRoutineHealthReports = 60;

    /// <summary>The next health report's sequence number, counted durably from 1.</summary>
    public ulong NextHealthSequence()
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = """
                INSERT INTO health_counter (id, last) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET last = last + 1;
                SELECT last FROM health_counter WHERE id = 1;
                """;
            return (ulong)(long)command.ExecuteScalar()!;
        }
    }

    /// <summary>Keeps a signed health report until the broker has it; <paramref name="urgent"/> ones (events) are never dropped.</summary>
    public void AddHealth(ulong sequence, byte[] wire, bool urgent)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = """
                INSERT OR IGNORE INTO health (sequence, wire, urgent, created_at) VALUES ($sequence, $wire, $urgent, $now);
                DELETE FROM health WHERE urgent = 0 AND sequence NOT IN
                    (SELECT sequence FROM health WHERE urgent = 0 ORDER BY sequence DESC LIMIT $keep);
                """;
            command.Parameters.AddWithValue("$sequence", (long)sequence);
            command.Parameters.AddWithValue("$wire", wire);
            command.Parameters.AddWithValue("$urgent", urgent ? 1 : 0);
            command.Parameters.AddWithValue("$now", _time.GetUtcNow().ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("$keep", MaxRoutineHealthReports);
            command.ExecuteNonQuery();
        }
    }

    /// <summary>Health reports to send, events first, then oldest first.</summary>
    public IReadOnlyList<(ulong Sequence, byte[] Wire)> HealthToSend(int max)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = "SELECT sequence, wire FROM health ORDER BY urgent DESC, sequence LIMIT $max";
            command.Parameters.AddWithValue("$max", max);
            using var reader = command.ExecuteReader();
            var list = new List<(ulong, byte[])>();
            while (reader.Read()) list.Add(((ulong)reader.GetInt64(0), (byte[])reader[1]));
            return list;
        }
    }

    public int HealthWaiting
    {
        get
        {
            lock (_lock)
            {
                using var command = _db.CreateCommand();
                command.CommandText = "SELECT count(*) FROM health";
                return (int)(long)command.ExecuteScalar()!;
            }
        }
    }

    /// <summary>The broker acknowledged the report: it is the cloud's now.</summary>
    public void MarkHealthDelivered(ulong sequence)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = "DELETE FROM health WHERE sequence = $sequence";
            command.Parameters.AddWithValue("$sequence", (long)sequence);
            command.ExecuteNonQuery();
        }
    }

    /// <summary>
    /// A PPK station keeps a TPS device's health report until the cloud's broker has it (the device forgot it when the
    /// station acknowledged): per device the newest <see cref="MaxRoutineHealthReports"/> routine ones, every urgent one.
    /// </summary>
    public void AddRelayedHealth(string device, byte[] wire, bool urgent)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = """
                INSERT INTO relayed_health (device, wire, urgent, created_at) VALUES ($device, $wire, $urgent, $now);
                DELETE FROM relayed_health WHERE device = $device AND urgent = 0 AND id NOT IN
                    (SELECT id FROM relayed_health WHERE device = $device AND urgent = 0 ORDER BY id DESC LIMIT $keep);
                """;
            command.Parameters.AddWithValue("$device", device);
            command.Parameters.AddWithValue("$wire", wire);
            command.Parameters.AddWithValue("$urgent", urgent ? 1 : 0);
            command.Parameters.AddWithValue("$now", _time.GetUtcNow().ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("$keep", MaxRoutineHealthReports);
            command.ExecuteNonQuery();
        }
    }

    /// <summary>Relayed health reports to forward, events first, then oldest first.</summary>
    public IReadOnlyList<(long Id, string Device, byte[] Wire)> RelayedHealthToSend(int max)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = "SELECT id, device, wire FROM relayed_health ORDER BY urgent DESC, id LIMIT $max";
            command.Parameters.AddWithValue("$max", max);
            using var reader = command.ExecuteReader();
            var list = new List<(long, string, byte[])>();
            while (reader.Read()) list.Add((reader.GetInt64(0), reader.GetString(1), (byte[])reader[2]));
            return list;
        }
    }

    public int RelayedHealthWaiting
    {
        get
        {
            lock (_lock)
            {
                using var command = _db.CreateCommand();
                command.CommandText = "SELECT count(*) FROM relayed_health";
                return (int)(long)command.ExecuteScalar()!;
            }
        }
    }

    public void MarkRelayedHealthDelivered(long id)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = "DELETE FROM relayed_health WHERE id = $id";
            command.Parameters.AddWithValue("$id", id);
            command.ExecuteNonQuery();
        }
    }

    /// <summary>Where the device's chain stands (last sequence number and hash), as durably recorded.</summary>
    public ChainState Chain
    {
        get
        {
            lock (_lock)
            {
                using var command = _db.CreateCommand();
                command.CommandText = "SELECT sequence, hash FROM chain WHERE id = 1";
                using var reader = command.ExecuteReader();
                return reader.Read() ? new ChainState((ulong)reader.GetInt64(0), reader.GetString(1)) : ChainState.Start;
            }
        }
    }

    /// <summary>
    /// Signs the tally as the next link of the chain and stores it with the advanced chain in one transaction.
    /// Throws <see cref="TallyRejectedException"/> (nothing stored) when the tally breaks a rule.
    /// </summary>
    public SignedSubmission SignAndAdd(FormSigner signer, C1Tally tally, Sha256Hash imageHash = default, string? correctionReason = null) =>
        SignAndAdd(signer, tally, imageHash, [], correctionReason);

    /// <summary>
    /// The same with the form's page images (as they will travel: link-compressed): their hash is signed into the form,
    /// and the pages are stored with it in the same transaction, to follow the tally once its receipt is in.
    /// </summary>
    public SignedSubmission SignAndAdd(FormSigner signer, C1Tally tally, IReadOnlyList<byte[]> pages, string? correctionReason = null) =>
        SignAndAdd(signer, tally, pages.Count == 0 ? default : ImageChunk.FormImageHash(pages), pages, correctionReason);

    private SignedSubmission SignAndAdd(FormSigner signer, C1Tally tally, Sha256Hash imageHash, IReadOnlyList<byte[]> pages, string? correctionReason)
    {
        lock (_lock)
        {
            signer.Chain = Chain;
            var signed = signer.Sign(tally, imageHash, correctionReason);
            int priority = correctionReason is null ? OutboxPriority.Tally : OutboxPriority.Correction;
            using var transaction = _db.BeginTransaction();
            Insert(transaction, signed, priority);
            InsertPages(transaction, signed, pages);
            using (var chain = _db.CreateCommand())
            {
                chain.Transaction = transaction;
                chain.CommandText = "INSERT INTO chain (id, sequence, hash) VALUES (1, $sequence, $hash) ON CONFLICT (id) DO UPDATE SET sequence = $sequence, hash = $hash";
                chain.Parameters.AddWithValue("$sequence", (long)signed.Submission.Sequence);
                chain.Parameters.AddWithValue("$hash", signed.Hash.ToString());
                chain.ExecuteNonQuery();
            }
            transaction.Commit();
            return signed;
        }
    }

    /// <summary>Stores a form signed elsewhere (a PPK station relaying a TPS device's form): sent unchanged.</summary>
    public void Add(SignedSubmission signed, int priority = OutboxPriority.Tally)
    {
        lock (_lock)
        {
            using var transaction = _db.BeginTransaction();
            Insert(transaction, signed, priority);
            transaction.Commit();
        }
    }

    /// <summary>Stores page images of a form already in the outbox (a relayed form's pages, as they arrive): sent unchanged.</summary>
    public void AddPages(SignedSubmission signed, IReadOnlyList<byte[]> pages)
    {
        lock (_lock)
        {
            using var transaction = _db.BeginTransaction();
            InsertPages(transaction, signed, pages);
            transaction.Commit();
        }
    }

    private void InsertPages(SqliteTransaction transaction, SignedSubmission signed, IReadOnlyList<byte[]> pages)
    {
        if (pages.Count == 0) return;
        var pageHashes = pages.Select(p => Sha256Hash.Of(p)).ToArray();
        var imageHash = ImageChunk.FormImageHash(pageHashes);
        if (imageHash != signed.Submission.ImageHash)
            throw new ArgumentException($"The pages hash to {imageHash}; the signed form names {signed.Submission.ImageHash}.", nameof(pages));
        using var insert = _db.CreateCommand();
        insert.Transaction = transaction;
        insert.CommandText = """
            INSERT OR IGNORE INTO images (image_hash, page, pages, page_hash, submission_hash, tps, contest, bytes)
            VALUES ($image, $page, $pages, $page_hash, $submission, $tps, $contest, $bytes)
            """;
        var pPage = insert.Parameters.Add("$page", SqliteType.Integer);
        var pPageHash = insert.Parameters.Add("$page_hash", SqliteType.Blob);
        var pBytes = insert.Parameters.Add("$bytes", SqliteType.Blob);
        insert.Parameters.AddWithValue("$image", imageHash.ToArray());
        insert.Parameters.AddWithValue("$pages", pages.Count);
        insert.Parameters.AddWithValue("$submission", signed.Hash.ToArray());
        insert.Parameters.AddWithValue("$tps", signed.Submission.Tps.Value);
        insert.Parameters.AddWithValue("$contest", (int)signed.Submission.Contest);
        for (int i = 0; i < pages.Count; i++)
        {
            pPage.Value = i;
            pPageHash.Value = pageHashes[i].ToArray();
            pBytes.Value = pages[i];
            insert.ExecuteNonQuery();
        }
    }

    /// <summary>
    /// Page images to send now: those not yet stored whose form's receipt is in (the numbers go first), oldest form
    /// first, in page order; at most <paramref name="max"/>. Pages held whole on the way (by a PPK station) that wait
    /// only for the cloud's word come after every page that still has bytes to send.
    /// </summary>
    public IReadOnlyList<PendingPage> PagesToSend(int max)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = """
                SELECT i.image_hash, i.page, i.tps, i.contest, length(i.bytes), i.confirmed,
                       (SELECT group_concat(hex(p.page_hash), '') FROM (SELECT page_hash FROM images p2 WHERE p2.image_hash = i.image_hash ORDER BY p2.page) p)
                FROM images i JOIN outbox o ON o.hash = i.submission_hash
                WHERE i.state = 0 AND o.state = 2
                ORDER BY i.confirmed >= length(i.bytes), o.priority, o.sequence, i.page LIMIT $max
                """;
            command.Parameters.AddWithValue("$max", max);
            using var r = command.ExecuteReader();
            var pages = new List<PendingPage>();
            while (r.Read())
            {
                string hashes = r.GetString(6);
                var pageHashes = Enumerable.Range(0, hashes.Length / 64).Select(k => Sha256Hash.FromBytes(Convert.FromHexString(hashes.AsSpan(k * 64, 64)))).ToArray();
                pages.Add(new PendingPage(Sha256Hash.FromBytes((byte[])r[0]), pageHashes, r.GetInt32(1), TpsCode.Parse(r.GetString(2)),
                    (ContestId)r.GetInt32(3), r.GetInt32(4), r.GetInt32(5)));
            }
            return pages;
        }
    }

    /// <summary>Bytes [offset, offset + count) of a page image (fewer at its end).</summary>
    public byte[] ReadPage(Sha256Hash imageHash, int page, int offset, int count)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = "SELECT substr(bytes, $from, $count) FROM images WHERE image_hash = $image AND page = $page";
            command.Parameters.AddWithValue("$from", offset + 1);
            command.Parameters.AddWithValue("$count", count);
            command.Parameters.AddWithValue("$image", imageHash.ToArray());
            command.Parameters.AddWithValue("$page", page);
            return command.ExecuteScalar() as byte[] ?? throw new InvalidOperationException($"No page {page} of image {imageHash} in the outbox.");
        }
    }

    /// <summary>The cloud holds the page's first <paramref name="received"/> bytes (it may say fewer than before: it is the judge).</summary>
    public void ConfirmPage(Sha256Hash imageHash, int page, int received) =>
        UpdatePage(imageHash, page, "confirmed = min($value, length(bytes))", received);

    /// <summary>The page is done: <paramref name="statement"/> is the cloud's signed word that it is stored, kept as proof.</summary>
    public void MarkPageStored(Sha256Hash imageHash, int page, string? statement = null) =>
        UpdatePage(imageHash, page, "state = 1, confirmed = length(bytes), reason = NULL, statement = $statement", null, statement);

    /// <summary>The cloud refused the page for good: <paramref name="statement"/> is its signed word, kept as proof.</summary>
    public void MarkPageRefused(Sha256Hash imageHash, int page, string reason, string? statement = null) =>
        UpdatePage(imageHash, page, "state = 2, reason = $value, statement = $statement", reason, statement);

    /// <summary>A page's hash and size as the device signed them, or null if the outbox has no such page.</summary>
    public (Sha256Hash PageHash, int Size)? FindPage(Sha256Hash imageHash, int page)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = "SELECT page_hash, length(bytes) FROM images WHERE image_hash = $image AND page = $page";
            command.Parameters.AddWithValue("$image", imageHash.ToArray());
            command.Parameters.AddWithValue("$page", page);
            using var r = command.ExecuteReader();
            return r.Read() ? (Sha256Hash.FromBytes((byte[])r[0]), r.GetInt32(1)) : null;
        }
    }

    /// <summary>The cloud's signed statement kept for a settled page (null while the page is pending).</summary>
    public string? PageStatement(Sha256Hash imageHash, int page)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = "SELECT statement FROM images WHERE image_hash = $image AND page = $page";
            command.Parameters.AddWithValue("$image", imageHash.ToArray());
            command.Parameters.AddWithValue("$page", page);
            return command.ExecuteScalar() as string;
        }
    }

    private void UpdatePage(Sha256Hash imageHash, int page, string set, object? value, string? statement = null)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = $"UPDATE images SET {set} WHERE image_hash = $image AND page = $page AND state = 0";
            command.Parameters.AddWithValue("$image", imageHash.ToArray());
            command.Parameters.AddWithValue("$page", page);
            command.Parameters.AddWithValue("$value", value ?? DBNull.Value);
            command.Parameters.AddWithValue("$statement", statement ?? (object)DBNull.Value);
            command.ExecuteNonQuery();
        }
    }

    /// <summary>The bytes of every page of a form image the outbox holds, in page order (empty when it holds none).</summary>
    public IReadOnlyList<byte[]> PageImages(Sha256Hash imageHash)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = "SELECT bytes FROM images WHERE image_hash = $image ORDER BY page";
            command.Parameters.AddWithValue("$image", imageHash.ToArray());
            using var r = command.ExecuteReader();
            var pages = new List<byte[]>();
            while (r.Read()) pages.Add((byte[])r[0]);
            return pages;
        }
    }

    /// <summary>Every page image in the outbox with its state and the reason when refused (a refused form's pages are refused too).</summary>
    public IReadOnlyList<(Sha256Hash ImageHash, int Page, ContestId Contest, int Size, int Confirmed, PageState State, string? Reason)> Pages()
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = """
                SELECT i.image_hash, i.page, i.contest, length(i.bytes), i.confirmed,
                       CASE WHEN i.state = 0 AND o.state = 3 THEN 2 ELSE i.state END, COALESCE(i.reason, CASE WHEN o.state = 3 THEN o.reason END)
                FROM images i JOIN outbox o ON o.hash = i.submission_hash ORDER BY o.sequence, i.page
                """;
            using var r = command.ExecuteReader();
            var pages = new List<(Sha256Hash, int, ContestId, int, int, PageState, string?)>();
            while (r.Read())
                pages.Add((Sha256Hash.FromBytes((byte[])r[0]), r.GetInt32(1), (ContestId)r.GetInt32(2), r.GetInt32(3), r.GetInt32(4),
                    (PageState)r.GetInt32(5), r.IsDBNull(6) ? null : r.GetString(6)));
            return pages;
        }
    }

    private void Insert(SqliteTransaction transaction, SignedSubmission signed, int priority)
    {
        using var insert = _db.CreateCommand();
        insert.Transaction = transaction;
        insert.CommandText = """
            INSERT OR IGNORE INTO outbox (hash, sequence, tps, contest, priority, wire, state, created_at)
            VALUES ($hash, $sequence, $tps, $contest, $priority, $wire, 0, $now)
            """;
        insert.Parameters.AddWithValue("$hash", signed.Hash.ToArray());
        insert.Parameters.AddWithValue("$sequence", (long)signed.Submission.Sequence);
        insert.Parameters.AddWithValue("$tps", signed.Submission.Tps.Value);
        insert.Parameters.AddWithValue("$contest", (int)signed.Submission.Contest);
        insert.Parameters.AddWithValue("$priority", priority);
        insert.Parameters.AddWithValue("$wire", signed.Wire);
        insert.Parameters.AddWithValue("$now", _time.GetUtcNow().ToUnixTimeMilliseconds());
        insert.ExecuteNonQuery();
    }

    /// <summary>
    /// What to send now, first things first: queued forms, and forms sent more than <paramref name="resendAfter"/> ago
    /// without a verified receipt; at most <paramref name="max"/>. A PPK station's own statements only once no form
    /// waits or is in flight: they name forms the cloud must hold first.
    /// </summary>
    public IReadOnlyList<OutboxEntry> Due(TimeSpan resendAfter, int max)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = $"""
                {Select} WHERE (state = 0 OR (state = 1 AND last_sent_at <= $before))
                  AND (kind = 0 OR NOT EXISTS (SELECT 1 FROM outbox f WHERE f.kind = 0 AND f.state IN (0, 1)))
                ORDER BY priority, sequence LIMIT $max
                """;
            command.Parameters.AddWithValue("$before", (_time.GetUtcNow() - resendAfter).ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("$max", max);
            return Read(command);
        }
    }

    /// <summary>Forms sent whose receipt is still awaited and not yet due for resending.</summary>
    public int InFlight(TimeSpan resendAfter)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = "SELECT COUNT(*) FROM outbox WHERE state = 1 AND last_sent_at > $before";
            command.Parameters.AddWithValue("$before", (_time.GetUtcNow() - resendAfter).ToUnixTimeMilliseconds());
            return Convert.ToInt32(command.ExecuteScalar());
        }
    }

    /// <summary>When the oldest form in flight falls due for resending, if any is in flight.</summary>
    public DateTimeOffset? NextResendAt(TimeSpan resendAfter)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = "SELECT MIN(last_sent_at) FROM outbox WHERE state = 1";
            return command.ExecuteScalar() is long oldest ? DateTimeOffset.FromUnixTimeMilliseconds(oldest) + resendAfter : null;
        }
    }

    public OutboxEntry? Find(Sha256Hash hash)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = $"{Select} WHERE hash = $hash";
            command.Parameters.AddWithValue("$hash", hash.ToArray());
            return Read(command).SingleOrDefault();
        }
    }

    public IReadOnlyList<OutboxEntry> All()
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = $"{Select} WHERE kind = 0 ORDER BY sequence";
            return Read(command);
        }
    }

    /// <summary>
    /// At a (re)start: whatever an earlier process sent without a receipt is due again now — its connection is gone,
    /// and waiting out the resend interval would only delay delivery (a resend is counted once).
    /// </summary>
    public void ReleaseInFlight()
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = "UPDATE outbox SET last_sent_at = 0 WHERE state = 1";
            command.ExecuteNonQuery();
        }
    }

    public void MarkSent(Sha256Hash hash) => Update(hash, "state = 1, attempts = attempts + 1, last_sent_at = $now", "state IN (0, 1)");

    /// <summary>Delivered: the receipt verified. Later receipts for it change nothing.</summary>
    public void MarkReceipted(Sha256Hash hash, Receipt receipt) =>
        Update(hash, "state = 2, log_index = $log_index, reason = NULL, finding = $finding", "state IN (0, 1)", ("$log_index", receipt.LogIndex), ("$finding", receipt.Finding));

    public void MarkRejected(Sha256Hash hash, Receipt receipt) =>
        Update(hash, "state = 3, reason = $reason", "state IN (0, 1)", ("$reason", $"{receipt.Reason}: {receipt.Detail}"));

    private void Update(Sha256Hash hash, string set, string when, params (string Name, object? Value)[] values)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = $"UPDATE outbox SET {set} WHERE hash = $hash AND {when}";
            command.Parameters.AddWithValue("$hash", hash.ToArray());
            command.Parameters.AddWithValue("$now", _time.GetUtcNow().ToUnixTimeMilliseconds());
            foreach (var (name, value) in values) command.Parameters.AddWithValue(name, value ?? DBNull.Value);
            command.ExecuteNonQuery();
        }
    }

    public OutboxStatus Status()
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = "SELECT state, COUNT(*) FROM outbox GROUP BY state";
            var counts = new int[4];
            using (var reader = command.ExecuteReader())
                while (reader.Read()) counts[reader.GetInt32(0)] = reader.GetInt32(1);
            command.CommandText = """
                SELECT COUNT(*), COALESCE(SUM(i.state = 1), 0), COALESCE(SUM(i.state = 2 OR (i.state = 0 AND o.state = 3)), 0),
                       COALESCE(SUM(i.confirmed), 0), COALESCE(SUM(length(i.bytes)), 0)
                FROM images i JOIN outbox o ON o.hash = i.submission_hash
                """;
            using var images = command.ExecuteReader();
            images.Read();
            return new OutboxStatus(counts[0], counts[1], counts[2], counts[3])
            {
                Images = new ImageProgress(images.GetInt32(0), images.GetInt32(1), images.GetInt32(2), images.GetInt64(3), images.GetInt64(4)),
            };
        }
    }

    /// <summary>SQLite's own check of the file (pages, indexes): "ok" when intact.</summary>
    public string IntegrityCheck()
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = "PRAGMA integrity_check";
            return (string)command.ExecuteScalar()!;
        }
    }

    public void Dispose() => _db.Dispose();

    private const string Select = "SELECT hash, sequence, tps, contest, priority, wire, state, created_at, last_sent_at, attempts, reason, log_index, kind, finding FROM outbox";

    private static List<OutboxEntry> Read(SqliteCommand command)
    {
        using var reader = command.ExecuteReader();
        var entries = new List<OutboxEntry>();
        while (reader.Read())
        {
            entries.Add(new OutboxEntry(
                Sha256Hash.FromBytes((byte[])reader[0]), (ulong)reader.GetInt64(1), TpsCode.Parse(reader.GetString(2)), (ContestId)reader.GetInt32(3),
                reader.GetInt32(4), (byte[])reader[5], (OutboxState)reader.GetInt32(6), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(7)),
                reader.IsDBNull(8) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(8)), reader.GetInt32(9),
                reader.IsDBNull(10) ? null : reader.GetString(10), reader.IsDBNull(11) ? null : reader.GetInt64(11),
                (OutboxKind)reader.GetInt32(12), reader.IsDBNull(13) ? null : reader.GetString(13)));
        }
        return entries;
    }

    private void Execute(string sql)
    {
        using var command = _db.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
