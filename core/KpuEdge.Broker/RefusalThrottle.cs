using System.Collections.Concurrent;

namespace KpuEdge.Broker;

/// <summary>
/// Reports each kind of refusal from one origin (a source address or a client) at most <paramref name="burst"/> times
/// per window, counting the rest: a flood of 1,000 certificate-less attempts becomes one report now and one "and 999
/// more" a window later, not 1,000 rows. Thread-safe; remembers at most <see cref="MaxOrigins"/> origins (beyond, it
/// reports without counting).
/// </summary>
public sealed class RefusalThrottle(TimeSpan window, TimeProvider time, int burst = 1)
{
    private const int MaxOrigins = 100_000;

    private sealed class Tally
    {
        public DateTimeOffset WindowStart;
        public int Reported;
        public long Suppressed;
    }

    private readonly ConcurrentDictionary<(string Kind, string Origin), Tally> _tallies = new();

    /// <summary>
    /// Whether to report this refusal now, and how many of its kind and origin were held back since the last report.
    /// </summary>
    public bool ShouldReport(string kind, string origin, out long suppressed)
    {
        var now = time.GetUtcNow();
        suppressed = 0;
        if (_tallies.Count >= MaxOrigins && !_tallies.ContainsKey((kind, origin)))
        {
            Sweep(now);
            if (_tallies.Count >= MaxOrigins) return true;
        }
        var tally = _tallies.GetOrAdd((kind, origin), _ => new Tally { WindowStart = DateTimeOffset.MinValue });
        lock (tally)
        {
            if (now - tally.WindowStart >= window)
            {
                tally.WindowStart = now;
                tally.Reported = 0;
            }
            if (tally.Reported >= burst)
            {
                tally.Suppressed++;
                return false;
            }
            tally.Reported++;
            suppressed = tally.Suppressed;
            tally.Suppressed = 0;
            return true;
        }
    }

    private void Sweep(DateTimeOffset now)
    {
        foreach (var (key, tally) in _tallies)
            if (now - tally.WindowStart >= window && tally.Suppressed == 0) _tallies.TryRemove(key, out _);
    }
}
