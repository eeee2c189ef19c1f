namespace KpuEdge.LinkEmulator;

/// <summary>What a <see cref="LinkProxy"/> has done since it started.</summary>
/// <param name="Connections">Connections accepted and forwarded to the target.</param>
/// <param name="Active">Connections open now.</param>
/// <param name="Resets">Connections the reset model killed (RST to both ends).</param>
/// <param name="CutByOutage">Open connections killed when an outage began.</param>
/// <param name="RefusedDuringOutage">Connections refused (accepted and reset at once) during an outage.</param>
/// <param name="BytesUp">Bytes the link released to the target (device → cloud).</param>
/// <param name="BytesDown">Bytes the link released to the client (cloud → device).</param>
public readonly record struct LinkCounters(
    long Connections,
    long Active,
    long Resets,
    long CutByOutage,
    long RefusedDuringOutage,
    long BytesUp,
    long BytesDown);

public enum LinkEventKind
{
    /// <summary>A connection was accepted and will be forwarded.</summary>
    Accepted,
    /// <summary>A connection arrived during an outage and was reset at once.</summary>
    RefusedDuringOutage,
    /// <summary>
    /// Bytes entered the link: read from the sending end, paced, and given the time they will arrive (so a
    /// fake clock advanced after this event cannot make them arrive early).
    /// </summary>
    Received,
    /// <summary>Bytes left the link (written to the receiving end).</summary>
    Delivered,
    /// <summary>The reset model killed the connection.</summary>
    Reset,
    /// <summary>An outage began and killed the connection.</summary>
    CutByOutage,
    /// <summary>The connection is gone (after any of the above, a close by either end, or an error).</summary>
    Closed,
}

/// <summary>
/// One thing that happened on a proxy, for those who need to wait for it (tests, the simulator's progress)
/// instead of polling counters. <paramref name="Direction"/> and <paramref name="Bytes"/> are set for
/// <see cref="LinkEventKind.Received"/> and <see cref="LinkEventKind.Delivered"/>.
/// </summary>
public readonly record struct LinkEvent(LinkEventKind Kind, long Connection, LinkDirection Direction = LinkDirection.Up, int Bytes = 0);
