using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using Microsoft.Data.Sqlite;

namespace KpuEdge.Edge.Relay;

/// <summary>A form image the station is putting together from a TPS device's chunks: its pages' hashes, in order.</summary>
internal sealed record RelayedImage(Sha256Hash ImageHash, TpsCode Tps, ContestId Contest, IReadOnlyList<Sha256Hash> PageHashes, bool Forwarded);

/// <summary>
/// What a PPK station remembers beside its outbox (one SQLite file, WAL, synchronous=FULL, next to it): which form
/// each TPS device asked it to relay (and the correlation data to answer with), the cloud's receipt for each form as
/// it arrived, and the form images being put together. The forms themselves sit in the station's
/// <see cref="Delivery.Outbox"/>, unchanged.
/// </summary>
internal sealed class RelayStore : IDisposable
{
    public const string FileName = "relay.db";

    private readonly SqliteConnection _db;
    private readonly Lock _lock = new();

    public RelayStore(string path)
    {
        _db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        _db.Open();
        using var command = _db.CreateCommand();
        command.CommandText = """
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = FULL;
            CREATE TABLE IF NOT EXISTS forms (
                hash       BLOB    PRIMARY KEY,
                tps        TEXT    NOT NULL,
                contest    INTEGER NOT NULL,
                image_hash BLOB,
                device_id  TEXT    NOT NULL,
                taken_at   INTEGER NOT NULL
            );
            CREATE INDEX IF NOT EXISTS forms_image ON forms (image_hash);
            -- Who asked for a form to be relayed: the receipt goes back to each of them.
            CREATE TABLE IF NOT EXISTS requests (
                hash        BLOB    NOT NULL,
                client_id   TEXT    NOT NULL,
                correlation BLOB,
                asked_at    INTEGER NOT NULL,
                PRIMARY KEY (hash, client_id)
            );
            -- The cloud's receipt as it came (JSON), kept to answer a device that sends the form again.
            CREATE TABLE IF NOT EXISTS receipts (
                hash        BLOB    PRIMARY KEY,
                receipt     BLOB    NOT NULL,
                received_at INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS images (
                image_hash  BLOB    PRIMARY KEY,
                tps         TEXT    NOT NULL,
                contest     INTEGER NOT NULL,
                page_hashes BLOB    NOT NULL,
                forwarded   INTEGER NOT NULL DEFAULT 0
            );
            -- The cloud's final answer about a page (JSON with its signed statement), kept to pass on to the TPS device.
            CREATE TABLE IF NOT EXISTS page_answers (
                image_hash BLOB    NOT NULL,
                page       INTEGER NOT NULL,
                answer     BLOB    NOT NULL,
                PRIMARY KEY (image_hash, page)
            );
            """;
        command.ExecuteNonQuery();
    }

    /// <summary>Records a form taken from <paramref name="clientId"/> and the correlation data to answer it with (the latest wins).</summary>
    public void RecordForm(SignedSubmission signed, string clientId, byte[]? correlation, DateTimeOffset now)
    {
        lock (_lock)
        {
            using var transaction = _db.BeginTransaction();
            using (var form = _db.CreateCommand())
            {
                form.Transaction = transaction;
                form.CommandText = """
                    INSERT OR IGNORE INTO forms (hash, tps, contest, image_hash, device_id, taken_at)
                    VALUES ($hash, $tps, $contest, $image, $device, $now)
                    """;
                form.Parameters.AddWithValue("$hash", signed.Hash.ToArray());
                form.Parameters.AddWithValue("$tps", signed.Submission.Tps.Value);
                form.Parameters.AddWithValue("$contest", (int)signed.Submission.Contest);
                form.Parameters.AddWithValue("$image", signed.Submission.ImageHash.IsEmpty ? DBNull.Value : signed.Submission.ImageHash.ToArray());
                form.Parameters.AddWithValue("$device", signed.Submission.DeviceId);
                form.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
                form.ExecuteNonQuery();
            }
            using (var request = _db.CreateCommand())
            {
                request.Transaction = transaction;
                request.CommandText = """
                    INSERT INTO requests (hash, client_id, correlation, asked_at) VALUES ($hash, $client, $correlation, $now)
                    ON CONFLICT (hash, client_id) DO UPDATE SET correlation = $correlation, asked_at = $now
                    """;
                request.Parameters.AddWithValue("$hash", signed.Hash.ToArray());
                request.Parameters.AddWithValue("$client", clientId);
                request.Parameters.AddWithValue("$correlation", (object?)correlation ?? DBNull.Value);
                request.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
                request.ExecuteNonQuery();
            }
            transaction.Commit();
        }
    }

