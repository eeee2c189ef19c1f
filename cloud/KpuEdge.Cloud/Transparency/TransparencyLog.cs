using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Security;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Transparency;

namespace KpuEdge.Cloud.Transparency;

/// <summary>A checkpoint the log signed: the note text as published and what it says.</summary>
[GenerateSerializer, Immutable, Alias("kpu.LogCheckpoint")]
public sealed record LogCheckpoint([property: Id(0)] long Size, [property: Id(1)] byte[] Root, [property: Id(2)] string Note);

/// <summary>An inclusion proof of one entry against a signed checkpoint.</summary>
public sealed record InclusionAnswer(long LeafIndex, long TreeSize, IReadOnlyList<byte[]> Proof, LogCheckpoint Checkpoint);

/// <summary>Thrown at start when the stored log no longer matches a checkpoint the log signed: the record was altered.</summary>
public sealed class LogTamperedException(string message) : Exception(message);

/// <summary>Signs checkpoints of the log: one signer at a time for the whole cluster (<see cref="LogSignerGrain"/>).</summary>
public interface ICheckpointSigner
{
    /// <summary>Signs the checkpoint of the log's first <paramref name="size"/> entries, whose root the caller computed.</summary>
    Task<LogCheckpoint> SignAsync(long size, byte[] root);

    /// <summary>Signs the whole log as the ledger holds it now, if it grew, and persists that checkpoint (publishes it).</summary>
    Task<LogCheckpoint> PublishAsync();
}

/// <summary>
/// The public, append-only transparency log of accepted submissions and revocations (RFC 9162 Merkle tree over the
/// ledger's log entries, C2SP signed checkpoints). The ledger allocates log indexes and stores the entries in the
/// same transaction as what they record; each node's tree follows the ledger — its own commits directly, other
/// nodes' by reading the entries in between — so every node's tree of size n is the same tree. Checkpoints are
/// signed by one signer for the cluster, which checks the root against its own copy: two checkpoints of the same
/// size can never differ. On start the tree is rebuilt from the ledger and checked against the last published checkpoint.
/// </summary>
public sealed class TransparencyLog
{
    private readonly ILogStore _store;
    private readonly ILedgerWriter _writer;
    private readonly CheckpointSigner _signer;
    private readonly TimeProvider _time;
    private readonly ILogger<TransparencyLog> _logger;
    private readonly MerkleTree _tree = new();
    private readonly SemaphoreSlim _appendLock = new(1, 1);
    private readonly ReaderWriterLockSlim _treeLock = new();
    private readonly Lock _signingLock = new();
    private Task<LogCheckpoint>? _signing;
    private LogCheckpoint _latest;

