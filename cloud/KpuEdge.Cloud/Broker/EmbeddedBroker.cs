using System.Globalization;
using System.Net;
using KpuEdge.Broker;
using KpuEdge.Cloud.Security;
using KpuEdge.Core.Security;
using KpuEdge.Crypto.Pki;
using Microsoft.Extensions.Options;
using KpuEdge.Cloud.Ingest;
using KpuEdge.Core.Protocol;
using MQTTnet.Packets;
using MQTTnet.Server;

namespace KpuEdge.Cloud.Broker;

/// <summary>Where the ingest (and devices) reach the MQTT broker: the embedded one or an external one such as mosquitto.</summary>
public sealed record BrokerEndpoint(string Host, int Port);

/// <summary>
/// The cloud's MQTT broker (the default): KpuEdge's one broker (<see cref="KpuBroker"/>: TLS only with a client
/// certificate from KPU's CA, client id = the certificate's name, exact bind, handshake and CONNECT timeouts,
/// connection and packet bounds, a publish quota per device) with the cloud's <see cref="TopicAcl"/>. Every refusal is
/// a security event. Sessions live in memory only: the broker is a transport, never storage — the ledger is the
/// durable record and devices resend until receipted.
/// </summary>
public sealed class EmbeddedBroker(
    IOptions<CloudOptions> options, BrokerEndpoint endpoint, CloudPki pki, SecurityEventRecorder events, TimeProvider time,
    ILogger<EmbeddedBroker> logger) : IHostedService, IDisposable
{
    private KpuBroker? _broker;

    public MqttServer Server => (_broker ?? throw new InvalidOperationException("The broker has not started.")).Server;

    /// <summary>Connections open, and in their TLS handshake.</summary>
    public (int Open, int Pending) Connections => _broker?.Connections ?? (0, 0);

    /// <summary>Starts a fresh broker (no sessions) on the endpoint; after <see cref="StopAsync"/> it may start again on the same port.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_broker is not null) throw new InvalidOperationException("The broker is already running.");
        var broker = new KpuBroker(new KpuBrokerOptions
        {
            Endpoint = new IPEndPoint(IPAddress.Parse(endpoint.Host), endpoint.Port),
            ServerCertificate = pki.BrokerCertificate,
            Trust = () => pki.Trust,
            Roles = [KpuRole.Tps, KpuRole.Ppk, KpuRole.Service],
            MayPublish = TopicAcl.MayPublish,
            MaySubscribe = TopicAcl.MaySubscribe,
            Limits = options.Value.BrokerLimits,
            OnPublish = StampTelemetry,
            MaxPendingMessagesPerClient = options.Value.BrokerMaxPendingPerClient,
            Time = time,
        });
        broker.Refused += OnRefused;
        broker.Failed += (source, e) => logger.LogError(e, "Broker: handling the connection from {Source} failed", source);
        await broker.StartAsync();
        _broker = broker;
        logger.LogInformation("Embedded MQTT broker listening on {Host}:{Port} only (TLS, client certificates required)", endpoint.Host, broker.Port);
    }

    /// <summary>
    /// A health report carries who sent it as the broker knows it from the certificate (TPS device or PPK station, and
    /// its assignment): the ingest needs it to place a station, which the device registry does not hold. Any value the
    /// client put there itself is replaced.
    /// </summary>
    private static Task StampTelemetry(KpuIdentity identity, InterceptingPublishEventArgs e)
    {
        var message = e.ApplicationMessage;
        if (!Topics.TryParseTelemetry(message.Topic, out _) && !Topics.TryParseRelayedTelemetry(message.Topic, out _, out _)) return Task.CompletedTask;
        message.UserProperties?.RemoveAll(p => p.Name == TelemetrySender.Property);
        message.UserProperties ??= [];
        message.UserProperties.Add(new MqttUserProperty(TelemetrySender.Property,
            new ReadOnlyMemory<byte>(System.Text.Encoding.UTF8.GetBytes(new TelemetrySender(identity.Role == KpuRole.Ppk, identity.Assignment).Format()))));
        return Task.CompletedTask;
    }

    /// <summary>A broker refusal becomes a security event: the verified client as subject, else the source address and what was claimed.</summary>
    private void OnRefused(BrokerRefusal refusal)
    {
        var evidence = new Dictionary<string, string>(refusal.Evidence ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        if (refusal.Source is { } source) evidence["source"] = source.ToString();
        if (refusal.ClaimedName is { } claimed) evidence["claimed_name"] = claimed;
        if (refusal.Suppressed > 0) evidence["repeats_since_last_report"] = refusal.Suppressed.ToString(CultureInfo.InvariantCulture);
        var severity = refusal.Kind is BrokerRefusalKinds.AcceptFailed ? SecuritySeverity.Critical : SecuritySeverity.Warning;
        if (refusal.Kind == BrokerRefusalKinds.AcceptFailed) logger.LogCritical("Broker: {Detail}", refusal.Detail);
        events.Record(new SecurityEvent
        {
            Ts = refusal.Ts, Kind = refusal.Kind, Severity = severity, Source = SecurityEventSources.Broker,
            Subject = refusal.ClientId, Detail = refusal.Detail, Evidence = evidence,
        });
    }

    /// <summary>Closes the sessions of clients whose TLS certificate was just revoked; they cannot reconnect.</summary>
    public async Task DisconnectRevokedAsync(IReadOnlyCollection<string> serials)
    {
        if (_broker is not { } broker) return;
        foreach (var id in await broker.DisconnectAsync(serials))
            logger.LogWarning("Disconnected {Client}: its TLS certificate was revoked", id);
    }

    /// <summary>
    /// Closes every connection and the port. Sessions live in this server only and end with it, as when the process
    /// restarts: clients reconnect, subscribe again and resend what has no receipt.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _broker, null) is not { } broker) return;
        await broker.StopAsync();
        logger.LogInformation("Embedded MQTT broker on {Host}:{Port} stopped", endpoint.Host, endpoint.Port);
    }

    public void Dispose() => Interlocked.Exchange(ref _broker, null)?.DisposeAsync().AsTask().GetAwaiter().GetResult();
}
