using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using KpuEdge.Crypto;
using KpuEdge.Provisioning;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto.Pki;
using KpuEdge.Edge.Transport;
using KpuEdge.Simulator;
using KpuEdge.TestSupport;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// The same devices and the same ingest through Debian's mosquitto instead of the embedded broker: mosquitto checks
/// the client certificates against KPU's CA and revocation list (require_certificate, crlfile), takes the device id
/// from the certificate (use_identity_as_username) and enforces the generated ACL; the ingest is one more client.
/// </summary>
public sealed class MosquittoInteropTests : IAsyncLifetime
{
    private static readonly TimeSpan ReceiptTimeout = TimeSpan.FromSeconds(30);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"kpu-mosquitto-{Guid.NewGuid():N}");
    private readonly SimulationPki _pki = SimulationPki.Create(CloudFixture.Election, seed: 21);
    private readonly SimulatedElection _simulation = new(CloudFixture.Tree, CloudFixture.Election, seed: 21);
    private IReadOnlyList<SimulatedDevice> _devices = [];
    private DeviceCredentials _revoked = null!;
    private Process? _mosquitto;
    private int _port;
    private InProcessCloud? _cloud;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        _devices = _simulation.Provision(_simulation.PickTps(40, ["73", "94"]), _pki.Pki);
        _revoked = _pki.Pki.IssueDevice("dev-revoked", KpuRole.Tps, _devices[0].Identity.Tps.Value);
        _port = FreePort();
        _mosquitto = await StartMosquittoAsync();
        _cloud = await InProcessCloud.StartAsync(Path.Combine(_dir, "cloud"), CloudFixture.Tree, CloudFixture.Election, pki: _pki,
            configure: o =>
            {
                o.EmbeddedBroker = false;
                o.BrokerHost = "127.0.0.1";
                o.BrokerPort = _port;
            });
        await _cloud.RegisterAsync(_devices.Select(d => d.Credentials));
    }

    private async Task<Process> StartMosquittoAsync()
    {
        string At(string name) => Path.Combine(_dir, name);
        File.WriteAllText(At("ca.pem"), _pki.Pki.Root.Certificate.ToPem() + _pki.Pki.Issuing.Certificate.ToPem());
        File.WriteAllText(At("broker.crt"), KpuCertificate.FromDer(_pki.Cloud.BrokerCertificate.RawData).ToPem());
        using (var key = _pki.Cloud.BrokerCertificate.GetECDsaPrivateKey()!)
            File.WriteAllText(At("broker.key"), key.ExportPkcs8PrivateKeyPem() + "\n");
        var now = DateTimeOffset.UtcNow;
        var crl = _pki.Pki.Issuing.CreateCrl([new RevokedCertificate(_revoked.TlsCertificate.SerialHex, now.AddMinutes(-1), RevocationReason.KeyCompromise)],
            now.AddMinutes(-1), now.AddDays(7));
        File.WriteAllText(At("crl.pem"), PemFiles.Write("X509 CRL", crl));
        var registry = new DeviceRegistry();
        foreach (var d in _devices.Select(d => d.Credentials).Append(_revoked)) registry.Register(DeviceRecord.FromCertificate(d.SigningCertificate));
        File.WriteAllText(At("acl"), MosquittoAcl.Render(registry, KpuTls.NameOf(_pki.Cloud.IngestCertificate)));
        File.WriteAllText(At("mosquitto.conf"), $"""
            per_listener_settings false
            persistence false
            user root
            log_dest stderr
            log_type error
            log_type warning
            log_type notice
            log_type information
            listener {_port} 127.0.0.1
            cafile {At("ca.pem")}
            certfile {At("broker.crt")}
            keyfile {At("broker.key")}
            crlfile {At("crl.pem")}
            tls_version tlsv1.2
            require_certificate true
            use_identity_as_username true
            allow_anonymous false
            acl_file {At("acl")}
            """);

        const string binary = "/usr/sbin/mosquitto";
        Assert.True(File.Exists(binary), "mosquitto is not installed: ./kpu setup (as root) installs it with apt.");
        // stdbuf: mosquitto's log lines would otherwise sit in a pipe buffer until it exits.
        var process = Process.Start(new ProcessStartInfo("stdbuf", ["-oL", "-eL", binary, "-c", At("mosquitto.conf")])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        })!;
        // Ready when it says so: its own log line, not a timer.
        var running = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        void OnLine(object _, DataReceivedEventArgs e)
        {
            if (e.Data is null) return;
            log.Enqueue(e.Data);
            if (e.Data.Contains(" running", StringComparison.Ordinal)) running.TrySetResult();
        }
        process.OutputDataReceived += OnLine;
        process.ErrorDataReceived += OnLine;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var exited = process.WaitForExitAsync();
        var first = await Task.WhenAny(running.Task, exited, Task.Delay(TimeSpan.FromSeconds(30)));
        if (first != running.Task)
            throw new InvalidOperationException("mosquitto did not start: " + string.Join(" | ", log));
        return process;
    }

    [Fact]
    public async Task Devices_and_the_ingest_run_forms_through_mosquitto_with_KPU_certificates()
    {
        var target = new SimulationTarget("127.0.0.1", _port, _pki.LogKey);
        var report = await _simulation.RunAsync(_devices, target, concurrency: 16);
        Assert.Equal(0, report.Failed);
        Assert.Empty(report.Rejected);
        Assert.Equal(_devices.Sum(d => d.Tallies.Count), report.Accepted);

        await _cloud!.Recap.SettleAsync();
        using var http = new HttpClient { BaseAddress = _cloud.ApiBase };
        foreach (var contest in Contests.All)
            Assert.Empty(await RecapCheck.CompareAsync(http, report.AcceptedTallies.ToArray(), contest, RegionCode.Nasional));
    }

    [Fact]
    public async Task Mosquitto_refuses_a_revoked_certificate_and_one_from_another_CA()
    {
        await AssertRefusedAsync(_revoked);
        var foreign = EphemeralPki.Create(CloudFixture.Election.ElectionId, DateTimeOffset.UtcNow, seed: 77)
            .IssueDevice(_devices[0].Identity.DeviceId, KpuRole.Tps, _devices[0].Identity.Tps.Value);
        await AssertRefusedAsync(foreign);
    }

    private async Task AssertRefusedAsync(DeviceCredentials device)
    {
        await using var client = new SubmissionClient(device.DeviceId, BrokerConnection.For(device, "127.0.0.1", _port, _pki.LogKey));
        await Assert.ThrowsAnyAsync<Exception>(() => client.ConnectAsync());
        Assert.False(client.IsConnected);
    }

    private static int FreePort() => KpuEdge.TestSupport.LocalServices.FreePorts.OnLoopback();

    public async Task DisposeAsync()
    {
        if (_cloud is not null) await _cloud.DisposeAsync();
        if (_mosquitto is { HasExited: false })
        {
            _mosquitto.Kill();
            await _mosquitto.WaitForExitAsync();
        }
        _mosquitto?.Dispose();
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }
}
