namespace KpuEdge.LinkEmulator;

/// <summary>
/// Paces one direction of one connection to a rate: a bucket of <c>capacity</c> bytes refilled at the rate,
/// read against the injected clock so a fake clock paces exactly.
/// </summary>
internal sealed class TokenBucket(long bytesPerSecond, long capacity, TimeSpan now)
{
    private double _tokens = capacity;
    private TimeSpan _last = now;

    public int PieceSize { get; } = LinkProfile.PieceSizeFor(bytesPerSecond, capacity);

    /// <summary>Waits until <paramref name="bytes"/> (at most <see cref="PieceSize"/>) may pass, and takes them.</summary>
    public async ValueTask TakeAsync(int bytes, Func<TimeSpan> now, TimeProvider time, CancellationToken cancellation)
    {
        while (true)
        {
            var t = now();
            _tokens = Math.Min(capacity, _tokens + (t - _last).TotalSeconds * bytesPerSecond);
            _last = t;
            if (_tokens >= bytes)
            {
                _tokens -= bytes;
                return;
            }
            long ticks = (long)Math.Ceiling((bytes - _tokens) * TimeSpan.TicksPerSecond / bytesPerSecond);
            await ClockWait.UntilAsync(time, now, t + TimeSpan.FromTicks(Math.Max(1, ticks)), cancellation).ConfigureAwait(false);
        }
    }
}
