namespace KpuEdge.Edge.Health;

/// <summary>
/// The link as the device lives it, fed by the delivery loop: the last publish → receipt round trip, the cloud's
/// clock against the device's (from the receipt's time, taken at the round trip's midpoint), reconnects and the
/// broker's TLS refusals.
/// </summary>
public sealed class LinkMonitor
{
    private readonly Lock _lock = new();
    private TimeSpan? _roundTrip;
    private TimeSpan? _clockOffset;
    private int _reconnects;
    private int _tlsRefusals;

    /// <summary>A receipt for something sent at <paramref name="sentAt"/> arrived at <paramref name="receivedAt"/> (device clock), stamped <paramref name="cloudTime"/>.</summary>
    public void Receipt(DateTimeOffset sentAt, DateTimeOffset receivedAt, DateTimeOffset cloudTime)
    {
        var roundTrip = receivedAt - sentAt;
        if (roundTrip < TimeSpan.Zero) return;
        lock (_lock)
        {
            _roundTrip = roundTrip;
            _clockOffset = cloudTime - (sentAt + roundTrip / 2);
        }
    }

    public void Connected()
    {
        lock (_lock) _reconnects++;
    }

    /// <summary>The broker refused the TLS connection; returns how many times in a row.</summary>
    public int TlsRefused()
    {
        lock (_lock) return ++_tlsRefusals;
    }

    public void TlsAccepted()
    {
        lock (_lock) _tlsRefusals = 0;
    }

    /// <summary>The figures for a report; the reconnect count starts again from zero.</summary>
    public (int? RoundTripMs, int? ClockOffsetMs, int Reconnects) Take()
    {
        lock (_lock)
        {
            var figures = (Ms(_roundTrip), Ms(_clockOffset), _reconnects);
            _reconnects = 0;
            return figures;
        }
    }

    private static int? Ms(TimeSpan? span) => span is { } s ? (int)Math.Clamp(s.TotalMilliseconds, int.MinValue, int.MaxValue) : null;
}
