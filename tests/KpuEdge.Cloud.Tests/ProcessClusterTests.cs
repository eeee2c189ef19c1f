using System.Text.Json;
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

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// Issue 11 §Faults at process level: three kpu-cloud processes (as `./kpu cluster` starts them) with their own Redis
/// and PostgreSQL; one node is killed with SIGKILL while devices send to it, its devices fail over, and it is started
/// again. Every receipted form is in the ledger once, the log after extends the log before, and the recap every node
/// publishes is the devices' sum.
/// </summary>
public sealed class ProcessClusterTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"kpu-processes-{Guid.NewGuid():N}");
    private ProcessCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await ProcessCluster.StartAsync(new ProcessClusterOptions { DataDirectory = _data, Nodes = 3 }, CloudFixture.Election);

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        try { Directory.Delete(_data, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    private sealed record Device(DeviceCredentials Credentials, FormSigner Signer, int Node)
    {
        public TpsCode Tps => DeviceIdentity.From(Credentials).Tps;

        public Core.Tally.C1Tally Tally(ContestId contest) =>
            Core.Tally.SyntheticTally.ForTps(Tps, CloudFixture.Ballots, CloudFixture.Election, 9).Single(t => t.Contest == contest);
    }

    private Task<Receipt> DeliverAsync(Device device, SignedSubmission form, Func<int> node) =>
        ClusterChecks.DeliverAsync(device.Credentials, form, i => _cluster.ConnectionFor(device.Credentials, i), node, Patience, TimeSpan.FromSeconds(3), 3);

    private Task<SignedCheckpoint> CheckpointAsync(int node) => ClusterChecks.CheckpointAsync(_cluster.Nodes[node].ApiBase, _cluster.Pki.LogKey);

    [Fact]
    public async Task A_node_killed_with_SIGKILL_mid_run_loses_nothing_and_counts_nothing_twice()
    {
        var devices = CloudFixture.Tree.TpsIn(RegionCode.Parse("1471")).Take(12).Select((tps, i) => // Kota Pekanbaru
        {
            var credentials = _cluster.Pki.Pki.IssueDevice($"dev-k-{tps}", KpuRole.Tps, tps.Value, DeviceKey.Generate());
            return new Device(credentials, new FormSigner(DeviceIdentity.From(credentials), CloudFixture.Election, CloudFixture.Ballots, TimeProvider.System), i % 3);
        }).ToArray();
        await _cluster.RegisterAsync(devices.Select(d => d.Credentials).ToList());
        foreach (var d in devices)
            Assert.Equal(ReceiptStatus.Accepted, (await DeliverAsync(d, d.Signer.Sign(d.Tally(ContestId.Ppwp)), () => d.Node)).Status);
        var before = await CheckpointAsync(0);

        // Node 2 dies while its devices are sending their DPR forms; they fail over to node 1.
        bool killed = false;
        int NodeOf(Device d) => killed && d.Node == 1 ? 0 : d.Node;
        var sending = devices.Select(d => DeliverAsync(d, d.Signer.Sign(d.Tally(ContestId.Dpr)), () => NodeOf(d))).ToArray();
        await _cluster.KillNodeAsync(1);
        killed = true;
        var receipts = await Task.WhenAll(sending);
        Assert.All(receipts, r => Assert.Contains(r.Status, new[] { ReceiptStatus.Accepted, ReceiptStatus.Duplicate }));

        var restart = System.Diagnostics.Stopwatch.StartNew();
        await _cluster.StartNodeAsync(1);
        restart.Stop();
        // The restarted node may answer its first forms slower than the client's 3 s receipt wait: a resend then gets
        // "duplicate" for the form the first send already put in. Either way it is in once, as the ledger shows below.
        foreach (var d in devices)
            Assert.Contains((await DeliverAsync(d, d.Signer.Sign(d.Tally(ContestId.Dpd)), () => d.Node)).Status,
                new[] { ReceiptStatus.Accepted, ReceiptStatus.Duplicate });

        // Exactly the forms the devices were told are in: three per device, in the shared ledger.
        await using (var ledger = PostgresLedger.Open(_cluster.Postgres.ConnectionString))
            foreach (var d in devices)
                Assert.Equal([1UL, 2UL, 3UL], (await ledger.DeviceLinksAsync(d.Credentials.DeviceId)).Select(l => l.Link.Sequence));

        await ClusterChecks.AssertLogExtendsAsync(before, await CheckpointAsync(1), _cluster.Nodes[1].ApiBase);

        // Every node publishes the devices' own sums (region flushes run every 250 ms; give them until the patience runs out).
        foreach (var contest in new[] { ContestId.Ppwp, ContestId.Dpr, ContestId.Dpd })
        {
            var expected = new ContestTotals();
            foreach (var d in devices) expected.Add(ContestTotals.FromTally(d.Tally(contest), CloudFixture.Ballots.For(contest, d.Tps)!));
            for (int node = 0; node < 3; node++)
            {
                using var http = new HttpClient { BaseAddress = _cluster.Nodes[node].ApiBase };
                var deadline = DateTimeOffset.UtcNow + Patience;
                while (true)
                {
                    var view = JsonDocument.Parse(await http.GetStringAsync($"api/v1/results/{contest.Slug()}/1471")).RootElement;
                    bool equal = view.GetProperty("progres").GetProperty("progres").GetInt64() == devices.Length
                                 && expected.Chart().All(c => view.GetProperty("chart").GetProperty(c.Key) is { ValueKind: JsonValueKind.Number } n && n.GetInt64() == c.Value);
                    if (equal) break;
                    Assert.True(DateTimeOffset.UtcNow < deadline, $"{_cluster.Nodes[node].Name}: {contest.Slug()} of 1471 is not the devices' sum: {view}");
                    await Task.Delay(250);
                }
            }
        }
    }
}
