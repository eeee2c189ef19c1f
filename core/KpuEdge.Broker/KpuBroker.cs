using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using KpuEdge.Crypto.Pki;
using MQTTnet;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace KpuEdge.Broker;

/// <summary>How a broker of ours admits clients and what they may do.</summary>
public sealed record KpuBrokerOptions
{
    /// <summary>The one address and port it listens on (port 0: a free one, see <see cref="KpuBroker.Port"/>).</summary>
    public required IPEndPoint Endpoint { get; init; }
    /// <summary>Its TLS server certificate with the private key (a KPU <c>service</c> TLS server certificate).</summary>
    public required X509Certificate2 ServerCertificate { get; init; }
    /// <summary>What client certificates are checked against, asked anew for each handshake (a new CRL replaces it).</summary>
    public required Func<TrustStore> Trust { get; init; }
    /// <summary>The roles whose TLS client certificates may connect.</summary>
    public required IReadOnlyList<KpuRole> Roles { get; init; }
    /// <summary>A further check of a verified identity at CONNECT: null to admit, else why not (a PPK station: its kecamatan's TPS only).</summary>
    public Func<KpuIdentity, string?>? Admit { get; init; }
    public required Func<KpuIdentity, string, bool> MayPublish { get; init; }
    public required Func<KpuIdentity, string, bool> MaySubscribe { get; init; }
    /// <summary>
    /// Called for a publish the ACL and quota let through, before it is routed: the PPK station takes forms here (and
    /// sets <c>ProcessPublish = false</c>, as nothing is routed on there).
    /// </summary>
    public Func<KpuIdentity, InterceptingPublishEventArgs, Task>? OnPublish { get; init; }
    /// <summary>Called once a client's subscription is in place (client id, topic filter): the PPK station hands over what it kept for the device.</summary>
    public Action<string, string>? OnSubscribed { get; init; }
    public BrokerLimits Limits { get; init; } = new();
    /// <summary>Messages queued per client session before the oldest is dropped (MQTTnet's default 1,000).</summary>
    public int MaxPendingMessagesPerClient { get; init; } = 1_000;
    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>
/// The one MQTT broker of KpuEdge, for the cloud and the PPK station alike: MQTTnet 5 behind our own TLS listener
/// (<see cref="GuardedTlsListener"/>: exact bind, handshake timeout, connection bounds, packet size bounds), a client
/// certificate from KPU's CA required and checked in the handshake, client id = the certificate's name, keep-alive
/// bounded, the ACL on every publish and subscription, a publish quota per client, and persistent sessions (a device
/// away gets its queued answers when it comes back, while this process lives). Every refusal is reported through
/// <see cref="Refused"/> — attributed to what was verified, repeats counted rather than reported one by one.
/// </summary>
public sealed class KpuBroker : IAsyncDisposable
{
    /// <summary>What the broker knows of a connected client, by client id (MQTTnet keeps the session items of a session's first connection).</summary>
    public sealed record Client(KpuIdentity Identity, string CertificateSerial, EndPoint? Source);

    private readonly KpuBrokerOptions _options;
    private readonly RefusalThrottle _throttle;
    private readonly PublishQuotas _quotas;
    private readonly ConcurrentDictionary<string, Client> _clients = new(StringComparer.Ordinal);
    private readonly object _ownMarker = new();
    private readonly System.Collections.Hashtable _ownItems;
    private GuardedTlsListener? _listener;
    private MqttServer? _server;

    public KpuBroker(KpuBrokerOptions options)
    {
        _options = options;
        _throttle = new RefusalThrottle(options.Limits.RefusalWindow, options.Time);
        _quotas = new PublishQuotas(options.Time);
        _ownItems = new System.Collections.Hashtable { ["kpu.own"] = _ownMarker };
    }

    /// <summary>Every refusal worth an operator's eye (raised on the broker's threads: keep handlers short).</summary>
    public event Action<BrokerRefusal>? Refused;

