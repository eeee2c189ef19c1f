using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using KpuEdge.Cloud.Security;
using KpuEdge.Core.Security;
using KpuEdge.Crypto.Pki;
using Microsoft.Extensions.Options;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace KpuEdge.Cloud.Broker;

/// <summary>Where the ingest (and devices) reach the MQTT broker: the embedded one or an external one such as mosquitto.</summary>
public sealed record BrokerEndpoint(string Host, int Port);

/// <summary>
/// The MQTTnet 5 broker embedded in the cloud host (the default), reachable only over TLS with a client certificate
/// from KPU's CA: the certificate's identity is the MQTT client id, and decides what the client may publish and
/// subscribe (<see cref="TopicAcl"/>). Every refusal is a security event. Sessions live in memory only: the broker is
/// a transport, never storage — the ledger is the durable record and devices resend until receipted.
/// </summary>
public sealed class EmbeddedBroker(
    IOptions<CloudOptions> options, BrokerEndpoint endpoint, CloudPki pki, SecurityEventRecorder events, TimeProvider time,
    ILogger<EmbeddedBroker> logger) : IHostedService, IDisposable
{
    private const string IdentityItem = "kpu.identity";
    private const string SerialItem = "kpu.serial";
    private MqttServer? _server;

    public MqttServer Server => _server ?? throw new InvalidOperationException("The broker has not started.");

    /// <summary>Starts a fresh broker (no sessions) on the endpoint; after <see cref="StopAsync"/> it may start again on the same port.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_server is not null) throw new InvalidOperationException("The broker is already running.");
        var factory = new MqttServerFactory();
        var serverOptions = factory.CreateServerOptionsBuilder()
            .WithoutDefaultEndpoint()
            .WithEncryptedEndpoint()
            .WithEncryptedEndpointBoundIPAddress(IPAddress.Parse(endpoint.Host))
            .WithEncryptedEndpointPort(endpoint.Port)
            // A restarted broker takes its port back at once, while connections of the last run linger in TIME_WAIT.
            .WithTlsEndpointReuseAddress()
            .WithEncryptionCertificate(pki.BrokerCertificate)
            .WithEncryptionSslProtocol(System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13)
            .WithClientCertificate(ValidateClientCertificate, checkCertificateRevocation: false)
            .WithMaxPendingMessagesPerClient(options.Value.BrokerMaxPendingPerClient)
            .Build();
        var server = factory.CreateMqttServer(serverOptions);
        server.ValidatingConnectionAsync += OnValidatingConnection;
        server.InterceptingPublishAsync += OnInterceptingPublish;
        server.InterceptingSubscriptionAsync += OnInterceptingSubscription;
        try { await server.StartAsync(); }
        catch
        {
            server.Dispose();
            throw;
        }
        _server = server;
        logger.LogInformation("Embedded MQTT broker listening on {Host}:{Port} (TLS, client certificates required)", endpoint.Host, endpoint.Port);
    }

    /// <summary>
    /// The TLS handshake's check of the client certificate: chained to KPU's root through the issuing CA, valid now,
    /// not revoked, a TLS client certificate of a TPS device, PPK station or cloud service. Our own checks replace the
    /// system's (KPU's root is deliberately not in the machine's trust store).
    /// </summary>
    private bool ValidateClientCertificate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null)
        {
            Refused(SecurityEventKinds.CertificateRefused, null, "no client certificate presented", null);
            return false;
        }
        var verdict = pki.Trust.Validate(certificate.GetRawCertData(), CertificatePurpose.TlsClient, time.GetUtcNow(),
            KpuRole.Tps, KpuRole.Ppk, KpuRole.Service);
        if (verdict.Ok) return true;
        string subject = certificate.Subject;
        Refused(SecurityEventKinds.CertificateRefused, verdict.Identity?.Name, $"{verdict.Error}: {verdict.Detail}",
            new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["error"] = verdict.Error ?? "",
                ["subject"] = subject,
                ["issuer"] = certificate.Issuer,
                ["serial"] = certificate.GetSerialNumberString().ToLowerInvariant(),
            });
        return false;
    }

    private Task OnValidatingConnection(ValidatingConnectionEventArgs e)
    {
        if (!e.IsSecureConnection || e.ClientCertificate is null)
        {
            e.ReasonCode = MqttConnectReasonCode.NotAuthorized;
            Refused(SecurityEventKinds.CertificateRefused, e.ClientId, "connection without a client certificate", null);
            return Task.CompletedTask;
        }
        KpuCertificate certificate;
        try { certificate = KpuCertificate.FromDer(e.ClientCertificate.RawData); }
        catch (CertificateFormatException ex)
        {
            e.ReasonCode = MqttConnectReasonCode.NotAuthorized;
            Refused(SecurityEventKinds.CertificateRefused, e.ClientId, ex.Message, null);
            return Task.CompletedTask;
        }
        var identity = certificate.Identity;
        if (identity is null || identity.Name != e.ClientId)
        {
            e.ReasonCode = MqttConnectReasonCode.ClientIdentifierNotValid;
            e.ReasonString = "The client id must be the device id in the client certificate.";
            Refused(SecurityEventKinds.ClientIdMismatch, identity?.Name, $"client id '{e.ClientId}' with the certificate of '{identity?.Name}'",
                new Dictionary<string, string>(StringComparer.Ordinal) { ["client_id"] = e.ClientId ?? "", ["serial"] = certificate.SerialHex });
            return Task.CompletedTask;
        }
        e.SessionItems[IdentityItem] = identity;
        e.SessionItems[SerialItem] = certificate.SerialHex;
        return Task.CompletedTask;
    }

    private Task OnInterceptingPublish(InterceptingPublishEventArgs e)
    {
        if (e.SessionItems[IdentityItem] is KpuIdentity identity && TopicAcl.MayPublish(identity, e.ApplicationMessage.Topic))
            return Task.CompletedTask;
        e.ProcessPublish = false;
        e.Response.ReasonCode = MqttPubAckReasonCode.NotAuthorized;
        Refused(SecurityEventKinds.AclPublishDenied, e.ClientId, $"may not publish to '{e.ApplicationMessage.Topic}'",
            new Dictionary<string, string>(StringComparer.Ordinal) { ["topic"] = e.ApplicationMessage.Topic });
        return Task.CompletedTask;
    }

    private Task OnInterceptingSubscription(InterceptingSubscriptionEventArgs e)
    {
        if (e.SessionItems[IdentityItem] is KpuIdentity identity && TopicAcl.MaySubscribe(identity, e.TopicFilter.Topic))
            return Task.CompletedTask;
        e.ProcessSubscription = false;
        e.Response.ReasonCode = MqttSubscribeReasonCode.NotAuthorized;
        Refused(SecurityEventKinds.AclSubscribeDenied, e.ClientId, $"may not subscribe to '{e.TopicFilter.Topic}'",
            new Dictionary<string, string>(StringComparer.Ordinal) { ["topic_filter"] = e.TopicFilter.Topic });
        return Task.CompletedTask;
    }

    /// <summary>Closes the sessions of clients whose TLS certificate was just revoked; they cannot reconnect.</summary>
    public async Task DisconnectRevokedAsync(IReadOnlyCollection<string> serials)
    {
        if (_server is not { } server || serials.Count == 0) return;
        foreach (var client in await server.GetClientsAsync())
        {
            var session = client.Session;
            if (session?.Items[SerialItem] is string serial && serials.Contains(serial))
            {
                logger.LogWarning("Disconnecting {Client}: its certificate {Serial} was revoked", client.Id, serial);
                await client.DisconnectAsync(new MqttServerClientDisconnectOptions { ReasonCode = MqttDisconnectReasonCode.NotAuthorized });
            }
        }
    }

    private void Refused(string kind, string? subject, string detail, IReadOnlyDictionary<string, string>? evidence) =>
        events.Record(new SecurityEvent
        {
            Ts = time.GetUtcNow(), Kind = kind, Severity = SecuritySeverity.Warning, Source = SecurityEventSources.Broker,
            Subject = subject, Detail = detail, Evidence = evidence,
        });

    /// <summary>
    /// Closes every connection and the port. Sessions live in this server only and end with it, as when the process
    /// restarts: clients reconnect, subscribe again and resend what has no receipt.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _server, null) is not { } server) return;
        await server.StopAsync();
        server.Dispose();
        logger.LogInformation("Embedded MQTT broker on {Host}:{Port} stopped", endpoint.Host, endpoint.Port);
    }

    public void Dispose() => Interlocked.Exchange(ref _server, null)?.Dispose();
}
