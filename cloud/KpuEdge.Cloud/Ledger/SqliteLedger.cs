using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using Microsoft.Data.Sqlite;

namespace KpuEdge.Cloud.Ledger;

/// <summary>
/// The ledger in one SQLite file, WAL mode with synchronous=FULL: a transaction that returned is on disk,
/// so acknowledging after <see cref="Append"/> never acknowledges something a power cut could lose.
/// One writer (the ingest sequencer); readers open their own pooled connections.
/// </summary>
public sealed class SqliteLedger : IResultsLedger
{
    private readonly string _connectionString;
    private readonly SqliteConnection _writer;
    private readonly Lock _writeLock = new();
    private long _lastPosition;

    public SqliteLedger(string path)
    {
        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true }.ToString();
        _writer = new SqliteConnection(_connectionString);
        _writer.Open();
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
                wire        BLOB    NOT NULL
            );
            CREATE INDEX IF NOT EXISTS submissions_tps ON submissions (tps, contest);
            CREATE INDEX IF NOT EXISTS submissions_device ON submissions (device_id, sequence);
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
            """);
        using var max = _writer.CreateCommand();
        max.CommandText = "SELECT COALESCE(MAX(position), 0) FROM submissions";
        _lastPosition = (long)max.ExecuteScalar()!;
    }

    public long Count => Interlocked.Read(ref _lastPosition);

    public IReadOnlyList<long> Append(
        IReadOnlyList<(SignedSubmission Submission, DateTimeOffset ReceivedAt)> accepted, IReadOnlyList<Rejection> rejections)
    {
        lock (_writeLock)
        {
            var positions = new long[accepted.Count];
            using var transaction = _writer.BeginTransaction();
            if (accepted.Count > 0)
            {
                using var insert = _writer.CreateCommand();
                insert.Transaction = transaction;
                insert.CommandText = """
                    INSERT INTO submissions (position, hash, device_id, sequence, tps, contest, received_at, wire)
                    VALUES ($position, $hash, $device, $sequence, $tps, $contest, $received, $wire)
                    """;
                var pPosition = insert.Parameters.Add("$position", SqliteType.Integer);
                var pHash = insert.Parameters.Add("$hash", SqliteType.Blob);
                var pDevice = insert.Parameters.Add("$device", SqliteType.Text);
                var pSequence = insert.Parameters.Add("$sequence", SqliteType.Integer);
                var pTps = insert.Parameters.Add("$tps", SqliteType.Text);
                var pContest = insert.Parameters.Add("$contest", SqliteType.Integer);
                var pReceived = insert.Parameters.Add("$received", SqliteType.Integer);
                var pWire = insert.Parameters.Add("$wire", SqliteType.Blob);
                insert.Prepare();
                long next = _lastPosition;
                for (int i = 0; i < accepted.Count; i++)
                {
                    var (s, receivedAt) = accepted[i];
                    positions[i] = ++next;
                    pPosition.Value = next;
                    pHash.Value = s.Hash.ToArray();
                    pDevice.Value = s.Submission.DeviceId;
                    pSequence.Value = (long)s.Submission.Sequence;
                    pTps.Value = s.Submission.Tps.Value;
                    pContest.Value = (int)s.Submission.Contest;
                    pReceived.Value = receivedAt.ToUnixTimeMilliseconds();
                    pWire.Value = s.Wire;
                    insert.ExecuteNonQuery();
                }
            }
            if (rejections.Count > 0)
            {
                using var insert = _writer.CreateCommand();
                insert.Transaction = transaction;
                insert.CommandText = """
                    INSERT INTO rejections (received_at, topic, device_id, reason, detail, payload_hash, size)
                    VALUES ($received, $topic, $device, $reason, $detail, $hash, $size)
                    """;
                foreach (var r in rejections)
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
            }
            transaction.Commit();
            if (accepted.Count > 0) Interlocked.Exchange(ref _lastPosition, positions[^1]);
            return positions;
        }
    }

    public long? FindPosition(Sha256Hash hash)
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT position FROM submissions WHERE hash = $hash";
        command.Parameters.AddWithValue("$hash", hash.ToArray());
        return command.ExecuteScalar() is long position ? position : null;
    }

    public (long Position, Sha256Hash Hash)? FindBySequence(string deviceId, ulong sequence)
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT position, hash FROM submissions WHERE device_id = $device AND sequence = $sequence";
        command.Parameters.AddWithValue("$device", deviceId);
        command.Parameters.AddWithValue("$sequence", (long)sequence);
        using var reader = command.ExecuteReader();
        return reader.Read() ? (reader.GetInt64(0), Sha256Hash.FromBytes((byte[])reader[1])) : null;
    }

    public IEnumerable<LedgerEntry> ReadAll()
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = $"{SelectEntry} ORDER BY position";
        using var reader = command.ExecuteReader();
        while (reader.Read()) yield return ReadEntry(reader);
    }

    public IReadOnlyList<LedgerEntry> ForTps(TpsCode tps)
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = $"{SelectEntry} WHERE tps = $tps ORDER BY position";
        command.Parameters.AddWithValue("$tps", tps.Value);
        using var reader = command.ExecuteReader();
        var entries = new List<LedgerEntry>();
        while (reader.Read()) entries.Add(ReadEntry(reader));
        return entries;
    }

    public IReadOnlyDictionary<string, DeviceHead> DeviceHeads()
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        // SQLite returns the row holding the MAX() for the bare column (documented behaviour).
        command.CommandText = "SELECT device_id, MAX(sequence), hash FROM submissions GROUP BY device_id";
        using var reader = command.ExecuteReader();
        var heads = new Dictionary<string, DeviceHead>(StringComparer.Ordinal);
        while (reader.Read())
            heads[reader.GetString(0)] = new DeviceHead((ulong)reader.GetInt64(1), Sha256Hash.FromBytes((byte[])reader[2]));
        return heads;
    }

    public IReadOnlyDictionary<string, long> RejectionCounts()
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT reason, COUNT(*) FROM rejections GROUP BY reason ORDER BY reason";
        using var reader = command.ExecuteReader();
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        while (reader.Read()) counts[reader.GetString(0)] = reader.GetInt64(1);
        return counts;
    }

    public IReadOnlyList<TpsCode> ReportingTps()
    {
        using var connection = OpenReader();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT DISTINCT tps FROM submissions ORDER BY tps";
        using var reader = command.ExecuteReader();
        var codes = new List<TpsCode>();
        while (reader.Read()) codes.Add(TpsCode.Parse(reader.GetString(0)));
        return codes;
    }

    public void Dispose()
    {
        _writer.Dispose();
        SqliteConnection.ClearAllPools();
    }

    private const string SelectEntry = "SELECT position, hash, device_id, sequence, tps, contest, received_at, wire FROM submissions";

    private static LedgerEntry ReadEntry(SqliteDataReader r) => new(
        r.GetInt64(0), Sha256Hash.FromBytes((byte[])r[1]), r.GetString(2), (ulong)r.GetInt64(3), TpsCode.Parse(r.GetString(4)),
        (ContestId)r.GetInt32(5), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(6)), (byte[])r[7]);

    private SqliteConnection OpenReader()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        return connection;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