    /// <summary>An unexpected failure with one connection; the broker goes on.</summary>
    public event Action<EndPoint, Exception>? Failed;

    /// <summary>A client passed every check at CONNECT.</summary>
    public event Action<Client>? Connected;

    public MqttServer Server => _server ?? throw new InvalidOperationException("The broker has not started.");

    public int Port => _listener?.LocalEndPoint.Port ?? _options.Endpoint.Port;

    /// <summary>Connections open, and still in their TLS handshake.</summary>
    public (int Open, int Pending) Connections => _listener is { } l ? (l.Gate.Open, l.Gate.Pending) : (0, 0);

    public IReadOnlyCollection<Client> Clients => _clients.Values.ToArray();

    public async Task StartAsync()
    {
        if (_server is not null) throw new InvalidOperationException("The broker is already running.");
        var listener = new GuardedTlsListener(_options.Endpoint, _options.ServerCertificate, ValidateClientCertificate, _options.Limits,
            _options.Time, Report, (source, e) => Failed?.Invoke(source, e));
        var factory = new MqttServerFactory();
        var serverOptions = factory.CreateServerOptionsBuilder()
            .WithDefaultCommunicationTimeout(_options.Limits.ConnectTimeout)
            .WithPersistentSessions()
            .WithMaxPendingMessagesPerClient(_options.MaxPendingMessagesPerClient)
            .Build();
        var server = factory.CreateMqttServer(serverOptions, [listener]);
        server.ValidatingConnectionAsync += OnValidatingConnection;
        server.InterceptingPublishAsync += OnInterceptingPublish;
        server.InterceptingSubscriptionAsync += OnInterceptingSubscription;
        if (_options.OnSubscribed is { } onSubscribed)
            server.ClientSubscribedTopicAsync += e =>
            {
                onSubscribed(e.ClientId, e.TopicFilter.Topic);
                return Task.CompletedTask;
            };
        try { await server.StartAsync(); }
        catch
        {
            server.Dispose();
            throw;
        }
        _listener = listener;
        _server = server;
    }

    /// <summary>
    /// The handshake's check of the client certificate: chained to KPU's root through the issuing CA, valid now, not
    /// revoked, a TLS client certificate of one of <see cref="KpuBrokerOptions.Roles"/>. Our own checks replace the
    /// system's (KPU's root is deliberately not in the machine's trust store).
    /// </summary>
    private bool ValidateClientCertificate(X509Certificate? certificate, IPEndPoint source)
    {
        if (certificate is null)
        {
            Report(new BrokerRefusal
            {
                Kind = BrokerRefusalKinds.CertificateRefused, Ts = _options.Time.GetUtcNow(), Source = source,
                Detail = $"Connection from {source} presented no client certificate.",
            });
            return false;
        }
        var verdict = _options.Trust().Validate(certificate.GetRawCertData(), CertificatePurpose.TlsClient, _options.Time.GetUtcNow(), [.. _options.Roles]);
        if (verdict.Ok) return true;
        Report(new BrokerRefusal
        {
            Kind = BrokerRefusalKinds.CertificateRefused, Ts = _options.Time.GetUtcNow(), Source = source,
            ClaimedName = verdict.Identity?.Name ?? NameIn(certificate),
            Detail = $"{verdict.Error}: {verdict.Detail} (connection from {source})",
            Evidence = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["error"] = verdict.Error ?? "",
                ["subject"] = certificate.Subject,
                ["issuer"] = certificate.Issuer,
                ["serial"] = certificate.GetSerialNumberString().ToLowerInvariant(),
            },
        });
        return false;
    }

    private static string? NameIn(X509Certificate certificate) =>
        new X500DistinguishedName(certificate.Subject).EnumerateRelativeDistinguishedNames()
            .FirstOrDefault(n => n.GetSingleElementType().Value == "2.5.4.3")?.GetSingleElementValue();

