using System.Net;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Edge.Delivery;
using KpuEdge.Edge.Device;
using KpuEdge.Edge.Transport;
using KpuEdge.LinkEmulator;
using KpuEdge.Simulator;
using KpuEdge.TestSupport;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// Devices in Papua delivering through the link emulator in front of the real broker: latency, a thin pipe, half of
/// the connections reset mid-stream and an outage. Every form arrives, each counted once, and the recap equals what
/// the devices signed.
/// </summary>
public sealed class DeliveryOverBadLinksTests : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"kpu-badlink-{Guid.NewGuid():N}");
    private readonly SimulationPki _pki = SimulationPki.Create(CloudFixture.Election, seed: 41);
    private InProcessCloud _cloud = null!;

    /// <summary>A bad satellite hop, shortened so the test stays quick: the same kinds of trouble as vsat-3t-bad.</summary>
    private static readonly LinkProfile BadVsat = new()
    {
        Name = "test-vsat-bad",
        Latency = TimeSpan.FromMilliseconds(120), Jitter = TimeSpan.FromMilliseconds(40),
        UpBytesPerSecond = 16_000, DownBytesPerSecond = 32_000,
        Resets = new LinkResets { FractionOfConnections = 0.5, AfterBytesMin = 300, AfterBytesMax = 8_000 },
        Outages = [new LinkOutage(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4))],
    };

    public async Task InitializeAsync() =>
        _cloud = await InProcessCloud.StartAsync(Path.Combine(_dir, "cloud"), CloudFixture.Tree, CloudFixture.Election, pki: _pki);

    [Fact]
    public async Task Every_form_arrives_once_through_latency_resets_and_an_outage()
    {
        var simulation = new SimulatedElection(CloudFixture.Tree, CloudFixture.Election, seed: 41);
        var devices = simulation.Provision(simulation.PickTps(16, ["91", "94"]), _pki.Pki);
        await using var proxy = new LinkProxy(BadVsat, new IPEndPoint(IPAddress.Loopback, _cloud.BrokerPort), new LinkProxyOptions { Seed = 41 });
        var options = new DeliveryOptions
        {
            BackoffBase = TimeSpan.FromMilliseconds(100), BackoffMax = TimeSpan.FromSeconds(1), ResendAfter = TimeSpan.FromSeconds(8),
            KeepAlive = TimeSpan.FromSeconds(5), ConnectTimeout = TimeSpan.FromSeconds(10), Seed = 41,
        };

        var outboxes = new List<Outbox>();
        var loops = new List<DeliveryLoop>();
        var settled = new List<Task>();
        using var stop = new CancellationTokenSource();
        var running = new List<Task>();
        try
        {
            foreach (var device in devices)
            {
                _cloud.Register(device.Credentials);
                var outbox = new Outbox(Path.Combine(_dir, device.Identity.DeviceId, Outbox.FileName));
                outboxes.Add(outbox);
                var signer = new FormSigner(device.Identity, CloudFixture.Election, CloudFixture.Ballots, TimeProvider.System);
                foreach (var tally in device.Tallies) outbox.SignAndAdd(signer, tally);
                var loop = new DeliveryLoop(outbox, device.Identity.DeviceId,
                    BrokerConnection.For(device.Credentials, "127.0.0.1", proxy.Port, _pki.LogKey), options with { Seed = loops.Count });
                loops.Add(loop);
                var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                loop.StatusChanged += s => { if (s.AllSettled) done.TrySetResult(); };
                settled.Add(done.Task);
                running.Add(loop.RunAsync(stop.Token));
            }
            // Bounded: a device that never gets through fails the test rather than hanging it.
            await Task.WhenAll(settled).WaitAsync(TimeSpan.FromMinutes(3));
        }
        finally
        {
            stop.Cancel();
            await Task.WhenAll(running);
            foreach (var loop in loops) await loop.DisposeAsync();
        }

        int forms = devices.Sum(d => d.Tallies.Count);
        Assert.All(outboxes, o => Assert.Equal(0, o.Status().Rejected));
        Assert.Equal(forms, outboxes.Sum(o => o.Status().Receipted));
        Assert.Equal(forms, _cloud.Stats.Accepted);
        Assert.True(proxy.Counters.Resets + proxy.Counters.CutByOutage + proxy.Counters.RefusedDuringOutage > 0, "the bad link never bit");

        await _cloud.Recap.SettleAsync();
        using var http = new HttpClient { BaseAddress = _cloud.ApiBase };
        var signed = devices.SelectMany(d => d.Tallies).ToArray();
        foreach (var contest in Contests.All)
            Assert.Empty(await RecapCheck.CompareAsync(http, signed, contest, RegionCode.Nasional));
        foreach (var outbox in outboxes) outbox.Dispose();
    }

    public async Task DisposeAsync()
    {
        await _cloud.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }
}
