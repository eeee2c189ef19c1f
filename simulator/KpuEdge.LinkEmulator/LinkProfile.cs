namespace KpuEdge.LinkEmulator;

/// <summary>Which way bytes travel: <see cref="Up"/> from the device to the cloud, <see cref="Down"/> back.</summary>
public enum LinkDirection
{
    Up = 0,
    Down = 1,
}

/// <summary>
/// What one kind of link (fibre, 4G, a VSAT terminal in a 3T village) does to a TCP connection, as far as
/// the two ends can see it: delay, throughput, resets and outages. Packet loss and reordering are not
/// modelled: TCP turns them into delay, which <see cref="Latency"/> and <see cref="Jitter"/> already give.
/// </summary>
public sealed record LinkProfile
{
    public required string Name { get; init; }

    public string? Description { get; init; }

    /// <summary>One-way delay of every byte; the round trip is about twice this.</summary>
    public TimeSpan Latency { get; init; }

    /// <summary>Each chunk's delay is <see cref="Latency"/> ± up to this (uniform), never below zero.</summary>
    public TimeSpan Jitter { get; init; }

    /// <summary>Device → cloud throughput; null for unlimited.</summary>
    public long? UpBytesPerSecond { get; init; }

    /// <summary>Cloud → device throughput; null for unlimited.</summary>
    public long? DownBytesPerSecond { get; init; }

    /// <summary>
    /// How many bytes may pass at once after the link was idle (token bucket size); null for a default
    /// of 50 ms of throughput, at least two segments.
    /// </summary>
    public long? BurstBytes { get; init; }

    public LinkResets Resets { get; init; } = LinkResets.None;

    /// <summary>
    /// Periods, as offsets from the emulator's start, when the link is down: new connections are refused and
    /// open ones cut at the start.
    /// </summary>
    public IReadOnlyList<LinkOutage> Outages { get; init; } = [];

    /// <summary>An unlimited link without delay: the proxy only forwards.</summary>
    public static LinkProfile Transparent(string name = "transparent") => new() { Name = name };

    public long? BytesPerSecond(LinkDirection direction) =>
        direction == LinkDirection.Up ? UpBytesPerSecond : DownBytesPerSecond;

    /// <summary>The token bucket's size for a rate (see <see cref="BurstBytes"/>).</summary>
    public long BurstFor(long bytesPerSecond) =>
        BurstBytes ?? Math.Max(2 * PieceSizeFor(bytesPerSecond, long.MaxValue), bytesPerSecond / 20);

    /// <summary>
    /// A paced link releases bytes in pieces of about 10 ms of throughput (512 B to 16 KB), so a slow link
    /// trickles rather than delivering a whole read at once.
    /// </summary>
    internal static int PieceSizeFor(long bytesPerSecond, long burst) =>
        (int)Math.Min(burst, Math.Clamp(bytesPerSecond / 100, 512, 16 * 1024));

    /// <summary>True if the link is down at <paramref name="sinceStart"/>; <paramref name="endsAt"/> is when it comes back.</summary>
    public bool IsDown(TimeSpan sinceStart, out TimeSpan endsAt)
    {
        foreach (var outage in Outages)
        {
            if (outage.Contains(sinceStart))
            {
                endsAt = outage.End;
                return true;
            }
        }
        endsAt = default;
        return false;
    }

    /// <summary>Throws <see cref="InvalidDataException"/> naming the first thing that makes no sense.</summary>
    public void Validate()
    {
        void Fail(string why) => throw new InvalidDataException($"Link profile '{Name}': {why}.");

        if (string.IsNullOrWhiteSpace(Name)) throw new InvalidDataException("A link profile has no name.");
        if (Latency < TimeSpan.Zero) Fail("latency is negative");
        if (Jitter < TimeSpan.Zero) Fail("jitter is negative");
        if (Jitter > Latency) Fail("jitter exceeds the latency (a delay cannot be negative)");
        if (UpBytesPerSecond is <= 0) Fail("the up rate must be positive (leave it out for unlimited)");
        if (DownBytesPerSecond is <= 0) Fail("the down rate must be positive (leave it out for unlimited)");
        if (BurstBytes is <= 0) Fail("the burst must be positive");
        Resets.Validate(Fail);
        var previousEnd = TimeSpan.MinValue;
        foreach (var outage in Outages.OrderBy(o => o.Start))
        {
            if (outage.Start < TimeSpan.Zero) Fail($"outage {outage} starts before the emulator");
            if (outage.End <= outage.Start) Fail($"outage {outage} does not end after it starts");
            if (outage.Start < previousEnd) Fail($"outage {outage} overlaps another");
            previousEnd = outage.End;
        }
    }
}

/// <summary>
/// When the link resets a connection (both ends see an RST): a share of connections is doomed to be reset
/// somewhere in the middle of their bytes, and independently every connection may be reset after an
/// exponentially distributed time (a constant hazard: the same chance in every connected second).
/// </summary>
public sealed record LinkResets
{
    public static readonly LinkResets None = new();

    /// <summary>Share of connections (0..1) reset once they have carried a number of bytes drawn from <see cref="AfterBytesMin"/>..<see cref="AfterBytesMax"/>.</summary>
    public double FractionOfConnections { get; init; }

    public long AfterBytesMin { get; init; } = 1;

    public long AfterBytesMax { get; init; } = 64 * 1024;

    /// <summary>Mean connected time before a reset; null for no time-based resets.</summary>
    public TimeSpan? MeanTimeBetween { get; init; }

    internal void Validate(Action<string> fail)
    {
        if (FractionOfConnections is < 0 or > 1 || double.IsNaN(FractionOfConnections)) fail("the fraction of reset connections is not within 0..1");
        if (AfterBytesMin < 1) fail("a reset after bytes needs at least one byte");
        if (AfterBytesMax < AfterBytesMin) fail("the reset byte range is empty");
        if (MeanTimeBetween is { } mean && mean <= TimeSpan.Zero) fail("the mean time between resets must be positive");
    }
}

/// <summary>A period [<see cref="Start"/>, <see cref="End"/>) after the emulator's start when the link is down.</summary>
public readonly record struct LinkOutage(TimeSpan Start, TimeSpan End)
{
    public bool Contains(TimeSpan sinceStart) => sinceStart >= Start && sinceStart < End;

    public override string ToString() => $"[{Start}, {End})";
}
