using System.Net;
using System.Net.Sockets;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto.Health;
using KpuEdge.Crypto.Pki;
using KpuEdge.Edge.Delivery;
using KpuEdge.Edge.Health;
using KpuEdge.Edge.Transport;
using KpuEdge.TestSupport;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// A device's health reports through the real broker: published on its own telemetry topic (the ACL lets it), gone from
/// the outbox once the broker has them; a case opened while the cloud is down waits and goes first when it is back.
/// </summary>
public sealed class HealthDeliveryTests : IAsyncLifetime
{
    private static readonly TpsCode Tps = CloudFixture.Tree.TpsIn(RegionCode.Parse("9171")).Skip(3).First(); // Kota Jayapura
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"kpu-health-{Guid.NewGuid():N}");
    private readonly SimulationPki _pki = SimulationPki.Create(CloudFixture.Election, seed: 41);
    private readonly int _brokerPort = FreePort();
    private DeviceCredentials _device = null!;

    private static readonly DeliveryOptions Fast = new()
    {
        BackoffBase = TimeSpan.FromMilliseconds(20), BackoffMax = TimeSpan.FromMilliseconds(200), ResendAfter = TimeSpan.FromSeconds(5), Seed = 1,
    };

    /// <summary>The case-open switch at its seam: the test opens the case.</summary>
    private sealed class CaseSwitch : ITamperSwitch
    {
        public bool IsOpen { get; private set; }
        public event Action<bool>? Changed;
        public void Open() { IsOpen = true; Changed?.Invoke(true); }
        public void Dispose() { }
    }

    public Task InitializeAsync()
    {
        _device = _pki.Pki.IssueDevice($"dev-{Tps}", KpuRole.Tps, Tps.Value);
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
        return Task.CompletedTask;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public async Task A_case_opened_while_the_cloud_is_down_is_delivered_first_when_it_is_back()
    {
        using var outbox = new Outbox(Path.Combine(_dir, "device", Outbox.FileName));
        await using var loop = new DeliveryLoop(outbox, _device.DeviceId, BrokerConnection.For(_device, "127.0.0.1", _brokerPort, _pki.LogKey), Fast);
        var tamper = new CaseSwitch();
        using var reporter = new HealthReporter(_device.DeviceId, _device.SigningKey, outbox, new HealthSources
        {
            Tamper = tamper, System = new SystemProbe(_dir), Link = loop.Link, AppVersion = "test",
        }, warn: _ => { });
        reporter.Attach(loop);
        var delivered = new List<ulong>();
        var allIn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.HealthDelivered += sequence =>
        {
            lock (delivered)
            {
                delivered.Add(sequence);
                if (delivered.Count == 3) allIn.TrySetResult();
            }
        };

        // The cloud is down: a routine report, the case opened, another routine report — all wait in the outbox.
        using var stop = new CancellationTokenSource();
        var running = loop.RunAsync(stop.Token);
        var first = reporter.Report();
        tamper.Open();
        reporter.Report();
        Assert.Equal(3, outbox.HealthWaiting);

        await using (await InProcessCloud.StartAsync(Path.Combine(_dir, "cloud"), CloudFixture.Tree, CloudFixture.Election, pki: _pki,
                         configure: o => o.BrokerPort = _brokerPort))
        {
            await allIn.Task.WaitAsync(TimeSpan.FromSeconds(60));
            await stop.CancelAsync();
            await running;
        }
        Assert.Equal(0, outbox.HealthWaiting);
        // The tamper report (the second made) went before the routine ones.
        Assert.Equal(first.Report.Sequence + 1, delivered[0]);
        Assert.Equal(3, loop.HealthReportsSent);
    }
}
