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

    /// <summary>Forms answered: accepted, duplicate or refused.</summary>
    public long Answered => Accepted + Duplicates + RejectedTotal;

    // The last forms' receive → receipt times (ring; a lost race overwrites a slot, which a percentile does not mind).
    private readonly (long At, int Micros)[] _latencies = new (long, int)[8192];
    private long _latencyNext;

    internal void OnAnswered(long atTimestamp, TimeSpan latency)
    {
        long slot = Interlocked.Increment(ref _latencyNext) % _latencies.Length;
        _latencies[slot] = (atTimestamp, (int)Math.Min(int.MaxValue, latency.Ticks / 10));
    }

    /// <summary>99th percentile of receive → receipt over forms answered since <paramref name="sinceTimestamp"/>; null if none.</summary>
    public double? P99Milliseconds(long sinceTimestamp)
    {
        var recent = _latencies.Where(l => l.At != 0 && l.At >= sinceTimestamp).Select(l => l.Micros).ToArray();
        if (recent.Length == 0) return null;
        Array.Sort(recent);
        return recent[Math.Min(recent.Length - 1, (int)Math.Ceiling(recent.Length * 0.99) - 1)] / 1000.0;
    }
}