    private Task OnValidatingConnection(ValidatingConnectionEventArgs e)
    {
        var source = e.RemoteEndPoint;
        if (!e.IsSecureConnection || e.ClientCertificate is null)
            return Refuse(MqttConnectReasonCode.NotAuthorized, BrokerRefusalKinds.CertificateRefused, null, "A client connects with its TLS client certificate.");
        KpuCertificate certificate;
        try { certificate = KpuCertificate.FromDer(e.ClientCertificate.RawData); }
        catch (CertificateFormatException ex) { return Refuse(MqttConnectReasonCode.NotAuthorized, BrokerRefusalKinds.CertificateRefused, e.ClientId, ex.Message); }
        var identity = certificate.Identity;
        if (identity is null || identity.Name != e.ClientId)
            // The certificate was verified in the handshake: its name is who this is; the client id is what it claimed.
            return Refuse(MqttConnectReasonCode.ClientIdentifierNotValid, BrokerRefusalKinds.ClientIdMismatch, identity?.Name,
                $"The client id must be the name in the client certificate ('{identity?.Name}'), not '{e.ClientId}'.",
                new Dictionary<string, string>(StringComparer.Ordinal) { ["client_id"] = e.ClientId ?? "", ["serial"] = certificate.SerialHex },
                verified: identity is not null);
        if (_options.Admit?.Invoke(identity) is { } notAdmitted)
            return Refuse(MqttConnectReasonCode.NotAuthorized, BrokerRefusalKinds.NotAdmitted, identity.Name, notAdmitted, verified: true);
        var keepAlive = TimeSpan.FromSeconds(e.KeepAlivePeriod ?? 0);
        if (keepAlive == TimeSpan.Zero || keepAlive > _options.Limits.MaxKeepAlive)
            return Refuse(MqttConnectReasonCode.ImplementationSpecificError, BrokerRefusalKinds.KeepAliveRefused, identity.Name,
                $"Keep-alive {e.KeepAlivePeriod} s: a client keeps alive every 1 s to {_options.Limits.MaxKeepAlive.TotalSeconds:0} s.", verified: true);
        var client = new Client(identity, certificate.SerialHex, source);
        _clients[identity.Name] = client;
        Connected?.Invoke(client);
        return Task.CompletedTask;

        Task Refuse(MqttConnectReasonCode code, string kind, string? name, string reason, IReadOnlyDictionary<string, string>? evidence = null, bool verified = false)
        {
            e.ReasonCode = code;
            e.ReasonString = reason;
            Report(new BrokerRefusal
            {
                Kind = kind, Ts = _options.Time.GetUtcNow(), Source = source as IPEndPoint,
                ClientId = verified ? name : null, ClaimedName = verified ? null : name ?? e.ClientId, Detail = reason, Evidence = evidence,
            });
            return Task.CompletedTask;
        }
    }

    private async Task OnInterceptingPublish(InterceptingPublishEventArgs e)
    {
        if (e.SessionItems is { } items && ReferenceEquals(items["kpu.own"], _ownMarker)) return; // what this process injects
        if (!_clients.TryGetValue(e.ClientId, out var client))
        {
            e.ProcessPublish = false;
            e.Response.ReasonCode = MqttPubAckReasonCode.NotAuthorized;
            return;
        }
        var identity = client.Identity;
        string topic = e.ApplicationMessage.Topic;
        if (!_options.MayPublish(identity, topic))
        {
            e.ProcessPublish = false;
            e.Response.ReasonCode = MqttPubAckReasonCode.NotAuthorized;
            Report(new BrokerRefusal
            {
                Kind = BrokerRefusalKinds.AclPublishDenied, Ts = _options.Time.GetUtcNow(), Source = client.Source as IPEndPoint, ClientId = identity.Name,
                Detail = $"'{identity.Name}' may not publish to '{topic}'.",
                Evidence = new Dictionary<string, string>(StringComparer.Ordinal) { ["topic"] = topic },
            });
            return;
        }
        if (QuotaOf(identity) is { } quota && !_quotas.TryTake(identity.Name, quota))
        {
            e.ProcessPublish = false;
            e.Response.ReasonCode = MqttPubAckReasonCode.QuotaExceeded;
            e.Response.ReasonString = $"At most {quota.PerSecond:0} messages a second (bursts of {quota.Burst:0}): send it again later.";
            Report(new BrokerRefusal
            {
                Kind = BrokerRefusalKinds.RateLimited, Ts = _options.Time.GetUtcNow(), Source = client.Source as IPEndPoint, ClientId = identity.Name,
                Detail = $"'{identity.Name}' publishes faster than {quota.PerSecond:0} messages a second (bursts of {quota.Burst:0}); the excess is refused unread.",
                Evidence = new Dictionary<string, string>(StringComparer.Ordinal) { ["topic"] = topic },
            });
            return;
        }
        if (_options.OnPublish is { } onPublish) await onPublish(identity, e);
    }

