using System.Text.Json;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Cloud.Recap;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Edge.Device;
using KpuEdge.Edge.Transport;
using KpuEdge.TestSupport;
using KpuEdge.Verify;
using Microsoft.Extensions.DependencyInjection;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// Three real nodes — each an Orleans silo, MQTT broker, ingest and HTTP API — clustered through a real Redis and
/// sharing a real PostgreSQL ledger, all started under a temp folder for the class.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public string DataDirectory { get; } = Path.Combine(Path.GetTempPath(), $"kpu-cluster-{Guid.NewGuid():N}");
    public InProcessCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync() =>
        Cluster = await InProcessCluster.StartAsync(DataDirectory, CloudFixture.Tree, CloudFixture.Election, nodes: 3,
            pki: SimulationPki.Create(CloudFixture.Election, seed: 11), configure: options =>
            {
                options.BrokerLimits = options.BrokerLimits with { RefusalWindow = TimeSpan.Zero };
                // Nodes take in another node's revocation list when a test runs their poll (RevocationService.FollowAsync).
                options.CrlPollInterval = TimeSpan.FromHours(1);
            });

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        try { Directory.Delete(DataDirectory, recursive: true); }
        catch (IOException) { /* the OS cleans temp */ }
        catch (UnauthorizedAccessException) { /* files of the database's own account: the OS cleans temp */ }
    }
}

