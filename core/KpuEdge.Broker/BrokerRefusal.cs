using System.Net;

namespace KpuEdge.Broker;

/// <summary>The stable kinds of refusal a broker of ours reports (the cloud records them as security events of the same kind).</summary>
public static class BrokerRefusalKinds
{
    /// <summary>No valid KPU TLS client certificate (none, another CA, expired, revoked, wrong purpose or role).</summary>
    public const string CertificateRefused = "certificate_refused";
    /// <summary>The MQTT client id is not the name in the client certificate.</summary>
    public const string ClientIdMismatch = "client_id_mismatch";
    /// <summary>A certificate the broker accepts, but not for this broker (a PPK station: a TPS outside its kecamatan).</summary>
    public const string NotAdmitted = "not_admitted";
    /// <summary>A keep-alive of 0 or beyond the bound.</summary>
    public const string KeepAliveRefused = "keep_alive_refused";
    public const string AclPublishDenied = "acl_publish_denied";
    public const string AclSubscribeDenied = "acl_subscribe_denied";
    /// <summary>The TLS handshake did not finish in time (a half-open or slow-loris connection).</summary>
    public const string HandshakeTimeout = "handshake_timeout";
    /// <summary>A connection closed at accept: too many in their handshake (from the source, or in all), or too many open.</summary>
    public const string ConnectionLimit = "connection_limit";
    /// <summary>A packet declaring more bytes than the bound, refused before its body was read; the connection is closed.</summary>
    public const string PacketTooLarge = "packet_too_large";
    /// <summary>Publishes beyond the client's quota, answered <c>Quota exceeded</c> and dropped.</summary>
    public const string RateLimited = "rate_limited";
    /// <summary>Accepting a connection failed (out of sockets or file descriptors): new connections wait; the broker stays up.</summary>
    public const string AcceptFailed = "accept_failed";
}

/// <summary>
/// One thing a broker refused, attributed to what it verified: the source address always (the TCP peer); the client
/// id only once the certificate and CONNECT were checked; a name from a refused certificate only as
/// <see cref="ClaimedName"/>, never as who it was.
/// </summary>
public sealed record BrokerRefusal
{
    public required string Kind { get; init; }
    public required DateTimeOffset Ts { get; init; }
    /// <summary>The TCP peer's address (and port) when the refusal is about a connection.</summary>
    public IPEndPoint? Source { get; init; }
    /// <summary>The verified client: certificate checked, client id equal to its name.</summary>
    public string? ClientId { get; init; }
    /// <summary>What a refused certificate or CONNECT said it was: not verified.</summary>
    public string? ClaimedName { get; init; }
    public required string Detail { get; init; }
    public IReadOnlyDictionary<string, string>? Evidence { get; init; }
    /// <summary>
    /// Refusals of the same kind and origin that were counted, not reported, since the last report of it (the broker
    /// reports a repeat at most once per <see cref="BrokerLimits.RefusalWindow"/>).
    /// </summary>
    public long Suppressed { get; init; }
}
