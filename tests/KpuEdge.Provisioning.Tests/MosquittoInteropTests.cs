using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using KpuEdge.Crypto.Pki;

namespace KpuEdge.Provisioning.Tests;

/// <summary>
/// Debian's mosquitto (OpenSSL underneath) with what kpu-provision writes: the broker's certificate, the chain, the
/// ACL. Devices connect with their provisioned TLS client certificates. This one test uses the real clock: the
/// broker checks certificate validity against it and cannot be given a fake one.
/// </summary>
public sealed class MosquittoInteropTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("kpuedge-mosquitto-tests-");
    private Process? _broker;

    public void Dispose()
    {
        if (_broker is { HasExited: false }) _broker.Kill();
        _broker?.Dispose();
        _dir.Delete(recursive: true);
    }

    private string P(string relative) => Path.Combine(_dir.FullName, relative);

    [Fact]
    public async Task Mosquitto_admits_provisioned_devices_and_confines_them_to_their_TPS_and_receipts()
    {
        var time = new FixedTime(DateTimeOffset.UtcNow);
        var cli = new CliHarness(time);
        cli.Ok("ca", "init-root", "--dir", P("root"), "--name", "KPU Root CA");
        cli.Ok("ca", "init-issuing", "--root", P("root"), "--dir", P("issuing"), "--name", "KPU Issuing CA 1");
        foreach (var (id, tps) in new[] { ("dev-a", "3273011001003"), ("dev-b", "3273011001004") })
        {
            cli.Ok("device", "init", "--dir", P(id), "--id", id);
            cli.Ok("ca", "issue", "--ca", P("issuing"), "--device-dir", P(id), "--role", "tps", "--assignment", tps, "--election", "pemilu-2024", "--registry", P("devices.json"));
        }
        cli.Ok("ca", "issue-service", "--ca", P("issuing"), "--name", "broker", "--purpose", "tls-server", "--alt", "localhost", "--alt", "127.0.0.1", "--out", P("broker"));
        cli.Ok("ca", "issue-service", "--ca", P("issuing"), "--name", "kpu-ingest", "--purpose", "tls-client", "--out", P("ingest"));
        cli.Ok("mosquitto-acl", "--registry", P("devices.json"), "--out", P("acl"), "--ingest", "kpu-ingest");
        int port = await StartBroker();
        var trust = TrustStore.Load(File.ReadAllText(P("root/ca.crt")), File.ReadAllText(P("issuing/ca.crt")));

        await using var ingest = await MiniMqtt.Connect(port, "kpu-ingest", Client(P("ingest")), trust);
        await using var deviceA = await MiniMqtt.Connect(port, "dev-a", Client(P("dev-a")), trust);

        Assert.Equal(0x01, await ingest.Subscribe(1, "kpu/v1/tps/+/c1/+/+"));
        // mosquitto's ACL file grants every subscription and filters on delivery, so what is checked is what arrives.
        await deviceA.Subscribe(1, "kpu/v1/device/dev-b/receipt");
        await deviceA.Subscribe(2, "kpu/v1/device/dev-a/receipt");
        // A form for another TPS is dropped; the broker handles one connection's packets in order, so the next
        // message the ingest sees is the allowed one.
        await deviceA.Publish(10, "kpu/v1/tps/3273011001004/c1/ppwp/dev-a", "forged");
        // Its own TPS under another device's name: the ingest would answer that device.
        await deviceA.Publish(11, "kpu/v1/tps/3273011001003/c1/ppwp/dev-b", "in another's name");
        await deviceA.Publish(12, "kpu/v1/tps/3273011001003/c1/ppwp/dev-a", "genuine");
        Assert.Equal(("kpu/v1/tps/3273011001003/c1/ppwp/dev-a", "genuine"), await ingest.NextPublish());
        // Likewise another device's receipt never reaches dev-a.
        await ingest.Publish(20, "kpu/v1/device/dev-b/receipt", "receipt-b");
        await ingest.Publish(21, "kpu/v1/device/dev-a/receipt", "receipt-a");
        Assert.Equal(("kpu/v1/device/dev-a/receipt", "receipt-a"), await deviceA.NextPublish());
    }

    [Fact]
    public async Task Mosquitto_refuses_a_client_certificate_of_another_PKI()
    {
        var cli = new CliHarness(new FixedTime(DateTimeOffset.UtcNow));
        cli.Ok("ca", "init-root", "--dir", P("root"), "--name", "KPU Root CA");
        cli.Ok("ca", "init-issuing", "--root", P("root"), "--dir", P("issuing"), "--name", "KPU Issuing CA 1");
        cli.Ok("ca", "issue-service", "--ca", P("issuing"), "--name", "broker", "--purpose", "tls-server", "--alt", "localhost", "--out", P("broker"));
        File.WriteAllText(P("acl"), "");
        cli.Ok("ca", "init-root", "--dir", P("evil-root"), "--name", "KPU Root CA");
        cli.Ok("ca", "init-issuing", "--root", P("evil-root"), "--dir", P("evil-issuing"), "--name", "KPU Issuing CA 1");
        cli.Ok("ca", "issue-service", "--ca", P("evil-issuing"), "--name", "dev-a", "--purpose", "tls-client", "--out", P("evil"));
        int port = await StartBroker();
        var trust = TrustStore.Load(File.ReadAllText(P("root/ca.crt")), File.ReadAllText(P("issuing/ca.crt")));

        var refused = await Record.ExceptionAsync(async () =>
        {
            await using var client = await MiniMqtt.Connect(port, "dev-a", Client(P("evil")), trust);
        });

        Assert.True(refused is IOException or System.Security.Authentication.AuthenticationException or EndOfStreamException, refused?.ToString());
    }

    private static X509Certificate2 Client(string dir)
    {
        var key = TlsKey.FromPem(File.ReadAllText(Path.Combine(dir, "tls.key")));
        return key.WithCertificate(KpuCertificate.FromPem(File.ReadAllText(Path.Combine(dir, "tls.crt"))));
    }

    /// <summary>Starts mosquitto on a free port with KPU's settings and waits for its "running" line.</summary>
    private async Task<int> StartBroker()
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        var config = new StringBuilder();
        if (Environment.UserName == "root") config.Append("user root\n"); // mosquitto would otherwise drop to a user that cannot read the 0600 key
        config.Append($"""
            persistence false
            log_dest stderr
            log_type error
            log_type warning
            log_type notice
            log_type information
            allow_anonymous false
            acl_file {P("acl")}
            listener {port} 127.0.0.1
            cafile {P("broker/chain.pem")}
            certfile {P("broker/tls.crt")}
            keyfile {P("broker/tls.key")}
            require_certificate true
            use_identity_as_username true

            """);
        File.WriteAllText(P("mosquitto.conf"), config.ToString());
        var running = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var log = new StringBuilder();
        _broker = new Process { StartInfo = new ProcessStartInfo("mosquitto") { ArgumentList = { "-c", P("mosquitto.conf") }, RedirectStandardError = true, RedirectStandardOutput = true } };
        _broker.ErrorDataReceived += (_, e) =>
        {
            lock (log) log.AppendLine(e.Data);
            if (e.Data?.Contains(" running", StringComparison.Ordinal) == true) running.TrySetResult();
        };
        _broker.EnableRaisingEvents = true;
        _broker.Exited += (_, _) => running.TrySetException(new InvalidOperationException("mosquitto exited: " + log));
        _broker.Start();
        _broker.BeginErrorReadLine();
        _broker.BeginOutputReadLine();
        await running.Task.WaitAsync(TimeSpan.FromSeconds(30));
        return port;
    }
}