    private PublishQuota? QuotaOf(KpuIdentity identity) => identity.Role switch
    {
        KpuRole.Tps => _options.Limits.DeviceQuota,
        KpuRole.Ppk => _options.Limits.StationQuota,
        _ => null, // the cloud's own services
    };

    private Task OnInterceptingSubscription(InterceptingSubscriptionEventArgs e)
    {
        if (_clients.TryGetValue(e.ClientId, out var client) && _options.MaySubscribe(client.Identity, e.TopicFilter.Topic)) return Task.CompletedTask;
        e.ProcessSubscription = false;
        e.Response.ReasonCode = MqttSubscribeReasonCode.NotAuthorized;
        Report(new BrokerRefusal
        {
            Kind = BrokerRefusalKinds.AclSubscribeDenied, Ts = _options.Time.GetUtcNow(), Source = client?.Source as IPEndPoint, ClientId = e.ClientId,
            Detail = $"'{e.ClientId}' may not subscribe to '{e.TopicFilter.Topic}'.",
            Evidence = new Dictionary<string, string>(StringComparer.Ordinal) { ["topic_filter"] = e.TopicFilter.Topic },
        });
        return Task.CompletedTask;
    }

    /// <summary>Publishes a message of this process (an answer to a device), past the ACL and quotas.</summary>
    public Task InjectAsync(MqttApplicationMessage message, string senderName, CancellationToken cancellationToken = default) =>
        Server.InjectApplicationMessage(new InjectedMqttApplicationMessage(message) { SenderClientId = senderName, CustomSessionItems = _ownItems }, cancellationToken);

    /// <summary>Closes the sessions of clients whose TLS certificate serial is in <paramref name="serials"/>; returns their ids.</summary>
    public async Task<IReadOnlyList<string>> DisconnectAsync(IReadOnlyCollection<string> serials)
    {
        if (_server is not { } server || serials.Count == 0) return [];
        var closed = new List<string>();
        foreach (var status in await server.GetClientsAsync())
        {
            if (!_clients.TryGetValue(status.Id, out var client) || !serials.Contains(client.CertificateSerial)) continue;
            await status.DisconnectAsync(new MqttServerClientDisconnectOptions { ReasonCode = MqttDisconnectReasonCode.NotAuthorized });
            closed.Add(status.Id);
        }
        return closed;
    }

    /// <summary>Reports a refusal, or counts it when the same kind from the same origin was reported within the window.</summary>
    private void Report(BrokerRefusal refusal)
    {
        string origin = refusal.ClientId ?? refusal.Source?.Address.ToString() ?? "?";
        if (!_throttle.ShouldReport(refusal.Kind, origin, out long suppressed)) return;
        Refused?.Invoke(suppressed > 0 ? refusal with { Suppressed = suppressed } : refusal);
    }

    /// <summary>Closes every connection and the port. Sessions end with the process: devices resend what has no receipt.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _server, null) is not { } server) return;
        await server.StopAsync();
        server.Dispose();
        _clients.Clear();
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
