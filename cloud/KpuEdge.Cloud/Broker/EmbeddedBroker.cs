using System.Net;
using Microsoft.Extensions.Options;
using MQTTnet.Server;

namespace KpuEdge.Cloud.Broker;

/// <summary>Where the ingest (and devices) reach the MQTT broker: the embedded one or an external one such as mosquitto.</summary>
public sealed record BrokerEndpoint(string Host, int Port);

/// <summary>
/// The MQTTnet 5 broker embedded in the cloud host (the default). It keeps sessions in memory only: it is a
/// transport, never storage — the ledger is the durable record and devices resend until receipted.
/// </summary>
public sealed class EmbeddedBroker(IOptions<CloudOptions> options, BrokerEndpoint endpoint, ILogger<EmbeddedBroker> logger) : IHostedService, IDisposable
{
    private MqttServer? _server;

    public MqttServer Server => _server ?? throw new InvalidOperationException("The broker has not started.");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var factory = new MqttServerFactory();
        var serverOptions = factory.CreateServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointBoundIPAddress(IPAddress.Parse(endpoint.Host))
            .WithDefaultEndpointPort(endpoint.Port)
            .WithMaxPendingMessagesPerClient(options.Value.BrokerMaxPendingPerClient)
            .Build();
        _server = factory.CreateMqttServer(serverOptions);
        await _server.StartAsync();
        logger.LogInformation("Embedded MQTT broker listening on {Host}:{Port}", endpoint.Host, endpoint.Port);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_server is not null) await _server.StopAsync();
    }

    public void Dispose() => _server?.Dispose();
}