    public TransparencyLog(ILogStore store, ILedgerWriter writer, LogSigningKey key, TimeProvider time, ILogger<TransparencyLog> logger)
    {
        _store = store;
        _writer = writer;
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

    /// <summary>Who signs checkpoints (set when the silo is up; until then nothing is signed beyond the empty log).</summary>
    public ICheckpointSigner? Signer { get; set; }

    /// <summary>Entries in this node's tree (it may lag the ledger by what other nodes committed since it last looked).</summary>
    public long Size
    {
        get
        {
            _treeLock.EnterReadLock();
            try { return _tree.Size; }
            finally { _treeLock.ExitReadLock(); }
        }
    }

    /// <summary>The newest signed checkpoint this node holds.</summary>
    public LogCheckpoint Latest => Volatile.Read(ref _latest);

    /// <summary>Rebuilds the tree from the ledger and checks it against the newest published checkpoint.</summary>
    public async Task LoadAsync(CancellationToken cancellationToken = default)
    {
        await _appendLock.WaitAsync(cancellationToken);
        try
        {
            long count = await _store.LogCountAsync(cancellationToken);
            await AppendFromStoreAsync(Size, count, cancellationToken);
            var published = await _store.LatestCheckpointAsync(cancellationToken);
            if (published is not null)
            {
                if (published.Size > Size)
                    throw await TamperedAsync($"the log holds {Size} entries but checkpoint {published.Size} was published; entries were removed");
                if (!RootAt(published.Size).AsSpan().SequenceEqual(published.Root))
                    throw await TamperedAsync($"the first {published.Size} entries no longer hash to the published root: an entry was altered");
                Offer(new LogCheckpoint(published.Size, published.Root, published.Note));
            }
            _logger.LogInformation("Transparency log {Origin}: {Size} entries, checked against checkpoint {Published}",
                Origin, Size, published?.Size ?? 0);
        }
        finally { _appendLock.Release(); }
    }

    private async Task<LogTamperedException> TamperedAsync(string what)
    {
        await _writer.AppendEventsAsync([new SecurityEvent
        {
            Ts = _time.GetUtcNow(), Kind = SecurityEventKinds.LogTampered, Severity = SecuritySeverity.Critical,
            Source = SecurityEventSources.Log, Detail = what,
        }]);
        return new LogTamperedException($"The transparency log does not match what it published: {what}. The cloud will not sign over it.");
    }

    /// <summary>
    /// Takes in what a commit of this node appended: entries other nodes committed before it are read from the ledger
    /// first, so the tree stays the ledger's log in order.
    /// </summary>
    public async Task FollowAsync(LedgerCommit commit, CancellationToken cancellationToken = default)
    {
        if (commit.LogEntries.Count == 0) return;
        await _appendLock.WaitAsync(cancellationToken);
        try
        {
            await AppendFromStoreAsync(Size, commit.FirstLogIndex, cancellationToken);
            long skip = Size - commit.FirstLogIndex; // already read from the ledger by a catch-up
            if (skip >= commit.LogEntries.Count) return;
            _treeLock.EnterWriteLock();
            try
            {
                for (int i = (int)skip; i < commit.LogEntries.Count; i++) _tree.Append(commit.LogEntries[i]);
            }
            finally { _treeLock.ExitWriteLock(); }
        }
        finally { _appendLock.Release(); }
    }

    /// <summary>Reads what the ledger holds beyond this node's tree, up to <paramref name="size"/> entries (all when null).</summary>
    public async Task CatchUpAsync(long? size = null, CancellationToken cancellationToken = default)
    {
        if (size is { } wanted && wanted <= Size) return;
        await _appendLock.WaitAsync(cancellationToken);
        try
        {
            long end = size ?? await _store.LogCountAsync(cancellationToken);
            await AppendFromStoreAsync(Size, end, cancellationToken);
        }
        finally { _appendLock.Release(); }
    }

    private async Task AppendFromStoreAsync(long start, long end, CancellationToken cancellationToken)
    {
        if (end <= start) return;
        var entries = new List<byte[]>();
        await foreach (var entry in _store.ReadLogAsync(start, end, cancellationToken)) entries.Add(entry);
        if (entries.Count != end - start)
            throw new InvalidDataException($"The ledger's log holds {start + entries.Count} entries, not the {end} it reported.");
        _treeLock.EnterWriteLock();
        try
        {
            if (_tree.Size != start) throw new InvalidOperationException($"The tree has {_tree.Size} entries; entries from {start} were read.");
            foreach (var entry in entries) _tree.Append(entry);
        }
        finally { _treeLock.ExitWriteLock(); }
    }

    /// <summary>
    /// A signed checkpoint that covers entry <paramref name="index"/>: the newest held if it does, else one signed for
    /// this node's whole tree (requests arriving meanwhile share the signing under way when it covers them).
    /// </summary>
    public async Task<LogCheckpoint> CheckpointCoveringAsync(long index, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var latest = Latest;
            if (latest.Size > index) return latest;
            await CatchUpAsync(index + 1, cancellationToken);
            Task<LogCheckpoint> signing;
            lock (_signingLock)
            {
                if (_signing is null || _signing.IsCompleted) _signing = SignTreeAsync();
                signing = _signing;
            }
            var signed = await signing.WaitAsync(cancellationToken);
            if (signed.Size > index) return signed;
        }
    }

