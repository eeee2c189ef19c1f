using System.Collections.Concurrent;

namespace KpuEdge.Broker;

/// <summary>
/// Reports each kind of refusal from one origin (a source address or a client) at most <paramref name="burst"/> times
/// per window, counting the rest, and reports again as a flood grows tenfold within its window (with the count held back
/// since): 1,000 certificate-less attempts in a second become reports at the 1st, 11th, 101st and 1,001st — the NSOC
/// learns of a brute force in seconds, not a window later — then one "and so many more" a window later. Thread-safe; remembers at most <see cref="MaxOrigins"/> origins (beyond, it
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
        /// <summary>Held back since the window started: reported again each time it reaches 10, 100, 1,000, ….</summary>
        public long SuppressedInWindow;
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
                tally.SuppressedInWindow = 0;
            }
            if (tally.Reported >= burst)
            {
                tally.Suppressed++;
                if (!IsPowerOfTen(++tally.SuppressedInWindow)) return false;
                suppressed = tally.Suppressed;
                tally.Suppressed = 0;
                return true;
            }
            tally.Reported++;
            suppressed = tally.Suppressed;
            tally.Suppressed = 0;
            return true;
        }
    }

    private static bool IsPowerOfTen(long n)
    {
        if (n < 10) return false;
        while (n % 10 == 0) n /= 10;
        return n == 1;
    }

    private void Sweep(DateTimeOffset now)
    {
        foreach (var (key, tally) in _tallies)
            if (now - tally.WindowStart >= window && tally.Suppressed == 0) _tallies.TryRemove(key, out _);
    }
}
