using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using KpuEdge.Crypto.Pki;
using Microsoft.Extensions.Time.Testing;
using MQTTnet;
using MQTTnet.Formatter;

namespace KpuEdge.Broker.Tests;

/// <summary>
/// A real <see cref="KpuBroker"/> on a loopback port with certificates from an ephemeral KPU CA, on a fake clock (so
/// timeouts and quotas are stepped, never slept through), and what it reported.
/// </summary>
public sealed class BrokerHarness : IAsyncDisposable
{
    public static readonly DateTimeOffset Now = new(2024, 2, 14, 13, 0, 0, TimeSpan.Zero);
    public const string Tps = "3273011001003";

    public FakeTimeProvider Time { get; } = new(Now);
    public EphemeralPki Pki { get; } = EphemeralPki.Create("pemilu-2024", Now, seed: 17);
    public KpuBroker Broker { get; }
    public ConcurrentQueue<BrokerRefusal> Refusals { get; } = new();

    private BrokerHarness(BrokerLimits limits, IPAddress address)
    {
        var (certificate, _) = Pki.IssueService("kpu-broker", CertificatePurpose.TlsServer);
        Broker = new KpuBroker(new KpuBrokerOptions
        {
            Endpoint = new IPEndPoint(address, 0),
            ServerCertificate = certificate,
            Trust = () => Pki.Trust,
            Roles = [KpuRole.Tps, KpuRole.Ppk],
            MayPublish = (identity, topic) => topic.StartsWith($"t/{identity.Name}/", StringComparison.Ordinal),
            MaySubscribe = (identity, filter) => filter == $"r/{identity.Name}",
            Limits = limits,
            Time = Time,
        });
        Broker.Refused += Refusals.Enqueue;
    }

    public static async Task<BrokerHarness> StartAsync(BrokerLimits? limits = null, IPAddress? address = null)
    {
        var harness = new BrokerHarness(limits ?? new BrokerLimits(), address ?? IPAddress.Loopback);
        await harness.Broker.StartAsync();
        return harness;
    }

    public DeviceCredentials Device(string name = "dev-a") => Pki.IssueDevice(name, KpuRole.Tps, Tps);

    /// <summary>MQTT 5 client options for a device.</summary>
    public MqttClientOptionsBuilder ClientOptions(DeviceCredentials device)
    {
        var builder = new MqttClientOptionsBuilder()
            .WithEndPoint(new IPEndPoint(IPAddress.Loopback, Broker.Port))
            .WithTlsOptions(tls => tls.UseTls().WithTargetHost("localhost")
                .WithClientCertificates(new X509Certificate2Collection(device.TlsClientCertificate()))
                .WithCertificateValidationHandler(_ => true))
            .WithClientId(device.DeviceId)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithTimeout(TimeSpan.FromSeconds(20));
        return builder;
    }

    /// <summary>Connects a device, from a chosen local address if given (the broker counts connections per address).</summary>
    public async Task<IMqttClient> ConnectAsync(DeviceCredentials device, string? from = null, Action<MqttClientOptionsBuilder>? tweak = null)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var builder = ClientOptions(device);
        tweak?.Invoke(builder);
        var options = builder.Build();
        if (from is not null) ((MqttClientTcpOptions)options.ChannelOptions).LocalEndpoint = new IPEndPoint(IPAddress.Parse(from), 0);
        await client.ConnectAsync(options);
        return client;
    }

    /// <summary>A TCP connection that never says a word (the probe's half-open handshakes).</summary>
    public async Task<Socket> SilentConnectionAsync(string from = "127.0.0.1")
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Parse(from), 0));
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, Broker.Port));
        return socket;
    }

    /// <summary>A finished TLS handshake with a device's certificate, and then raw bytes.</summary>
    public async Task<SslStream> TlsConnectionAsync(DeviceCredentials device)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, Broker.Port);
        var ssl = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ClientCertificates = new X509CertificateCollection { device.TlsClientCertificate() },
        });
        return ssl;
    }

    /// <summary>Whether the peer closed the connection: reads until EOF or reset, bounded in real time.</summary>
    public static async Task<bool> ClosedByPeerAsync(Socket socket, TimeSpan within)
    {
        var buffer = new byte[256];
        using var timeout = new CancellationTokenSource(within);
        try
        {
            while (true)
                if (await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token) == 0) return true;
        }
        catch (SocketException) { return true; }
        catch (OperationCanceledException) { return false; }
    }

    /// <summary>Waits until a condition on the broker holds (it changes on the broker's own threads), bounded in real time.</summary>
    public static async Task EventuallyAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Still not true after 30 s: {what}");
            await Task.Delay(10);
        }
    }

    public async ValueTask DisposeAsync() => await Broker.DisposeAsync();
}