/// <summary>Just enough MQTT 3.1.1 over TLS to ask the broker what it allows: CONNECT, SUBSCRIBE, PUBLISH (QoS 1).</summary>
internal sealed class MiniMqtt : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly SslStream _tls;
    private readonly CancellationTokenSource _timeout = new(TimeSpan.FromSeconds(30));

    private MiniMqtt(TcpClient tcp, SslStream tls)
    {
        _tcp = tcp;
        _tls = tls;
    }

    public static async Task<MiniMqtt> Connect(int port, string clientId, X509Certificate2 certificate, TrustStore trust)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        var tls = new SslStream(tcp.GetStream());
        var client = new MiniMqtt(tcp, tls);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ClientCertificates = [certificate],
            RemoteCertificateValidationCallback = (_, server, _, errors) =>
                (errors & SslPolicyErrors.RemoteCertificateNameMismatch) == 0
                && trust.Validate(server!.GetRawCertData(), CertificatePurpose.TlsServer, DateTimeOffset.UtcNow, KpuRole.Service).Ok,
        }, client._timeout.Token);
        var connect = new List<byte>();
        connect.AddRange(Text("MQTT"));
        connect.AddRange([4, 0x02, 0, 60]); // level 4 (3.1.1), clean session, keep-alive 60 s
        connect.AddRange(Text(clientId));
        await client.Send(0x10, connect);
        var (type, body) = await client.Read();
        if (type != 0x20 || body[1] != 0) throw new IOException($"CONNACK refused: type {type:x2}, code {body[1]}");
        return client;
    }

    public async Task<byte> Subscribe(ushort packetId, string filter)
    {
        await Send(0x82, [(byte)(packetId >> 8), (byte)packetId, .. Text(filter), 1]);
        var (type, body) = await Read();
        if (type != 0x90 || (body[0] << 8 | body[1]) != packetId) throw new IOException("expected SUBACK");
        return body[2];
    }

    public async Task Publish(ushort packetId, string topic, string payload)
    {
        await Send(0x32, [.. Text(topic), (byte)(packetId >> 8), (byte)packetId, .. Encoding.UTF8.GetBytes(payload)]);
        var (type, _) = await Read();
        if (type != 0x40) throw new IOException("expected PUBACK");
    }

    public async Task<(string Topic, string Payload)> NextPublish()
    {
        while (true)
        {
            var (type, body) = await Read();
            if ((type & 0xF0) != 0x30) continue;
            int topicLength = body[0] << 8 | body[1];
            string topic = Encoding.UTF8.GetString(body, 2, topicLength);
            int offset = 2 + topicLength;
            if ((type & 0x06) != 0)
            {
                await Send(0x40, [body[offset], body[offset + 1]]);
                offset += 2;
            }
            return (topic, Encoding.UTF8.GetString(body, offset, body.Length - offset));
        }
    }

    private static byte[] Text(string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        return [(byte)(bytes.Length >> 8), (byte)bytes.Length, .. bytes];
    }

    private async Task Send(byte header, IReadOnlyCollection<byte> body)
    {
        var packet = new List<byte> { header };
        int length = body.Count;
        do
        {
            byte digit = (byte)(length % 128);
            length /= 128;
            packet.Add(length > 0 ? (byte)(digit | 0x80) : digit);
        } while (length > 0);
        packet.AddRange(body);
        await _tls.WriteAsync(packet.ToArray(), _timeout.Token);
    }

    private async Task<(byte Type, byte[] Body)> Read()
    {
        byte[] one = new byte[1];
        await _tls.ReadExactlyAsync(one, _timeout.Token);
        byte type = one[0];
        int length = 0, shift = 0;
        do
        {
            await _tls.ReadExactlyAsync(one, _timeout.Token);
            length |= (one[0] & 0x7F) << shift;
            shift += 7;
        } while ((one[0] & 0x80) != 0);
        byte[] body = new byte[length];
        await _tls.ReadExactlyAsync(body, _timeout.Token);
        return (type, body);
    }

    public async ValueTask DisposeAsync()
    {
        await _tls.DisposeAsync();
        _tcp.Dispose();
        _timeout.Dispose();
    }
}