    /// <summary>Has the cluster's signer publish a checkpoint of the whole log now, and follows the ledger to it (the API's "fresh").</summary>
    public async Task<LogCheckpoint> PublishFreshAsync(CancellationToken cancellationToken = default)
    {
        var signer = Signer ?? throw new InvalidOperationException("No checkpoint signer yet: the silo is not up.");
        var checkpoint = await signer.PublishAsync();
        await CatchUpAsync(checkpoint.Size, cancellationToken);
        Offer(checkpoint);
        return Latest;
    }

    private async Task<LogCheckpoint> SignTreeAsync()
    {
        long size;
        byte[] root;
        _treeLock.EnterReadLock();
        try { (size, root) = (_tree.Size, _tree.Root()); }
        finally { _treeLock.ExitReadLock(); }
        if (size <= Latest.Size) return Latest;
        var signer = Signer ?? throw new InvalidOperationException("No checkpoint signer yet: the silo is not up.");
        var checkpoint = await signer.SignAsync(size, root);
        Offer(checkpoint);
        return checkpoint;
    }

    /// <summary>Keeps a signed checkpoint as this node's newest if it is newer.</summary>
    private void Offer(LogCheckpoint checkpoint)
    {
        while (true)
        {
            var current = Latest;
            if (checkpoint.Size <= current.Size) return;
            if (Interlocked.CompareExchange(ref _latest, checkpoint, current) == current) return;
        }
    }

    /// <summary>
    /// The signer's side: signs the first <paramref name="size"/> entries only if their root, on this node's own copy
    /// read from the ledger, is <paramref name="root"/>. Called by <see cref="LogSignerGrain"/> only.
    /// </summary>
    internal async Task<LogCheckpoint> SignAsSignerAsync(long size, byte[] root)
    {
        await CatchUpAsync(size);
        var ours = RootAt(size);
        if (!ours.AsSpan().SequenceEqual(root))
            throw new InvalidOperationException($"Refusing to sign a checkpoint of size {size}: its root is not the ledger's.");
        var checkpoint = Sign(size, ours);
        Offer(checkpoint);
        return checkpoint;
    }

    /// <summary>The signer's side of publishing: the whole log as the ledger holds it, signed if it grew beyond the newest held.</summary>
    internal async Task<LogCheckpoint> SignAllAsSignerAsync()
    {
        await CatchUpAsync();
        long size;
        byte[] root;
        _treeLock.EnterReadLock();
        try { (size, root) = (_tree.Size, _tree.Root()); }
        finally { _treeLock.ExitReadLock(); }
        if (size <= Latest.Size) return Latest;
        var checkpoint = Sign(size, root);
        Offer(checkpoint);
        return checkpoint;
    }

    private byte[] RootAt(long size)
    {
        _treeLock.EnterReadLock();
        try { return _tree.Root(size); }
        finally { _treeLock.ExitReadLock(); }
    }

    /// <summary>The cloud's signed refusal of a submission, by the log key (verified by devices before they give a form up).</summary>
    public string SignRejection(Sha256Hash submission, string reason, DateTimeOffset at) => _signer.Sign(new RejectionStatement(submission, reason, at));

    /// <summary>The cloud's signed word that a page image is stored (or why it was refused), verified by devices before they give the page up.</summary>
    public string SignImage(ImageStatement statement) => _signer.Sign(statement);

    private LogCheckpoint Sign(long size, byte[] root) => new(size, root, _signer.Sign(size, root));

    /// <summary>Persists a checkpoint the signer signed: what "published" means here (the signer's node only).</summary>
    internal Task PublishAsync(LogCheckpoint checkpoint) =>
        _store.SaveCheckpointAsync(new StoredCheckpoint(checkpoint.Size, checkpoint.Root, checkpoint.Note, _time.GetUtcNow()));

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
