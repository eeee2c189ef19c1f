using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Security;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Transparency;

namespace KpuEdge.Cloud.Transparency;

/// <summary>A checkpoint the log signed: the note text as published and what it says.</summary>
public sealed record LogCheckpoint(long Size, byte[] Root, string Note);

/// <summary>An inclusion proof of one entry against a signed checkpoint.</summary>
public sealed record InclusionAnswer(long LeafIndex, long TreeSize, IReadOnlyList<byte[]> Proof, LogCheckpoint Checkpoint);

/// <summary>Thrown at start when the stored log no longer matches a checkpoint the log signed: the record was altered.</summary>
public sealed class LogTamperedException(string message) : Exception(message);

/// <summary>
/// The public, append-only transparency log of accepted submissions and revocations (RFC 9162 Merkle tree over the
/// ledger's log entries, C2SP signed checkpoints). Its entries are written by the ledger in the same transaction as
/// what they record, and appended to the tree in the same order under one lock, so the tree never disagrees with
/// the ledger. On start it is rebuilt from the ledger and checked against the last published checkpoint.
/// </summary>
public sealed class TransparencyLog
{
    private readonly IResultsLedger _ledger;
    private readonly CheckpointSigner _signer;
    private readonly TimeProvider _time;
    private readonly ILogger<TransparencyLog> _logger;
    private readonly MerkleTree _tree = new();
    private readonly Lock _appendLock = new();
    private readonly ReaderWriterLockSlim _treeLock = new();
    private LogCheckpoint _latest;
    private long _publishedSize = -1;

    public TransparencyLog(IResultsLedger ledger, LogSigningKey key, TimeProvider time, ILogger<TransparencyLog> logger)
    {
        _ledger = ledger;
        _signer = new CheckpointSigner(key.Key, key.Origin);
        Origin = key.Origin;
        VerifierKey = key.VerifierKey;
        _time = time;
        _logger = logger;
        _latest = Sign(0, _tree.Root());
    }

    public string Origin { get; }

    /// <summary>The C2SP verifier key text anyone checks checkpoints with.</summary>
    public string VerifierKey { get; }

    public long Size
    {
        get
        {
            _treeLock.EnterReadLock();
            try { return _tree.Size; }
            finally { _treeLock.ExitReadLock(); }
        }
    }

    public LogCheckpoint Latest => Volatile.Read(ref _latest);

    /// <summary>Rebuilds the tree from the ledger and checks it against the newest published checkpoint.</summary>
    public void Load()
    {
        lock (_appendLock)
        {
            long count = _ledger.LogCount;
            _treeLock.EnterWriteLock();
            try
            {
                foreach (var entry in _ledger.ReadLog(0, count)) _tree.Append(entry);
            }
            finally { _treeLock.ExitWriteLock(); }
            var published = _ledger.LatestCheckpoint();
            if (published is not null)
            {
                if (published.Size > _tree.Size)
                    throw Tampered($"the log holds {_tree.Size} entries but checkpoint {published.Size} was published; entries were removed");
                var root = _tree.Root(published.Size);
                if (!root.AsSpan().SequenceEqual(published.Root))
                    throw Tampered($"the first {published.Size} entries no longer hash to the published root: an entry was altered");
                _publishedSize = published.Size;
            }
            Volatile.Write(ref _latest, Sign(_tree.Size, _tree.Root()));
            _logger.LogInformation("Transparency log {Origin}: {Size} entries, checked against checkpoint {Published}",
                Origin, _tree.Size, published?.Size ?? 0);
        }
    }

    private LogTamperedException Tampered(string what)
    {
        _ledger.AppendEvents([new SecurityEvent
        {
            Ts = _time.GetUtcNow(), Kind = SecurityEventKinds.LogTampered, Severity = SecuritySeverity.Critical,
            Source = SecurityEventSources.Log, Detail = what,
        }]);
        return new LogTamperedException($"The transparency log does not match what it published: {what}. The cloud will not sign over it.");
    }

