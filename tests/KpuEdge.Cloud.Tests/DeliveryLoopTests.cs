using System.Net;
using System.Net.Sockets;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto.Pki;
using KpuEdge.Edge.Delivery;
using KpuEdge.Edge.Device;
using KpuEdge.Edge.Transport;
using KpuEdge.Simulator;
using KpuEdge.TestSupport;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// The device's durable outbox and delivery loop against the real cloud: every form is signed into the outbox before
/// it is sent, delivered once its verified receipt arrives, resent harmlessly after a device restart, and delivered
/// after the cloud comes back from being down.
/// </summary>
public sealed class DeliveryLoopTests : IAsyncLifetime
{
    private static readonly TpsCode Tps = CloudFixture.Tree.TpsIn(RegionCode.Parse("9171")).First(); // Kota Jayapura
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"kpu-delivery-{Guid.NewGuid():N}");
    private readonly SimulationPki _pki = SimulationPki.Create(CloudFixture.Election, seed: 31);
    private readonly int _brokerPort = FreePort();
    private DeviceCredentials _device = null!;

    private static readonly DeliveryOptions Fast = new()
    {
        BackoffBase = TimeSpan.FromMilliseconds(20), BackoffMax = TimeSpan.FromMilliseconds(200), ResendAfter = TimeSpan.FromSeconds(5), Seed = 1,
    };

    public Task InitializeAsync()
    {
        _device = _pki.Pki.IssueDevice($"dev-{Tps}", KpuRole.Tps, Tps.Value);
        return Task.CompletedTask;
    }

    private Task<InProcessCloud> StartCloudAsync() =>
        InProcessCloud.StartAsync(Path.Combine(_dir, "cloud"), CloudFixture.Tree, CloudFixture.Election, pki: _pki,
            configure: o => o.BrokerPort = _brokerPort);

    private Outbox OpenOutbox() => new(Path.Combine(_dir, "device", Outbox.FileName));

    private IReadOnlyList<C1Tally> Tallies() =>
        SyntheticTally.ForTps(Tps, CloudFixture.Ballots, CloudFixture.Election, 3);

    private FormSigner Signer() => new(DeviceIdentity.From(_device), CloudFixture.Election, CloudFixture.Ballots, TimeProvider.System);

    private DeliveryLoop Loop(Outbox outbox) =>
        new(outbox, _device.DeviceId, BrokerConnection.For(_device, "127.0.0.1", _brokerPort, _pki.LogKey), Fast);

    /// <summary>Runs the loop until the outbox has nothing left to deliver (a condition, not a timer).</summary>
    private static async Task DeliverAllAsync(DeliveryLoop loop, Outbox outbox) =>
        Assert.True(await loop.RunUntilSettledAsync(TimeSpan.FromSeconds(60)), $"not settled: {outbox.Status()}");

    [Fact]
    public async Task Delivers_every_form_of_the_outbox_once_with_verified_receipts()
    {
        await using var cloud = await StartCloudAsync();
        cloud.Register(_device);
        using var outbox = OpenOutbox();
        var signer = Signer();
        var signed = Tallies().Select(t => outbox.SignAndAdd(signer, t)).ToList();
        Assert.Equal(signed.Count, outbox.Status().Queued);

        await using (var loop = Loop(outbox)) await DeliverAllAsync(loop, outbox);

        Assert.Equal(new OutboxStatus(0, 0, signed.Count, 0), outbox.Status());
        Assert.All(outbox.All(), e => Assert.NotNull(e.LogIndex));
        Assert.Equal(signed.Count, cloud.Stats.Accepted);
        Assert.Equal((ulong)signed.Count, outbox.Chain.Sequence);
    }

    [Fact]
    public async Task A_restarted_device_resends_what_had_no_receipt_and_the_cloud_counts_it_once()
    {
        await using var cloud = await StartCloudAsync();
        cloud.Register(_device);
        var tallies = Tallies();
        // First run: the forms were sent, then the device lost power before any receipt was stored.
        using (var outbox = OpenOutbox())
        {
            var signer = Signer();
            foreach (var t in tallies) outbox.SignAndAdd(signer, t);
            await using var client = new SubmissionClient(_device.DeviceId, cloud.ConnectionFor(_device));
            await client.ConnectAsync();
            foreach (var e in outbox.All())
            {
                Assert.Equal(ReceiptStatus.Accepted, (await client.SubmitAsync(Crypto.SignedSubmission.Decode(e.Wire), TimeSpan.FromSeconds(30))).Status);
                outbox.MarkSent(e.Hash); // sent, but its receipt never made it to the outbox
            }
        }
        // After the restart the loop finds them sent without receipt, resends, and gets duplicates: delivered, counted once.
        using (var outbox = OpenOutbox())
        {
            Assert.Equal(tallies.Count, outbox.Status().Sent);
            var resend = Fast with { ResendAfter = TimeSpan.Zero };
            await using (var loop = new DeliveryLoop(outbox, _device.DeviceId, BrokerConnection.For(_device, "127.0.0.1", _brokerPort, _pki.LogKey), resend))
                await DeliverAllAsync(loop, outbox);
            Assert.Equal(tallies.Count, outbox.Status().Receipted);
        }
        // Resent at once (and maybe more than once before the receipts came back): each counted once.
        Assert.Equal(tallies.Count, cloud.Stats.Accepted);
        Assert.True(cloud.Stats.Duplicates >= tallies.Count);
    }

    [Fact]
    public async Task Keeps_trying_while_the_cloud_is_down_and_delivers_when_it_is_back()
    {
        using var outbox = OpenOutbox();
        var signer = Signer();
        foreach (var t in Tallies()) outbox.SignAndAdd(signer, t);
        await using var loop = Loop(outbox);
        var settled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.StatusChanged += status => { if (status.AllSettled) settled.TrySetResult(); };
        using var stop = new CancellationTokenSource();
        var running = loop.RunAsync(stop.Token);

        // Nothing listens yet: the loop backs off and retries; the forms wait in the outbox.
        Assert.False(settled.Task.IsCompleted);
        await using (var cloud = await StartCloudAsync())
        {
            cloud.Register(_device);
            await settled.Task.WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(outbox.Status().Receipted, cloud.Stats.Accepted);
        }
        stop.Cancel();
        await running;
        Assert.True(loop.Connects >= 1);
    }

    [Fact]
    public void The_outbox_survives_reopening_with_its_chain_and_entries_intact()
    {
        var tallies = Tallies();
        using (var outbox = OpenOutbox())
        {
            var signer = Signer();
            outbox.SignAndAdd(signer, tallies[0]);
            outbox.SignAndAdd(signer, tallies[1]);
        }
        using (var outbox = OpenOutbox())
        {
            Assert.Equal("ok", outbox.IntegrityCheck());
            Assert.Equal(2UL, outbox.Chain.Sequence);
            var third = outbox.SignAndAdd(Signer(), tallies[2]);
            // The chain continues from the stored head, never from a fresh signer's zero.
            Assert.Equal(3UL, third.Submission.Sequence);
            Assert.Equal(outbox.All()[1].Hash, third.Submission.PreviousHash);
        }
    }

    private static int FreePort() => KpuEdge.TestSupport.LocalServices.FreePorts.OnLoopback();

    public Task DisposeAsync()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
        return Task.CompletedTask;
    }
}