/// <summary>
/// Issue 11: the ingest path through a real multi-node cluster. Devices send to different nodes and fail over between
/// them; whichever node a form reaches, its device's grain decides it, the shared ledger holds it once, every node's
/// receipts prove it in the one log, and every node's API shows the same national total — the devices' own sum.
/// </summary>
public sealed class ClusterTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private static readonly TimeSpan ReceiptTimeout = TimeSpan.FromSeconds(30);
    private InProcessCluster Cluster => fixture.Cluster;

    private sealed record Device(DeviceCredentials Credentials, FormSigner Signer)
    {
        public TpsCode Tps => DeviceIdentity.From(Credentials).Tps;
    }

    private async Task<Device[]> ProvisionAsync(IEnumerable<TpsCode> tps, string prefix)
    {
        var devices = tps.Select(t =>
        {
            var credentials = Cluster.Pki.Pki.IssueDevice($"{prefix}-{t}", KpuRole.Tps, t.Value, DeviceKey.Generate());
            return new Device(credentials, new FormSigner(DeviceIdentity.From(credentials), CloudFixture.Election, CloudFixture.Ballots, TimeProvider.System));
        }).ToArray();
        await Cluster.RegisterAsync(devices.Select(d => d.Credentials).ToList());
        return devices;
    }

    private async Task<SubmissionClient> ConnectAsync(Device device, int node)
    {
        var client = new SubmissionClient(device.Credentials.DeviceId, Cluster.ConnectionFor(device.Credentials, node));
        await client.ConnectAsync();
        return client;
    }

    private static C1TallyFor TallyOf(Device device, ContestId contest) =>
        new(Core.Tally.SyntheticTally.ForTps(device.Tps, CloudFixture.Ballots, CloudFixture.Election, 5).Single(t => t.Contest == contest));

    private sealed record C1TallyFor(Core.Tally.C1Tally Tally);

    [Fact]
    public async Task Forms_sent_to_three_nodes_are_counted_once_and_every_node_publishes_the_devices_sum()
    {
        // 24 TPS in three provinces; device i sends to node i mod 3, and every third one fails over to the next node
        // and sends its PPWP form again there.
        var tps = new[] { "11", "52", "94" }.SelectMany(p => CloudFixture.Tree.TpsIn(RegionCode.Parse(p)).Take(8)).ToArray();
        var devices = await ProvisionAsync(tps, "dev-c");
        var expected = new ContestTotals();
        long accepted = 0;
        for (int i = 0; i < devices.Length; i++)
        {
            var device = devices[i];
            var tally = TallyOf(device, ContestId.Ppwp).Tally;
            var signed = device.Signer.Sign(tally);
            await using (var client = await ConnectAsync(device, i % 3))
            {
                var receipt = await client.SubmitAsync(signed, ReceiptTimeout);
                Assert.Equal(ReceiptStatus.Accepted, receipt.Status);
                accepted++;
                expected.Add(ContestTotals.FromTally(tally, CloudFixture.Ballots.For(ContestId.Ppwp, device.Tps)!));
                if (i % 3 == 0)
                {
                    await using var other = await ConnectAsync(device, (i + 1) % 3);
                    var again = await other.SubmitAsync(signed, ReceiptTimeout);
                    Assert.Equal(ReceiptStatus.Duplicate, again.Status);
                    Assert.Equal(receipt.LedgerPosition, again.LedgerPosition);
                    Assert.Equal(receipt.LogIndex, again.LogIndex);
                }
            }
        }

        var ledger = Cluster.Node(0).Services.GetRequiredService<IResultsLedger>();
        Assert.True(await ledger.CountAsync() >= accepted);
        foreach (var device in devices)
            Assert.Single(await ledger.DeviceLinksAsync(device.Credentials.DeviceId));

        foreach (var node in Cluster.Nodes) await node.Recap.SettleAsync();
        foreach (var node in Cluster.Nodes)
        {
            using var http = new HttpClient { BaseAddress = node.ApiBase };
            var national = JsonDocument.Parse(await http.GetStringAsync("api/v1/results/ppwp")).RootElement;
            foreach (var pair in CloudFixture.Election.PpwpPairs)
            {
                string key = pair.Number.ToString();
                long counted = national.GetProperty("chart").GetProperty(key) is { ValueKind: JsonValueKind.Number } n ? n.GetInt64() : 0;
                // Other tests of the class add to the same cluster: at least these devices' votes, and the provinces exactly.
                Assert.True(counted >= expected.VotesFor(key), $"{node.Options.NodeName}: pair {key} {counted} < {expected.VotesFor(key)}");
            }
            foreach (var province in new[] { "11", "52", "94" })
            {
                var view = JsonDocument.Parse(await http.GetStringAsync($"api/v1/results/ppwp/{province}")).RootElement;
                var sent = devices.Where(d => d.Tps.Value.StartsWith(province, StringComparison.Ordinal))
                    .Select(d => ContestTotals.FromTally(TallyOf(d, ContestId.Ppwp).Tally, CloudFixture.Ballots.For(ContestId.Ppwp, d.Tps)!))
                    .Aggregate(new ContestTotals(), (sum, t) => { sum.Add(t); return sum; });
                Assert.Equal(sent.TpsReported, view.GetProperty("progres").GetProperty("progres").GetInt64());
                foreach (var (key, votes) in sent.Chart())
                    Assert.Equal(votes, view.GetProperty("chart").GetProperty(key).GetInt64());
            }
        }
    }

    [Fact]
    public async Task A_device_that_fails_over_between_nodes_keeps_one_chain_decided_in_one_place()
    {
        var device = (await ProvisionAsync([CloudFixture.Tree.TpsIn(RegionCode.Parse("3273")).First()], "dev-f"))[0];
        var contests = new[] { ContestId.Ppwp, ContestId.Dpr, ContestId.Dpd };
        var positions = new List<long>();
        for (int node = 0; node < 3; node++)
        {
            await using var client = await ConnectAsync(device, node);
            var receipt = await client.SubmitAsync(device.Signer.Sign(TallyOf(device, contests[node]).Tally), ReceiptTimeout);
            Assert.Equal(ReceiptStatus.Accepted, receipt.Status);
            positions.Add(receipt.LedgerPosition!.Value);
        }
        Assert.Equal(3, positions.Distinct().Count());

        // A second form with a number the device already used, sent to a node the first never touched: the device's
        // grain holds its chain, so it is a fork wherever it arrives.
        var reused = Forge(device, sequence: 2, TallyOf(device, ContestId.DprdProvinsi).Tally);
        await using (var client = await ConnectAsync(device, 1))
        {
            var receipt = await client.SubmitAsync(reused, ReceiptTimeout);
            Assert.Equal((ReceiptStatus.Rejected, RejectReasons.ChainFork), (receipt.Status, receipt.Reason));
        }
        var links = await Cluster.Node(2).Services.GetRequiredService<IResultsLedger>().DeviceLinksAsync(device.Credentials.DeviceId);
        Assert.Equal([1UL, 2UL, 3UL], links.Select(l => l.Link.Sequence));
    }

    [Fact]
    public async Task Every_node_proves_what_any_node_wrote_and_an_auditor_recomputes_one_log()
    {
        var devices = await ProvisionAsync(CloudFixture.Tree.TpsIn(RegionCode.Parse("5103")).Take(6), "dev-l");
        for (int i = 0; i < devices.Length; i++)
        {
            await using var client = await ConnectAsync(devices[i], i % 3);
            // The client believes a receipt only with an inclusion proof that verifies against a checkpoint signed by the log key.
            Assert.Equal(ReceiptStatus.Accepted, (await client.SubmitAsync(devices[i].Signer.Sign(TallyOf(devices[i], ContestId.Dpd).Tally), ReceiptTimeout)).Status);
        }

        // Checkpoints published through different nodes: one signer, so the same size has the same root, and the later
        // extends the earlier (a consistency proof from any node verifies).
        using var first = new HttpClient { BaseAddress = Cluster.Node(0).ApiBase };
        using var third = new HttpClient { BaseAddress = Cluster.Node(2).ApiBase };
        string a = await first.GetStringAsync("api/v1/log/checkpoint?fresh=true");
        string b = await third.GetStringAsync("api/v1/log/checkpoint?fresh=true");
        var key = Cluster.Pki.LogKey;
        var ca = Crypto.Transparency.SignedCheckpoint.Open(a, key).Checkpoint;
        var cb = Crypto.Transparency.SignedCheckpoint.Open(b, key).Checkpoint;
        Assert.True(cb.Size >= ca.Size);
        if (cb.Size == ca.Size) Assert.Equal(ca.RootHash, cb.RootHash);
        else
        {
            var proof = JsonDocument.Parse(await third.GetStringAsync($"api/v1/log/proof/consistency?from={ca.Size}&to={cb.Size}")).RootElement
                .GetProperty("proof").EnumerateArray().Select(p => Convert.FromBase64String(p.GetString()!)).ToList();
            Assert.True(Crypto.Transparency.MerkleProof.VerifyConsistency(ca.Size, cb.Size, ca.RootHash, cb.RootHash, proof));
        }

        var audit = await new Verifier(third).AuditAsync(Cluster.Node(1).ApiBase, key);
        Assert.True(audit.Ok, string.Join("; ", audit.Checks.Where(c => !c.Ok).Select(c => $"{c.Name}: {c.Detail}")));
    }

    [Fact]
    public async Task A_device_registered_through_one_node_is_served_by_every_node()
    {
        var tps = CloudFixture.Tree.TpsIn(RegionCode.Parse("6171")).First();
        var credentials = Cluster.Pki.Pki.IssueDevice($"dev-r-{tps}", KpuRole.Tps, tps.Value, DeviceKey.Generate());
        var device = new Device(credentials, new FormSigner(DeviceIdentity.From(credentials), CloudFixture.Election, CloudFixture.Ballots, TimeProvider.System));

        await Cluster.Node(2).RegisterAsync([credentials]);

        var contests = new[] { ContestId.Ppwp, ContestId.Dpr };
        for (int node = 0; node < 2; node++)
        {
            await using var client = await ConnectAsync(device, node);
            var receipt = await client.SubmitAsync(device.Signer.Sign(TallyOf(device, contests[node]).Tally), ReceiptTimeout);
            Assert.Equal(ReceiptStatus.Accepted, receipt.Status);
        }
        foreach (var node in Cluster.Nodes)
        {
            using var http = new HttpClient { BaseAddress = node.ApiBase };
            Assert.Equal(credentials.SigningCertificate.ToPem(), await http.GetStringAsync($"api/v1/devices/{credentials.DeviceId}/certificate"));
        }
    }

    [Fact]
    public async Task A_revocation_list_installed_on_one_node_refuses_the_revoked_device_s_later_form_on_another()
    {
        var device = (await ProvisionAsync([CloudFixture.Tree.TpsIn(RegionCode.Parse("6172")).First()], "dev-v"))[0];
        await using (var client = await ConnectAsync(device, 1))
            Assert.Equal(ReceiptStatus.Accepted, (await client.SubmitAsync(device.Signer.Sign(TallyOf(device, ContestId.Ppwp).Tally), ReceiptTimeout)).Status);

        // The issuing CA revokes the device's signing key (compromised); the list reaches node 1 only.
        var now = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        var crl = Cluster.Pki.Pki.Issuing.CreateCrl(
            [new RevokedCertificate(device.Credentials.SigningCertificate.SerialHex, now, RevocationReason.KeyCompromise)], now, now.AddDays(7));
        var older = Cluster.Pki.Pki.Issuing.CreateCrl([], now.AddSeconds(-5), now.AddDays(7));
        using (var first = new HttpClient { BaseAddress = Cluster.Node(0).ApiBase })
        using (var put = await first.PutAsync("api/v1/pki/crl", new ByteArrayContent(crl)))
            Assert.Equal(System.Net.HttpStatusCode.OK, put.StatusCode);

        // An older list delivered to a node that has not taken the newer in yet is refused all the same: the ledger holds the newer.
        using var third = new HttpClient { BaseAddress = Cluster.Node(2).ApiBase };
        using (var put = await third.PutAsync("api/v1/pki/crl", new ByteArrayContent(older)))
        {
            Assert.Equal(System.Net.HttpStatusCode.UnprocessableEntity, put.StatusCode);
            Assert.Contains("installed through another node", await put.Content.ReadAsStringAsync());
        }

        // What each node's poll does every CrlPollInterval: the device's next form is refused on node 2 as on node 1.
        foreach (int node in new[] { 1, 2 })
            Assert.Single(await Cluster.Node(node).Services.GetRequiredService<Security.RevocationService>().FollowAsync());
        foreach (int node in new[] { 1, 2 })
        {
            await using var client = await ConnectAsync(device, node);
            var refused = await client.SubmitAsync(device.Signer.Sign(TallyOf(device, ContestId.Dpr).Tally), ReceiptTimeout, 1);
            Assert.Equal((ReceiptStatus.Rejected, RejectReasons.RevokedDevice), (refused.Status, refused.Reason));
        }
        Assert.Equal(crl, await third.GetByteArrayAsync("api/v1/pki/crl"));
        // Node 1 refused nothing itself, yet its status counts the others' refusals: running counters in the shared ledger.
        using (var first = new HttpClient { BaseAddress = Cluster.Node(0).ApiBase })
        {
            var status = JsonDocument.Parse(await first.GetStringAsync("api/v1/status")).RootElement;
            Assert.True(status.GetProperty("rejections_recorded").GetProperty(RejectReasons.RevokedDevice).GetInt64() >= 2);
        }
        // Logged once, though three nodes installed it.
        var revocations = await Cluster.Node(1).Services.GetRequiredService<IResultsLedger>().RevocationsAsync();
        Assert.Single(revocations, r => r.DeviceId == device.Credentials.DeviceId);
    }

    /// <summary>A genuinely signed form with a chosen sequence number (what a cloned or restored device produces).</summary>
    private static SignedSubmission Forge(Device device, ulong sequence, Core.Tally.C1Tally tally)
    {
        var submission = new Submission
        {
            ElectionId = CloudFixture.Election.ElectionId, DeviceId = device.Credentials.DeviceId, Sequence = sequence,
            PreviousHash = Sha256Hash.Of("another history"u8), DeviceTime = DateTimeOffset.UtcNow.AddMinutes(-30), Tally = tally,
        };
        return SignedSubmission.Sign(submission, device.Credentials.SigningKey);
    }
}
