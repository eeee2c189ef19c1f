namespace KpuEdge.Broker;

/// <summary>
/// The bounds that keep one client, one source address, or a crowd of half-open connections from harming everyone
/// else on a broker of ours (the cloud's, a PPK station's). Hitting one refuses the excess — closed connection,
/// packet or publish — and raises a <see cref="BrokerRefusal"/>; it never stops the broker.
/// </summary>
public sealed record BrokerLimits
{
    /// <summary>From TCP accept to a finished TLS handshake (client certificate checked). A VSAT handshake takes ~2 s.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>From the finished handshake to a complete CONNECT packet.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Connections still in their TLS handshake, from all sources together; beyond, new ones are closed at once.</summary>
    public int MaxPendingHandshakes { get; init; } = 2_048;

    /// <summary>
    /// Connections in their TLS handshake from one address. A VSAT hub puts many TPS behind one address, whose devices
    /// reconnect together after an outage, so this is not tiny; one prober on one address holds no more than this.
    /// </summary>
    public int MaxPendingHandshakesPerSource { get; init; } = 64;

    /// <summary>Open connections (any state) from one address.</summary>
    public int MaxConnectionsPerSource { get; init; } = 8_192;

    /// <summary>Open connections in all (stay under the process's open-file limit: systemd's LimitNOFILE).</summary>
    public int MaxConnections { get; init; } = 200_000;

    /// <summary>
    /// Largest MQTT packet (fixed header included) after CONNECT: the largest message of protocol v1 is an image chunk
    /// (66,560 bytes) with its topic and properties. A packet declaring more is refused before its body is read.
    /// </summary>
    public int MaxPacketBytes { get; init; } = 72 * 1024;

    /// <summary>Largest CONNECT packet: a client id, a few properties; a device never needs more.</summary>
    public int MaxConnectPacketBytes { get; init; } = 4 * 1024;

    /// <summary>Longest keep-alive a client may ask for; 0 (never check) is refused too, or a dead link would hold a connection forever.</summary>
    public TimeSpan MaxKeepAlive { get; init; } = TimeSpan.FromMinutes(20);

    /// <summary>What a TPS device may publish: a day's forms and photos in bursts, nothing like a flood.</summary>
    public PublishQuota DeviceQuota { get; init; } = new(Burst: 400, PerSecond: 40);

    /// <summary>What a PPK station may publish: it relays for every TPS of its kecamatan (a few hundred).</summary>
    public PublishQuota StationQuota { get; init; } = new(Burst: 20_000, PerSecond: 2_000);

    /// <summary>Repeats of one refusal (same kind, same source or client) within this window are counted, not raised one by one.</summary>
    public TimeSpan RefusalWindow { get; init; } = TimeSpan.FromMinutes(1);
}

/// <summary>A token bucket: <paramref name="Burst"/> messages at once, refilled at <paramref name="PerSecond"/>.</summary>
public sealed record PublishQuota(double Burst, double PerSecond);