    /// <summary>The devices that asked for this form, with the correlation data each gave.</summary>
    public IReadOnlyList<(string ClientId, byte[]? Correlation)> Requesters(Sha256Hash hash)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = "SELECT client_id, correlation FROM requests WHERE hash = $hash ORDER BY asked_at";
            command.Parameters.AddWithValue("$hash", hash.ToArray());
            using var r = command.ExecuteReader();
            var requesters = new List<(string, byte[]?)>();
            while (r.Read()) requesters.Add((r.GetString(0), r.IsDBNull(1) ? null : (byte[])r[1]));
            return requesters;
        }
    }

    /// <summary>Forms held for this TPS and contest that name this image, oldest first.</summary>
    public IReadOnlyList<Sha256Hash> FormsNaming(TpsCode tps, ContestId contest, Sha256Hash imageHash)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = "SELECT hash FROM forms WHERE image_hash = $image AND tps = $tps AND contest = $contest ORDER BY taken_at";
            command.Parameters.AddWithValue("$image", imageHash.ToArray());
            command.Parameters.AddWithValue("$tps", tps.Value);
            command.Parameters.AddWithValue("$contest", (int)contest);
            using var r = command.ExecuteReader();
            var hashes = new List<Sha256Hash>();
            while (r.Read()) hashes.Add(Sha256Hash.FromBytes((byte[])r[0]));
            return hashes;
        }
    }

    /// <summary>Keeps the cloud's receipt for a form (the first one kept wins: later ones say the same of the same bytes).</summary>
    public void SaveReceipt(Sha256Hash hash, byte[] receipt, DateTimeOffset now)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = "INSERT OR IGNORE INTO receipts (hash, receipt, received_at) VALUES ($hash, $receipt, $now)";
            command.Parameters.AddWithValue("$hash", hash.ToArray());
            command.Parameters.AddWithValue("$receipt", receipt);
            command.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
            command.ExecuteNonQuery();
        }
    }

    public byte[]? ReceiptFor(Sha256Hash hash)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = "SELECT receipt FROM receipts WHERE hash = $hash";
            command.Parameters.AddWithValue("$hash", hash.ToArray());
            return command.ExecuteScalar() as byte[];
        }
    }

    /// <summary>Notes an image being received (its page list comes with every chunk); idempotent.</summary>
    public void RecordImage(Sha256Hash imageHash, TpsCode tps, ContestId contest, IReadOnlyList<Sha256Hash> pageHashes)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = "INSERT OR IGNORE INTO images (image_hash, tps, contest, page_hashes) VALUES ($image, $tps, $contest, $pages)";
            command.Parameters.AddWithValue("$image", imageHash.ToArray());
            command.Parameters.AddWithValue("$tps", tps.Value);
            command.Parameters.AddWithValue("$contest", (int)contest);
            command.Parameters.AddWithValue("$pages", pageHashes.SelectMany(p => p.ToArray()).ToArray());
            command.ExecuteNonQuery();
        }
    }

    /// <summary>Keeps the cloud's final answer about a page (the first one kept wins: the cloud says the same each time).</summary>
    public void SavePageAnswer(Sha256Hash imageHash, int page, byte[] answer)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = "INSERT OR IGNORE INTO page_answers (image_hash, page, answer) VALUES ($image, $page, $answer)";
            command.Parameters.AddWithValue("$image", imageHash.ToArray());
            command.Parameters.AddWithValue("$page", page);
            command.Parameters.AddWithValue("$answer", answer);
            command.ExecuteNonQuery();
        }
    }

    /// <summary>The cloud's final answer about a page, if it came.</summary>
    public byte[]? PageAnswer(Sha256Hash imageHash, int page)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = "SELECT answer FROM page_answers WHERE image_hash = $image AND page = $page";
            command.Parameters.AddWithValue("$image", imageHash.ToArray());
            command.Parameters.AddWithValue("$page", page);
            return command.ExecuteScalar() as byte[];
        }
    }

    /// <summary>The cloud's final answers about the pages of every image named by a form this device gave the station.</summary>
    public IReadOnlyList<byte[]> PageAnswersOf(string deviceId)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = """
                SELECT a.answer FROM page_answers a
                WHERE a.image_hash IN (SELECT image_hash FROM forms WHERE device_id = $device AND image_hash IS NOT NULL)
                ORDER BY a.image_hash, a.page
                """;
            command.Parameters.AddWithValue("$device", deviceId);
            using var r = command.ExecuteReader();
            var answers = new List<byte[]>();
            while (r.Read()) answers.Add((byte[])r[0]);
            return answers;
        }
    }

    /// <summary>The devices that gave the station a form naming this image.</summary>
    public IReadOnlyList<string> DevicesOf(Sha256Hash imageHash)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = "SELECT DISTINCT device_id FROM forms WHERE image_hash = $image ORDER BY device_id";
            command.Parameters.AddWithValue("$image", imageHash.ToArray());
            using var r = command.ExecuteReader();
            var devices = new List<string>();
            while (r.Read()) devices.Add(r.GetString(0));
            return devices;
        }
    }

    /// <summary>The image's pages are in the outbox, on their way to the cloud.</summary>
    public void MarkImageForwarded(Sha256Hash imageHash)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = "UPDATE images SET forwarded = 1 WHERE image_hash = $image";
            command.Parameters.AddWithValue("$image", imageHash.ToArray());
            command.ExecuteNonQuery();
        }
    }

    public RelayedImage? Image(Sha256Hash imageHash) => ReadImages("WHERE image_hash = $image", imageHash).SingleOrDefault();

    /// <summary>Images not yet handed to the outbox (after a restart: those completed just before it).</summary>
    public IReadOnlyList<RelayedImage> ImagesNotForwarded() => ReadImages("WHERE forwarded = 0", null);

    private List<RelayedImage> ReadImages(string where, Sha256Hash? imageHash)
    {
        lock (_lock)
        {
            using var command = _db.CreateCommand();
            command.CommandText = $"SELECT image_hash, tps, contest, page_hashes, forwarded FROM images {where}";
            if (imageHash is { } hash) command.Parameters.AddWithValue("$image", hash.ToArray());
            using var r = command.ExecuteReader();
            var images = new List<RelayedImage>();
            while (r.Read())
            {
                var pages = (byte[])r[3];
                var pageHashes = Enumerable.Range(0, pages.Length / Sha256Hash.Size)
                    .Select(i => Sha256Hash.FromBytes(pages.AsSpan(i * Sha256Hash.Size, Sha256Hash.Size))).ToArray();
                images.Add(new RelayedImage(Sha256Hash.FromBytes((byte[])r[0]), TpsCode.Parse(r.GetString(1)), (ContestId)r.GetInt32(2),
                    pageHashes, r.GetInt64(4) != 0));
            }
            return images;
        }
    }

    public void Dispose() => _db.Dispose();
}
