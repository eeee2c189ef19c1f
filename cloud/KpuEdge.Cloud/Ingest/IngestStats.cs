using System.Collections.Concurrent;

namespace KpuEdge.Cloud.Ingest;

/// <summary>Counters of the ingest since the host started (the ledger holds the durable history).</summary>
public sealed class IngestStats
{
    private long _received, _accepted, _duplicates;
    private readonly ConcurrentDictionary<string, long> _rejected = new(StringComparer.Ordinal);

    public long Received => Interlocked.Read(ref _received);
    public long Accepted => Interlocked.Read(ref _accepted);
    public long Duplicates => Interlocked.Read(ref _duplicates);
    public IReadOnlyDictionary<string, long> Rejected => _rejected.ToDictionary(p => p.Key, p => p.Value);
    public long RejectedTotal => _rejected.Values.Sum();

    internal void OnReceived() => Interlocked.Increment(ref _received);
    internal void OnAccepted() => Interlocked.Increment(ref _accepted);
    internal void OnDuplicate() => Interlocked.Increment(ref _duplicates);
    internal void OnRejected(string reason) => _rejected.AddOrUpdate(reason, 1, (_, n) => n + 1);
}
