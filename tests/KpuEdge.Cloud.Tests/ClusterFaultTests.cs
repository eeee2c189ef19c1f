using System.Text.Json;
using KpuEdge.Cloud.Ingest;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Cloud.Recap;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Transparency;
using KpuEdge.Edge.Device;
using KpuEdge.Edge.Transport;
using KpuEdge.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace KpuEdge.Cloud.Tests;

/// <summary>A cluster of its own for the fault tests: they kill its database, its Redis and its nodes.</summary>
public sealed class FaultClusterFixture : IAsyncLifetime
{
    public string DataDirectory { get; } = Path.Combine(Path.GetTempPath(), $"kpu-faults-{Guid.NewGuid():N}");
    public InProcessCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync() =>
        Cluster = await InProcessCluster.StartAsync(DataDirectory, CloudFixture.Tree, CloudFixture.Election, nodes: 3,
            pki: SimulationPki.Create(CloudFixture.Election, seed: 13));

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        try { Directory.Delete(DataDirectory, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>
/// Issue 11 §Faults, through a real three-node cluster: PostgreSQL killed (-9) and restarted while devices send, Redis
/// killed and restarted, a node stopped and started again. Each time: nothing is acknowledged before it is committed,
/// every receipted form is in the ledger exactly once, the log after the fault extends the log before it (a
/// consistency proof verifies), and the recap equals the devices' own sums.
/// </summary>
public sealed class ClusterFaultTests(FaultClusterFixture fixture) : IClassFixture<FaultClusterFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private InProcessCluster Cluster => fixture.Cluster;

    private sealed record Device(DeviceCredentials Credentials, FormSigner Signer, int Node)
    {
        public string Id => Credentials.DeviceId;
        public TpsCode Tps => DeviceIdentity.From(Credentials).Tps;

        public Core.Tally.C1Tally Tally(ContestId contest) =>
            Core.Tally.SyntheticTally.ForTps(Tps, CloudFixture.Ballots, CloudFixture.Election, 3).Single(t => t.Contest == contest);
    }

    private async Task<Device[]> ProvisionAsync(string region, string prefix, int count)
    {
        var devices = CloudFixture.Tree.TpsIn(RegionCode.Parse(region)).Take(count).Select((tps, i) =>
        {
            var credentials = Cluster.Pki.Pki.IssueDevice($"{prefix}-{tps}", KpuRole.Tps, tps.Value, DeviceKey.Generate());
            return new Device(credentials, new FormSigner(DeviceIdentity.From(credentials), CloudFixture.Election, CloudFixture.Ballots, TimeProvider.System), i % 3);
        }).ToArray();
        await Cluster.RegisterAsync(devices.Select(d => d.Credentials).ToList());
        return devices;
    }

    private Task<Receipt> DeliverAsync(Device device, SignedSubmission form, Func<int> node) =>
        ClusterChecks.DeliverAsync(device.Credentials, form, i => Cluster.ConnectionFor(device.Credentials, i), node, Patience, TimeSpan.FromSeconds(2), 5);

    private Task<SignedCheckpoint> CheckpointAsync(int node) => ClusterChecks.CheckpointAsync(Cluster.Node(node).ApiBase, Cluster.Pki.LogKey);

    private Task AssertLogExtendsAsync(SignedCheckpoint before, SignedCheckpoint after, int node) =>
        ClusterChecks.AssertLogExtendsAsync(before, after, Cluster.Node(node).ApiBase);

    /// <summary>Every device has exactly the forms it was told were accepted, and the region's recap is their sum.</summary>
    private async Task AssertCountedOnceAsync(Device[] devices, string region, ContestId contest, int formsPerDevice)
    {
        var ledger = Cluster.Nodes[0].Services.GetRequiredService<IResultsLedger>();
        foreach (var device in devices) Assert.Equal(formsPerDevice, (await ledger.DeviceLinksAsync(device.Id)).Count);
        foreach (var node in Cluster.Nodes) await node.Recap.SettleAsync();
        var expected = new ContestTotals();
        foreach (var device in devices) expected.Add(ContestTotals.FromTally(device.Tally(contest), CloudFixture.Ballots.For(contest, device.Tps)!));
        using var http = new HttpClient { BaseAddress = Cluster.Nodes[^1].ApiBase };
        var view = JsonDocument.Parse(await http.GetStringAsync($"api/v1/results/{contest.Slug()}/{region}")).RootElement;
        Assert.Equal(devices.Length, view.GetProperty("progres").GetProperty("progres").GetInt64());
        foreach (var (key, votes) in expected.Chart()) Assert.Equal(votes, view.GetProperty("chart").GetProperty(key).GetInt64());
    }

    private long Received => Cluster.Nodes.Sum(n => n.Stats.Received);

    private static async Task UntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTimeOffset.UtcNow + Patience;
        while (!condition())
        {
            if (DateTimeOffset.UtcNow > deadline) throw new TimeoutException($"Still waiting for {what}.");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task PostgreSQL_killed_mid_run_pauses_the_ingest_and_nothing_is_lost_or_counted_twice()
    {
        var devices = await ProvisionAsync("3578", "dev-pg", 9); // Kota Surabaya
        foreach (var d in devices)
            Assert.Equal(ReceiptStatus.Accepted, (await DeliverAsync(d, d.Signer.Sign(d.Tally(ContestId.Ppwp)), () => d.Node)).Status);
        var before = await CheckpointAsync(0);

        await Cluster.Postgres.KillAsync();
        long received = Received;
        var sending = devices.Select(d => DeliverAsync(d, d.Signer.Sign(d.Tally(ContestId.Dpd)), () => d.Node)).ToArray();
        // The forms reach the ingest while the ledger is down: none may be answered as accepted.
        await UntilAsync(() => Received >= received + devices.Length, "the forms to reach the ingest");
        Assert.DoesNotContain(sending, s => s.IsCompletedSuccessfully);
        await Cluster.Postgres.RestartAsync();

        var receipts = await Task.WhenAll(sending);
        // Accepted, or — when the database committed a form but died before saying so — a duplicate naming that entry.
        Assert.All(receipts, r => Assert.Contains(r.Status, new[] { ReceiptStatus.Accepted, ReceiptStatus.Duplicate }));
        await AssertCountedOnceAsync(devices, "3578", ContestId.Dpd, 2);
        await AssertLogExtendsAsync(before, await CheckpointAsync(1), 1);
    }

    [Fact]
    public async Task Redis_killed_and_restarted_leaves_the_cluster_counting()
    {
        var devices = await ProvisionAsync("6171", "dev-rd", 6); // Kota Pontianak
        var before = await CheckpointAsync(2);
        await Cluster.Redis.KillAsync();
        foreach (var d in devices.Take(3))
            Assert.Equal(ReceiptStatus.Accepted, (await DeliverAsync(d, d.Signer.Sign(d.Tally(ContestId.Ppwp)), () => d.Node)).Status);
        await Cluster.Redis.RestartAsync();
        foreach (var d in devices.Skip(3))
            Assert.Equal(ReceiptStatus.Accepted, (await DeliverAsync(d, d.Signer.Sign(d.Tally(ContestId.Ppwp)), () => d.Node)).Status);
        await AssertCountedOnceAsync(devices, "6171", ContestId.Ppwp, 1);
        await AssertLogExtendsAsync(before, await CheckpointAsync(0), 0);
    }

    [Fact]
    public async Task A_node_stopped_mid_run_hands_its_devices_to_the_others_and_serves_again_when_restarted()
    {
        var devices = await ProvisionAsync("7371", "dev-nd", 9); // Kota Makassar
        foreach (var d in devices)
            Assert.Equal(ReceiptStatus.Accepted, (await DeliverAsync(d, d.Signer.Sign(d.Tally(ContestId.Ppwp)), () => d.Node)).Status);
        var before = await CheckpointAsync(0);

        // Node 2 goes; its devices fail over to node 0 (their grains, and the regions it held, activate on the others).
        await Cluster.StopNodeAsync(1);
        // Before any device sends again: the totals the stopped node's grains held are rebuilt from the ledger.
        await AssertCountedOnceAsync(devices, "7371", ContestId.Ppwp, 1);
        int NodeOf(Device d) => d.Node == 1 ? 0 : d.Node;
        foreach (var d in devices)
            Assert.Equal(ReceiptStatus.Accepted, (await DeliverAsync(d, d.Signer.Sign(d.Tally(ContestId.Dpr)), () => NodeOf(d))).Status);

        var restarted = System.Diagnostics.Stopwatch.StartNew();
        await Cluster.StartNodeAsync(1);
        restarted.Stop();
        foreach (var d in devices)
            Assert.Equal(ReceiptStatus.Accepted, (await DeliverAsync(d, d.Signer.Sign(d.Tally(ContestId.Dpd)), () => d.Node)).Status);

        await AssertCountedOnceAsync(devices, "7371", ContestId.Dpd, 3);
        await AssertCountedOnceAsync(devices, "7371", ContestId.Ppwp, 3);
        await AssertLogExtendsAsync(before, await CheckpointAsync(1), 1);
    }
}