    /// <summary>Commits a batch to the ledger and appends its log entries to the tree, then signs a checkpoint covering them.</summary>
    public (LedgerCommit Commit, LogCheckpoint Checkpoint) Commit(LedgerBatch batch)
    {
        lock (_appendLock)
        {
            var commit = _ledger.Append(batch);
            if (commit.LogEntries.Count == 0) return (commit, Latest);
            _treeLock.EnterWriteLock();
            try
            {
                if (_tree.Size != commit.FirstLogIndex)
                    throw new InvalidOperationException($"Log index {commit.FirstLogIndex} given by the ledger, but the tree has {_tree.Size} entries.");
                foreach (var entry in commit.LogEntries) _tree.Append(entry);
            }
            finally { _treeLock.ExitWriteLock(); }
            var checkpoint = SignLatest();
            return (commit, checkpoint);
        }
    }

    private LogCheckpoint SignLatest()
    {
        _treeLock.EnterReadLock();
        LogCheckpoint checkpoint;
        try { checkpoint = Sign(_tree.Size, _tree.Root()); }
        finally { _treeLock.ExitReadLock(); }
        Volatile.Write(ref _latest, checkpoint);
        return checkpoint;
    }

    /// <summary>The cloud's signed refusal of a submission, by the log key (verified by devices before they give a form up).</summary>
    public string SignRejection(Sha256Hash submission, string reason, DateTimeOffset at) => _signer.Sign(new RejectionStatement(submission, reason, at));

    /// <summary>The cloud's signed word that a page image is stored (or why it was refused), verified by devices before they give the page up.</summary>
    public string SignImage(ImageStatement statement) => _signer.Sign(statement);

    private LogCheckpoint Sign(long size, byte[] root) => new(size, root, _signer.Sign(size, root));

    /// <summary>Persists the latest checkpoint if the log grew since the last one: what "published" means here.</summary>
    public LogCheckpoint Publish()
    {
        lock (_appendLock)
        {
            var latest = Latest;
            if (latest.Size > _publishedSize)
            {
                _ledger.SaveCheckpoint(new StoredCheckpoint(latest.Size, latest.Root, latest.Note, _time.GetUtcNow()));
                _publishedSize = latest.Size;
            }
            return latest;
        }
    }

    /// <summary>Proves entry <paramref name="index"/> in <paramref name="checkpoint"/> (the latest when null).</summary>
    public InclusionAnswer ProveInclusion(long index, LogCheckpoint? checkpoint = null)
    {
        checkpoint ??= Latest;
        if (index < 0 || index >= checkpoint.Size)
            throw new ArgumentOutOfRangeException(nameof(index), $"Entry {index} is not in a log of {checkpoint.Size} entries.");
        _treeLock.EnterReadLock();
        try { return new InclusionAnswer(index, checkpoint.Size, _tree.InclusionProof(index, checkpoint.Size), checkpoint); }
        finally { _treeLock.ExitReadLock(); }
    }

    /// <summary>Proves entry <paramref name="index"/> in the tree of <paramref name="size"/> entries (no checkpoint attached).</summary>
    public IReadOnlyList<byte[]> ProveInclusionAt(long index, long size)
    {
        _treeLock.EnterReadLock();
        try
        {
            if (size < 1 || size > _tree.Size || index < 0 || index >= size)
                throw new ArgumentOutOfRangeException(nameof(size), $"No entry {index} in a tree of {size} (the log has {_tree.Size}).");
            return _tree.InclusionProof(index, size);
        }
        finally { _treeLock.ExitReadLock(); }
    }

    public IReadOnlyList<byte[]> ProveConsistency(long from, long to)
    {
        _treeLock.EnterReadLock();
        try
        {
            if (from < 1 || from > to || to > _tree.Size)
                throw new ArgumentOutOfRangeException(nameof(to), $"No consistency proof from {from} to {to} (the log has {_tree.Size}).");
            return _tree.ConsistencyProof(from, to);
        }
        finally { _treeLock.ExitReadLock(); }
    }
}

/// <summary>The log's Ed25519 key and the origin line its checkpoints carry.</summary>
public sealed class LogSigningKey(DeviceKey key, string origin)
{
    public DeviceKey Key { get; } = key;
    public string Origin { get; } = origin;
    public string VerifierKey { get; } = NoteVerifierKey.Create(origin, key).ToString();
}
