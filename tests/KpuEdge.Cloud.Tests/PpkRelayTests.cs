using System.Net;
using System.Net.Sockets;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Security;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Images;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Transparency;
using KpuEdge.Edge.Delivery;
using KpuEdge.Edge.Relay;
using KpuEdge.Edge.Transport;
using KpuEdge.LinkEmulator;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;
using MQTTnet.Protocol;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// A TPS device with no link of its own delivers through its PPK station: the station keeps each form and its page
/// images, forwards them unchanged to the real cloud with its own credentials, and hands the cloud's receipt back, whose
/// proof the device checks itself. The cloud records the TPS device's own signed forms, once, whatever the path.
/// </summary>
public sealed class PpkRelayTests(CloudFixture fixture) : IClassFixture<CloudFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(45);
    private static readonly TimeSpan ReceiptTimeout = TimeSpan.FromSeconds(20);

    /// <summary>The kecamatan of Kota Jayapura with the most TPS: the station's; and another one of the same city.</summary>
    private static readonly IReadOnlyList<IGrouping<RegionCode, TpsCode>> Kecamatans = CloudFixture.Tree.TpsIn(RegionCode.Parse("9171"))
        .GroupBy(t => t.Region.AncestorAt(RegionLevel.Kecamatan)).OrderByDescending(g => g.Count()).ThenBy(g => g.Key.Value).ToList();
    private static readonly RegionCode Kecamatan = Kecamatans[0].Key;
    private static TpsCode TpsAt(int index) => Kecamatans[0].ElementAt(index);
    private static TpsCode ElsewhereTps => Kecamatans[1].First();

    private static readonly DeliveryOptions Fast = new()
    {
        BackoffBase = TimeSpan.FromMilliseconds(50), BackoffMax = TimeSpan.FromMilliseconds(500), ResendAfter = TimeSpan.FromSeconds(5),
        KeepAlive = TimeSpan.FromSeconds(5), ConnectTimeout = TimeSpan.FromSeconds(10), ImageChunkBytes = 4096, Seed = 9,
    };

    private string Folder(string name) => Path.Combine(fixture.DataDirectory, "ppk-relay", name);

    /// <summary>A PPK station of <see cref="Kecamatan"/> on loopback; its link to the cloud goes to <paramref name="cloudPort"/> (the cloud's broker by default).</summary>
    private PpkRelay NewStation(string name, int? cloudPort = null) => StationMaker(name, cloudPort)();

    /// <summary>Makes the same station (credentials, folder) again and again: a station process started anew.</summary>
    private Func<PpkRelay> StationMaker(string name, int? cloudPort = null)
    {
        var credentials = fixture.Pki.Pki.IssueDevice(name, KpuRole.Ppk, Kecamatan.Value);
        var (server, _) = fixture.Pki.Pki.IssueService($"{name}-broker", CertificatePurpose.TlsServer);
        var cloud = fixture.Cloud.ConnectionFor(credentials) with { Port = cloudPort ?? fixture.Cloud.BrokerPort };
        return () => new PpkRelay(Folder(name), credentials, server, cloud,
            new PpkRelayOptions { ListenAddress = IPAddress.Loopback, Port = 0, Delivery = Fast });
    }

    /// <summary>How a TPS device reaches the station instead of the cloud: the same TLS and receipt checks.</summary>
    private BrokerConnection ToStation(TestDevice device, PpkRelay station) =>
        BrokerConnection.For(device.Credentials, "127.0.0.1", station.Port, fixture.Pki.LogKey);

    /// <summary>Page images: random bytes of a page's size, seeded.</summary>
    private static byte[][] Pages(int count, int size, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            var page = new byte[size + random.Next(size / 4)];
            random.NextBytes(page);
            return page;
        }).ToArray();
    }

    /// <summary>Signs the TPS's five contests into the device's outbox, each with 1–3 pages.</summary>
    private static List<(SignedSubmission Signed, byte[][] Pages)> SignFiveForms(TestDevice device, Outbox outbox, int seed)
    {
        var tallies = SyntheticTally.ForTps(device.Tps, CloudFixture.Ballots, CloudFixture.Election, seed);
        Assert.Equal(5, tallies.Count);
        return tallies.Select((tally, i) =>
        {
            var pages = Pages(1 + i % 3, 7_000, seed * 10 + i);
            return (outbox.SignAndAdd(device.Signer, tally, pages), pages);
        }).ToList();
    }

    /// <summary>Waits for a condition, looking again at every change the station or the device reports (no timers).</summary>
    private static async Task UntilAsync(Func<bool> condition, PpkRelay station, DeliveryLoop? device = null)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Look()
        {
            if (condition()) done.TrySetResult();
        }
        Action<OutboxStatus> onStatus = _ => Look();
        Action<RelayEvent> onEvent = _ => Look();
        station.StatusChanged += onStatus;
        station.Relayed += onEvent;
        if (device is not null) device.StatusChanged += onStatus;
        try
        {
            Look();
            await done.Task.WaitAsync(Patience);
        }
        finally
        {
            station.StatusChanged -= onStatus;
            station.Relayed -= onEvent;
            if (device is not null) device.StatusChanged -= onStatus;
        }
    }

    private IResultsLedger Ledger => fixture.Cloud.Services.GetRequiredService<IResultsLedger>();

    /// <summary>The cloud holds each form once, as the TPS device signed it, and serves every page byte for byte.</summary>
    private async Task AssertCloudHoldsAsync(TestDevice device, IReadOnlyList<(SignedSubmission Signed, byte[][] Pages)> forms)
    {
        var entries = (await Ledger.ForTpsAsync(device.Tps));
        Assert.Equal(forms.Count, entries.Count);
        foreach (var (signed, pages) in forms)
        {
            var entry = Assert.Single(entries, e => e.Hash == signed.Hash);
            Assert.Equal(device.DeviceId, entry.DeviceId); // the TPS device's signature, not the PPK's
            Assert.Equal(signed.Wire, entry.Wire);
            Assert.True(SignedSubmission.Decode(entry.Wire).VerifySignature(device.Identity.Key.PublicKey));
            var contest = signed.Submission.Contest.Slug();
            for (int page = 0; page < pages.Length; page++)
                Assert.Equal(pages[page], await fixture.Http.GetByteArrayAsync($"api/v1/images/{device.Tps}/{contest}/{signed.Submission.ImageHash}/{page + 1}"));
        }
        Assert.Equal(forms.Sum(f => f.Pages.Length), (await Ledger.ImagesForTpsAsync(device.Tps)).Count);
    }

    private static bool Settled(Outbox outbox, int forms, int pages) =>
        outbox.Status() is { Queued: 0, Sent: 0, Rejected: 0 } s && s.Receipted == forms && s.Images.Stored == pages && s.Images.Pages == pages;

    /// <summary>The case-open switch at its seam: the test opens the case.</summary>
    private sealed class CaseSwitch : KpuEdge.Edge.Health.ITamperSwitch
    {
        public bool IsOpen { get; private set; }
        public event Action<bool>? Changed;
        public void Open() { IsOpen = true; Changed?.Invoke(true); }
        public void Dispose() { }
    }

    [Fact]
    public async Task A_TPS_device_s_health_reports_reach_the_NSOC_through_its_station_and_another_kecamatan_s_station_cannot_relay_them()
    {
        var device = fixture.NewDevice(TpsAt(3));
        await using var station = NewStation("ppk-relay-health");
        await station.StartAsync();
        using var outbox = new Outbox(Path.Combine(Folder(device.DeviceId), Outbox.FileName));
        await using var loop = new DeliveryLoop(outbox, device.DeviceId, ToStation(device, station), Fast);
        var tamper = new CaseSwitch();
        using var reporter = new KpuEdge.Edge.Health.HealthReporter(device.DeviceId, device.Credentials.SigningKey, outbox, new KpuEdge.Edge.Health.HealthSources
        {
            Tamper = tamper, System = new KpuEdge.Edge.Health.SystemProbe(Folder(device.DeviceId)), Link = loop.Link, AppVersion = "test",
        }, warn: _ => { });
        reporter.Attach(loop);
        var recorder = fixture.Cloud.Services.GetRequiredService<KpuEdge.Cloud.Security.SecurityEventRecorder>();
        var opened = recorder.RecordedAsync(e => e.Kind == KpuEdge.Nsoc.Rules.DeviceEventKindsInLedger.Tamper && e.DeviceId == device.DeviceId);
        using var stop = new CancellationTokenSource();
        var running = loop.RunAsync(stop.Token);
        reporter.Report();
        tamper.Open(); // reported at once, through the station

        var recorded = await opened.WaitAsync(Patience);
        Assert.Equal(device.Tps.Value, recorded.Evidence!["place"]); // the device's TPS, not the station's kecamatan
        var row = await fixture.Cloud.Services.GetRequiredService<IGrainFactory>().GetGrain<KpuEdge.Nsoc.Fleet.IFleetGrain>(device.Tps.Value[..2])
            .Device(device.DeviceId, DateTimeOffset.UtcNow, KpuEdge.Nsoc.Fleet.FleetBounds.From(KpuEdge.Nsoc.Rules.NsocRules.Default()));
        Assert.NotNull(row);
        Assert.False(row.Station);
        Assert.Equal(device.Tps.Value, row.Tps);
        Assert.True(station.Uplink.RelayedHealthReportsSent >= 2);
        Assert.Equal(0, station.Outbox.RelayedHealthWaiting);
        await stop.CancelAsync();
        await running;

        // A station of another kecamatan relaying this device's report: the cloud refuses it.
        var elsewhere = fixture.Pki.Pki.IssueDevice("ppk-relay-elsewhere", KpuRole.Ppk, ElsewhereTps.Region.AncestorAt(RegionLevel.Kecamatan).Value);
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(fixture.Cloud.ConnectionFor(elsewhere).ClientOptions(elsewhere.DeviceId, TimeProvider.System).Build());
        var refusedEvent = recorder.RecordedAsync(e => e.Kind == KpuEdge.Nsoc.Rules.DeviceEventKindsInLedger.TelemetryRefused
                                                       && e.Evidence?.GetValueOrDefault("reason") == "device_not_in_station_kecamatan");
        var wire = KpuEdge.Crypto.Health.SignedHealthReport.Sign(new KpuEdge.Crypto.Health.HealthReport
        {
            DeviceId = device.DeviceId, Sequence = 500, DeviceTime = DateTimeOffset.UtcNow, UptimeSeconds = 60, AppVersion = "test", ConfigVersion = "",
            DiskFreeMegabytes = 1, MemoryFreeMegabytes = 1, Outbox = new KpuEdge.Crypto.Health.OutboxReading(0, 0, 0), Reconnects = 0, TamperOpen = false,
        }, device.Credentials.SigningKey).Wire;
        await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(Topics.RelayedTelemetry(elsewhere.DeviceId, device.DeviceId)).WithPayload(wire)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.Equal(SecuritySeverity.Warning, (await refusedEvent.WaitAsync(Patience)).Severity);
        // Nor may it publish under another station's name.
        var other = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(Topics.RelayedTelemetry("ppk-relay-health", device.DeviceId)).WithPayload(wire)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, other.ReasonCode);
        await client.DisconnectAsync();
    }

    [Fact]
    public async Task A_TPS_device_delivers_through_its_PPK_station_and_the_cloud_holds_its_own_signed_forms_and_images()
    {
        var device = fixture.NewDevice(TpsAt(0));
        await using var station = NewStation("ppk-relay-a");
        await station.StartAsync();
        using var outbox = new Outbox(Path.Combine(Folder(device.DeviceId), Outbox.FileName));
        var forms = SignFiveForms(device, outbox, seed: 3);
        int pages = forms.Sum(f => f.Pages.Length);

        await using var loop = new DeliveryLoop(outbox, device.DeviceId, ToStation(device, station), Fast);
        using var stop = new CancellationTokenSource();
        var running = loop.RunAsync(stop.Token);
        // The station is done when the cloud stored every page; the device when the cloud's signed word about each page
        // came back through the station: the station's own "held here" did not settle a single page.
        await UntilAsync(() => Settled(station.Outbox, 5, pages), station, loop);
        await UntilAsync(() => Settled(outbox, 5, pages), station, loop);
        await stop.CancelAsync();
        await running;

        Assert.True(loop.PageAnswersRefused >= 1, "the station's own answers should not have settled pages");
        foreach (var (signed, formPages) in forms)
        {
            for (int page = 0; page < formPages.Length; page++)
            {
                var statement = outbox.PageStatement(signed.Submission.ImageHash, page);
                Assert.True(ImageStatement.Verify(statement, fixture.Pki.LogKey, signed.Submission.ImageHash, page, Sha256Hash.Of(formPages[page]), ImageStatement.Stored).Ok);
            }
        }
        Assert.Equal(0, loop.ReceiptsRefused);
        Assert.Equal(0, station.ReceiptsRefused);
        Assert.All(outbox.All(), e => Assert.NotNull(e.LogIndex));
        // The station forwarded the device's bytes, unchanged.
        Assert.Equal(forms.Select(f => f.Signed.Hash).Order(HashOrder.Instance), station.Outbox.All().Select(e => e.Hash).Order(HashOrder.Instance));
        await AssertCloudHoldsAsync(device, forms);
    }

    [Fact]
    public async Task While_the_station_s_link_is_down_it_holds_everything_and_when_it_is_back_everything_arrives_once()
    {
        var device = fixture.NewDevice(TpsAt(1));
        int cloudPort = FreePort(); // nothing listens there until the link comes back
        await using var station = NewStation("ppk-relay-b", cloudPort);
        await station.StartAsync();
        using var outbox = new Outbox(Path.Combine(Folder(device.DeviceId), Outbox.FileName));
        var forms = SignFiveForms(device, outbox, seed: 4);
        int pages = forms.Sum(f => f.Pages.Length);

        await using var loop = new DeliveryLoop(outbox, device.DeviceId, ToStation(device, station), Fast);
        using var stop = new CancellationTokenSource();
        var running = loop.RunAsync(stop.Token);

        // The station takes all five forms; with its link down, no receipt can come back.
        await UntilAsync(() => station.Outbox.All().Count == 5 && outbox.Status().Sent == 5, station, loop);
        Assert.Equal(0, station.CloudConnects);
        Assert.Equal(0, outbox.Status().Receipted);
        Assert.Empty((await Ledger.ForTpsAsync(device.Tps)));

        // The link comes back.
        await using (var link = new LinkProxy(LinkProfile.Transparent("ppk-uplink"), new IPEndPoint(IPAddress.Loopback, fixture.Cloud.BrokerPort),
                         new LinkProxyOptions { Seed = 5, Listen = new IPEndPoint(IPAddress.Loopback, cloudPort) }))
        {
            await UntilAsync(() => Settled(outbox, 5, pages), station, loop);
            await UntilAsync(() => Settled(station.Outbox, 5, pages), station, loop);
        }
        await stop.CancelAsync();
        await running;

        Assert.Equal(0, loop.ReceiptsRefused);
        Assert.True(station.CloudConnects >= 1);
        await AssertCloudHoldsAsync(device, forms);
    }

    [Fact]
    public async Task A_device_away_while_the_cloud_answered_gets_the_clouds_signed_word_about_its_pages_from_a_restarted_station()
    {
        var device = fixture.NewDevice(TpsAt(4));
        int cloudPort = FreePort();
        var makeStation = StationMaker("ppk-relay-d", cloudPort);
        LinkProxy Uplink() => new(LinkProfile.Transparent("ppk-uplink-d"), new IPEndPoint(IPAddress.Loopback, fixture.Cloud.BrokerPort),
            new LinkProxyOptions { Seed = 6, Listen = new IPEndPoint(IPAddress.Loopback, cloudPort) });
        using var outbox = new Outbox(Path.Combine(Folder(device.DeviceId), Outbox.FileName));
        // The five forms first, their photos taken into the outbox later (as when the pages are compressed after signing).
        var tallies = SyntheticTally.ForTps(device.Tps, CloudFixture.Ballots, CloudFixture.Election, 6);
        var forms = tallies.Select((tally, i) =>
        {
            var formPages = Pages(1 + i % 3, 7_000, 60 + i);
            return (Signed: outbox.SignAndAdd(device.Signer, tally, ImageChunk.FormImageHash(formPages)), Pages: formPages);
        }).ToList();
        int pages = forms.Sum(f => f.Pages.Length);

        // At the station: the forms go through and come back receipted; then the station's uplink fails, and the
        // photos are handed over to the station, which cannot pass them on: none is settled on the device.
        await using (var station = makeStation())
        {
            await station.StartAsync();
            await using var loop = new DeliveryLoop(outbox, device.DeviceId, ToStation(device, station), Fast);
            using var stop = new CancellationTokenSource();
            var running = loop.RunAsync(stop.Token);
            await using (Uplink()) await UntilAsync(() => outbox.Status().Receipted == 5, station, loop);
            foreach (var (signed, formPages) in forms) outbox.AddPages(signed, formPages);
            loop.Wake();
            await UntilAsync(() => outbox.Pages() is var held && held.Count == pages && held.All(p => p.Confirmed == p.Size), station, loop);
            await stop.CancelAsync();
            await running;
            Assert.True(loop.PageAnswersRefused >= pages, $"{loop.PageAnswersRefused} unsigned answers for {pages} pages"); // each: the station's "held here"
        }
        Assert.Equal(0, outbox.Status().Images.Stored);
        Assert.Empty((await Ledger.ImagesForTpsAsync(device.Tps)));

        // The device has gone home. The station, started anew with its uplink back, delivers the pages; the cloud's
        // answers find no device to pass to.
        await using (Uplink())
        await using (var station = makeStation())
        {
            await station.StartAsync();
            await UntilAsync(() => Settled(station.Outbox, 5, pages), station);
        }
        Assert.Equal(pages, (await Ledger.ImagesForTpsAsync(device.Tps)).Count);

        // Started anew once more (nothing of the old broker sessions survives), the station still holds the cloud's
        // signed word about every page: the device, back, is given it as it connects and settles on that word alone.
        await using (var station = makeStation())
        {
            await station.StartAsync();
            await using var loop = new DeliveryLoop(outbox, device.DeviceId, ToStation(device, station), Fast);
            using var stop = new CancellationTokenSource();
            var running = loop.RunAsync(stop.Token);
            await UntilAsync(() => Settled(outbox, 5, pages), station, loop);
            await stop.CancelAsync();
            await running;
            // Nothing sent again but, should the pushed answers be slow on a loaded machine, a page's last chunk to ask.
            Assert.True(loop.ChunksSent <= pages, $"{loop.ChunksSent} chunks sent for pages the station held");
        }
        foreach (var (signed, formPages) in forms)
            for (int page = 0; page < formPages.Length; page++)
                Assert.True(ImageStatement.Verify(outbox.PageStatement(signed.Submission.ImageHash, page), fixture.Pki.LogKey,
                    signed.Submission.ImageHash, page, Sha256Hash.Of(formPages[page]), ImageStatement.Stored).Ok);
        await AssertCloudHoldsAsync(device, forms.Select(f => (f.Signed, f.Pages)).ToList());
    }

    [Fact]
    public async Task Refuses_devices_of_other_kecamatans_garbage_and_misaddressed_forms_stores_none_and_keeps_relaying()
    {
        var device = fixture.NewDevice(TpsAt(2));
        var neighbour = TpsAt(3);
        var outsider = fixture.NewDevice(ElsewhereTps);
        await using var station = NewStation("ppk-relay-c");
        await station.StartAsync();
        var refusals = new List<RelayEvent>();
        station.Relayed += e => { lock (refusals) if (e.Kind is RelayEventKind.ConnectionRefused or RelayEventKind.FormRefused) refusals.Add(e); };

        // A TPS device of another kecamatan: CONNECT refused, whatever its certificate's worth at the cloud.
        var (connected, code) = await ConnectRawAsync(ToStation(outsider, station), outsider.DeviceId);
        Assert.False(connected);
        Assert.True(code is null or MqttClientConnectResultCode.NotAuthorized, $"connect result {code}");
        // The station's own device under another client id: refused too.
        (connected, code) = await ConnectRawAsync(ToStation(device, station), "dev-someone-else");
        Assert.False(connected);
        Assert.True(code is null or MqttClientConnectResultCode.ClientIdentifierNotValid, $"connect result {code}");
        lock (refusals)
        {
            Assert.Contains(refusals, e => e.Kind == RelayEventKind.ConnectionRefused && e.DeviceId == outsider.DeviceId && e.Detail.Contains(Kecamatan.Value));
            // Named by what was verified (its certificate); the client id it claimed is in the detail.
            Assert.Contains(refusals, e => e.Kind == RelayEventKind.ConnectionRefused && e.DeviceId == device.DeviceId && e.Detail.Contains("dev-someone-else"));
        }

        // The station's own refusals are advice: not signed by the cloud, so a device does not give a form up over them
        // (ReceiptVerifier). A client that does not check receipts reads them here; the device's own client below does.
        var client = new SubmissionClient(device.DeviceId, ToStation(device, station) with { LogKey = null });
        await client.ConnectAsync();
        string ownTopic = Topics.Submission(device.Tps, ContestId.Ppwp, device.DeviceId);

        // Random bytes and a truncated form: refused as the cloud would, with the reason.
        var garbage = new byte[300];
        new Random(42).NextBytes(garbage);
        var refused = await client.SendAsync(ownTopic, garbage, Sha256Hash.Of(garbage).ToArray(), ReceiptTimeout);
        Assert.Equal((ReceiptStatus.Rejected, RejectReasons.Malformed), (refused.Status, refused.Reason));
        Assert.False(string.IsNullOrWhiteSpace(refused.Detail));
        var good = device.Next();
        var truncated = good.Wire[..(good.Wire.Length / 2)];
        Assert.Equal(RejectReasons.Malformed, (await client.SendAsync(ownTopic, truncated, Sha256Hash.Of(truncated).ToArray(), ReceiptTimeout)).Reason);

        // Its own PPWP form on its DPR topic, and a form of the neighbouring TPS on its own topic: misaddressed.
        var onDpr = await client.SendAsync(Topics.Submission(device.Tps, ContestId.Dpr, device.DeviceId), good.Wire, good.Hash.ToArray(), ReceiptTimeout);
        Assert.Equal((ReceiptStatus.Rejected, RejectReasons.Misaddressed), (onDpr.Status, onDpr.Reason));
        var neighbourForm = SignedSubmission.Sign(new Submission
        {
            ElectionId = CloudFixture.Election.ElectionId, DeviceId = device.DeviceId, Sequence = 99,
            DeviceTime = new DateTimeOffset(2024, 2, 14, 13, 30, 0, TimeSpan.Zero),
            Tally = SyntheticTally.ForTps(neighbour, CloudFixture.Ballots, CloudFixture.Election, 7).Single(t => t.Contest == ContestId.Ppwp),
        }, device.Identity.Key);
        var misaddressed = await client.SendAsync(ownTopic, neighbourForm.Wire, neighbourForm.Hash.ToArray(), ReceiptTimeout);
        Assert.Equal((ReceiptStatus.Rejected, RejectReasons.Misaddressed), (misaddressed.Status, misaddressed.Reason));
        Assert.Contains(neighbour.Value, misaddressed.Detail);
        // The neighbour's topic itself: the station's ACL refuses the publish.
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() =>
            client.SendAsync(Topics.Submission(neighbour, ContestId.Ppwp, device.DeviceId), neighbourForm.Wire, neighbourForm.Hash.ToArray(), ReceiptTimeout));

        await client.DisposeAsync();
        // A device that checks receipts (as every device does) does not believe the station's unsigned refusal.
        await using var checking = new SubmissionClient(device.DeviceId, ToStation(device, station));
        await checking.ConnectAsync();
        var notBelieved = await Assert.ThrowsAnyAsync<Exception>(() =>
            checking.SendAsync(ownTopic, truncated, Sha256Hash.Of(truncated).ToArray(), TimeSpan.FromSeconds(3)));
        Assert.True(notBelieved is ReceiptNotVerifiedException or TimeoutException, notBelieved.ToString());

        Assert.Empty(station.Outbox.All());
        lock (refusals) Assert.Equal(5, refusals.Count(e => e.Kind == RelayEventKind.FormRefused));

        // Still relaying: the true form goes through, and its receipt's proof checks out at the device.
        var accepted = await checking.SubmitAsync(good, ReceiptTimeout);
        Assert.Equal(ReceiptStatus.Accepted, accepted.Status);
        Assert.Equal(good.Hash, Assert.Single(station.Outbox.All()).Hash);
        var entry = Assert.Single((await Ledger.ForTpsAsync(device.Tps)));
        Assert.Equal((good.Hash, device.DeviceId), (entry.Hash, entry.DeviceId));
        // Sent again (its receipt lost, say): answered from what the station kept, the cloud counting it once.
        Assert.Equal(accepted.LogIndex, (await checking.SubmitAsync(good, ReceiptTimeout)).LogIndex);
        Assert.Single((await Ledger.ForTpsAsync(device.Tps)));
    }

    /// <summary>A raw MQTT 5 connect with a device's TLS certificate: whether it got in, and the CONNACK code if one came.</summary>
    private static async Task<(bool Connected, MqttClientConnectResultCode? Code)> ConnectRawAsync(BrokerConnection connection, string clientId)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        var options = connection.ClientOptions(clientId, TimeProvider.System).WithCleanStart().WithTimeout(TimeSpan.FromSeconds(10)).Build();
        MqttClientConnectResultCode? code;
        try
        {
            code = (await client.ConnectAsync(options)).ResultCode;
        }
        catch (MQTTnet.Exceptions.MqttCommunicationException)
        {
            code = null; // refused without a CONNACK the client reports
        }
        bool connected = client.IsConnected;
        if (connected) await client.DisconnectAsync();
        return (connected, code);
    }

    private static int FreePort() => KpuEdge.TestSupport.LocalServices.FreePorts.OnLoopback();

    private sealed class HashOrder : IComparer<Sha256Hash>
    {
        public static readonly HashOrder Instance = new();

        public int Compare(Sha256Hash x, Sha256Hash y) => x.Bytes.SequenceCompareTo(y.Bytes);
    }
}
