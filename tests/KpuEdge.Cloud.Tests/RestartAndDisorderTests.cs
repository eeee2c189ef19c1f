using System.Diagnostics;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Edge.Delivery;
using KpuEdge.Edge.Device;
using KpuEdge.Edge.Transport;
using KpuEdge.LinkEmulator;
using KpuEdge.Simulator;
using Microsoft.Extensions.DependencyInjection;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// What the field does to the cloud at scale: the broker or the whole host restarting while a hundred devices
/// deliver over a thin satellite-like link, device clocks hours or days off, and every form arriving several times in a shuffled order. In each case
/// every form ends receipted, the ledger holds each exactly once, and the recap equals the sum of the signed tallies.
/// Each test runs against a cloud of its own, so the national recap is exactly its devices' forms.
/// </summary>
public sealed class RestartAndDisorderTests : IAsyncLifetime
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(45);
    private static readonly TimeSpan PollEvery = TimeSpan.FromMilliseconds(25);
    private static readonly TimeSpan ReceiptTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// One form in flight per device, so a run takes long enough to be interrupted; lost receipts are asked for again
    /// after two seconds and a lost link is retried within half a second.
    /// </summary>
    private static readonly DeliveryOptions Paced = new()
    {
        MaxInFlight = 1, ResendAfter = TimeSpan.FromSeconds(2),
        BackoffBase = TimeSpan.FromMilliseconds(50), BackoffMax = TimeSpan.FromMilliseconds(500), ConnectTimeout = TimeSpan.FromSeconds(10),
    };

    /// <summary>
    /// A thin satellite-like link for the restart tests, shortened so they stay quick: 100 ms round trip with jitter,
    /// 16 KB/s each way per connection, and one connection in twenty reset once it has carried 2–30 KB. The broker or the
    /// host restarts under it, so the drops arrive through the link as a device in Papua would see them.
    /// </summary>
    private static readonly LinkProfile ThinLink = new()
    {
        Name = "test-thin-satellite",
        Latency = TimeSpan.FromMilliseconds(50), Jitter = TimeSpan.FromMilliseconds(15),
        UpBytesPerSecond = 16_000, DownBytesPerSecond = 16_000,
        Resets = new LinkResets { FractionOfConnections = 0.05, AfterBytesMin = 2_000, AfterBytesMax = 30_000 },
    };

    private readonly CloudFixture _fixture = new();
    private readonly List<Outbox> _outboxes = [];
    private LinkProxy? _link;

    public Task InitializeAsync() => _fixture.InitializeAsync();

    public async Task DisposeAsync()
    {
        if (_link is not null) await _link.DisposeAsync();
        foreach (var outbox in _outboxes) outbox.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        await _fixture.DisposeAsync();
    }

    [Fact]
    public async Task Every_form_is_counted_once_when_the_broker_restarts_mid_run()
    {
        var devices = Provision(PickTps(100, "32", seed: 101), seed: 101, withPages: true, overThinLink: true);
        int forms = devices.Sum(d => d.Signed.Count);

        // Once while the numbers go, once more while the photos go.
        int receiptedAtRestart = await DeliverAllAsync(devices, disturbAt: forms / 3, disturb: _fixture.RestartBrokerAsync, againAtPages: forms / 3);

        Assert.InRange(receiptedAtRestart, forms / 3, forms - 1); // the restart hit the run, not its end
        AssertNoneRefused(devices);
        // Every device lost its connection and made a new one; the ingest did too, or nothing after the restart would be receipted.
        Assert.All(devices, d => Assert.True(d.Loop.Connects >= 2, $"{d.Device.DeviceId} connected {d.Loop.Connects} time(s)"));
        await AssertEachFormCountedOnceAsync(devices.SelectMany(d => d.Signed).ToList());
        Assert.Equal(forms, _fixture.Cloud.Stats.Accepted);
        await AssertEveryPageStoredOnceAsync(devices);
        Assert.True(_link!.Counters.Connections > 200, $"{_link.Counters.Connections} connections through the link");
    }

    [Fact]
    public async Task Every_form_is_counted_once_when_the_cloud_host_restarts_mid_run()
    {
        var devices = Provision(PickTps(100, "35", seed: 102), seed: 102, withPages: true, overThinLink: true);
        int forms = devices.Sum(d => d.Signed.Count);
        // The new host finds the devices in the ledger's registry, as a restarted kpu-cloud would.

        int receiptedAtRestart = await DeliverAllAsync(devices, disturbAt: forms / 3, disturb: _fixture.RestartAsync, againAtPages: forms / 3);

        Assert.InRange(receiptedAtRestart, forms / 3, forms - 1);
        AssertNoneRefused(devices);
        Assert.All(devices, d => Assert.True(d.Loop.Connects >= 2, $"{d.Device.DeviceId} connected {d.Loop.Connects} time(s)"));
        // The restarted host's counters start at zero; the ledger is the record.
        await AssertEachFormCountedOnceAsync(devices.SelectMany(d => d.Signed).ToList());
        await AssertEveryPageStoredOnceAsync(devices);
        Assert.True(_link!.Counters.Connections > 200, $"{_link.Counters.Connections} connections through the link");
    }

    [Fact]
    public async Task Forms_from_devices_whose_clocks_are_hours_or_days_off_are_accepted_and_counted_once()
    {
        TimeSpan[] skews =
        [
            TimeSpan.FromDays(-7), TimeSpan.FromDays(-2), TimeSpan.FromHours(-9), TimeSpan.FromHours(-1),
            TimeSpan.FromHours(1), TimeSpan.FromHours(9), TimeSpan.FromDays(2), TimeSpan.FromDays(7),
        ];
        // The whole device runs on its clock: it signs with it, times its resends with it and checks the broker's
        // certificate with it (a clock days behind still accepts the genuine broker: KpuTls.ServerClockTolerance).
        var devices = Provision(PickTps(24, "73", seed: 103), seed: 103, clockFor: i => new SkewedClock(skews[i % skews.Length]));

        await DeliverAllAsync(devices);

        AssertNoneRefused(devices);
        var signed = devices.SelectMany(d => d.Signed).ToList();
        Assert.Contains(signed, s => s.Submission.DeviceTime > DateTimeOffset.UtcNow.AddDays(6));
        Assert.Contains(signed, s => s.Submission.DeviceTime < DateTimeOffset.UtcNow.AddDays(-6));
        await AssertEachFormCountedOnceAsync(signed);
    }

    [Fact]
    public async Task A_clock_set_back_between_two_forms_is_no_rewind_even_when_the_later_form_arrives_first()
    {
        var device = _fixture.NewDevice(PickTps(1, "73", seed: 104)[0]);
        var clock = new SkewedClock(TimeSpan.Zero);
        var signer = new FormSigner(device.Identity, CloudFixture.Election, CloudFixture.Ballots, clock);
        var first = signer.Sign(device.Tally(ContestId.Ppwp, seed: 104));
        clock.Offset = TimeSpan.FromDays(-2); // the RTC lost its time: the counter goes on, the clock went back
        var second = signer.Sign(device.Tally(ContestId.Dpr, seed: 104));
        Assert.True(second.Submission.Sequence > first.Submission.Sequence && second.Submission.DeviceTime < first.Submission.DeviceTime);

        // Refusals carry no inclusion proof: this client reads every receipt as it comes, so a refusal shows as one.
        await using var client = await device.ConnectAsync(verifyReceipts: false);
        // The later form first: the earlier one then has a lower number and a later clock, and its successor names it.
        AssertAccepted(await client.SubmitAsync(second, ReceiptTimeout));
        AssertAccepted(await client.SubmitAsync(first, ReceiptTimeout));

        // The other way round is still a rewind: a number used again (restored from a backup) with a later clock.
        var rewound = SignedSubmission.Sign(second.Submission with
        {
            DeviceTime = first.Submission.DeviceTime.AddHours(1), Tally = device.Tally(ContestId.Dpr, seed: 105),
        }, device.Identity.Key);
        var refused = await client.SubmitAsync(rewound, ReceiptTimeout);
        Assert.Equal((ReceiptStatus.Rejected, RejectReasons.ChainRewind), (refused.Status, refused.Reason));
        await AssertEachFormCountedOnceAsync([first, second]);
    }

    [Fact]
    public async Task Forms_sent_three_to_five_times_in_a_shuffled_order_are_counted_once_and_a_correction_arriving_first_wins()
    {
        var random = new Random(105);
        var devices = PickTps(50, "51", seed: 105).Select(tps => _fixture.NewDevice(tps)).ToList();
        var originals = devices.SelectMany(d => Contests.All.Select(c => d.Next(c, seed: 105))).ToList();
        // Every tenth TPS corrects its presidential form; the correction goes out before any copy of the original.
        var corrections = devices.Where((_, i) => i % 10 == 0)
            .Select(d => d.Signer.Sign(d.Tally(ContestId.Ppwp, seed: 106), default, "Angka pasangan salah salin dari C.Hasil plano"))
            .ToList();
        var receipts = new List<(SignedSubmission Form, Receipt Receipt)>();
        await using (var first = new Connections(devices))
        {
            await first.ConnectAsync();
            foreach (var correction in corrections)
                receipts.Add((correction, await first.SendCopyAsync(correction, copy: 0)));
        }
        Assert.All(receipts, r => Assert.Equal(ReceiptStatus.Accepted, r.Receipt.Status));

        // Each form 3–5 times in all, shuffled, over three rounds of fresh connections with up to 64 copies in flight.
        var copies = originals.SelectMany(s => Enumerable.Range(0, random.Next(3, 6)).Select(n => (Form: s, Copy: n)))
            .Concat(corrections.SelectMany(s => Enumerable.Range(1, random.Next(2, 5)).Select(n => (Form: s, Copy: n))))
            .ToArray();
        random.Shuffle(copies);
        foreach (var round in copies.Chunk((copies.Length + 2) / 3))
        {
            await using var connections = new Connections(devices);
            await connections.ConnectAsync();
            receipts.AddRange(await connections.SendAllAsync(round, inFlight: 64));
        }

        var all = originals.Concat(corrections).ToList();
        Assert.Equal(copies.Length + corrections.Count, receipts.Count);
        foreach (var form in receipts.GroupBy(r => r.Form.Hash))
        {
            var statuses = form.Select(r => r.Receipt.Status).ToList();
            Assert.Equal(1, statuses.Count(s => s == ReceiptStatus.Accepted));
            Assert.Equal(statuses.Count - 1, statuses.Count(s => s == ReceiptStatus.Duplicate));
            Assert.Single(form.Select(r => r.Receipt.LedgerPosition).Distinct()); // every copy points at the one ledger entry
        }
        Assert.Equal(all.Count, _fixture.Cloud.Stats.Accepted);
        Assert.Equal(receipts.Count - all.Count, _fixture.Cloud.Stats.Duplicates);
        await AssertEachFormCountedOnceAsync(all);

        foreach (var correction in corrections)
        {
            using var doc = System.Text.Json.JsonDocument.Parse(
                await _fixture.Http.GetStringAsync($"api/v1/results/ppwp/{correction.Submission.Tps}"));
            Assert.Equal(correction.Hash.ToString(), doc.RootElement.GetProperty("submission").GetProperty("hash").GetString());
        }
    }

    // ----- devices in the field -----

    /// <summary>A device as deployed: its durable outbox holding its signed forms and the delivery loop draining it.</summary>
    private sealed record FieldDevice(TestDevice Device, Outbox Outbox, DeliveryLoop Loop, IReadOnlyList<SignedSubmission> Signed);

    /// <summary>A page image of 12–20 KB (random bytes: the cloud checks images only against their signed hash).</summary>
    private static byte[] Page(Random random)
    {
        var page = new byte[12_000 + random.Next(8_000)];
        random.NextBytes(page);
        return page;
    }

    /// <summary>Every page of every form is in the ledger once, and its file holds exactly the bytes whose hash was signed.</summary>
    private async Task AssertEveryPageStoredOnceAsync(IReadOnlyList<FieldDevice> devices)
    {
        var ledger = _fixture.Cloud.Services.GetRequiredService<IResultsLedger>();
        var images = _fixture.Cloud.Services.GetRequiredService<KpuEdge.Cloud.Images.ImageReceiver>();
        foreach (var d in devices)
        {
            Assert.Equal(d.Signed.Count, d.Outbox.Status().Images.Stored);
            foreach (var form in d.Signed)
            {
                var page = Assert.Single((await ledger.ImagePagesAsync(form.Submission.ImageHash)));
                Assert.Equal(form.Submission.ImageHash, Sha256Hash.Of(File.ReadAllBytes(images.PathOf(page)!)));
            }
        }
    }

    private static IReadOnlyList<TpsCode> PickTps(int count, string province, int seed) =>
        new SimulatedElection(CloudFixture.Tree, CloudFixture.Election, seed).PickTps(count, [province]);

    /// <summary>
    /// A registered device per TPS with its five forms signed into its outbox (on its own clock when given; with a page
    /// image each when <paramref name="withPages"/>, sent in small chunks so a restart finds some half-way; through
    /// <see cref="ThinLink"/> when <paramref name="overThinLink"/>, whose proxy follows the broker across restarts).
    /// </summary>
    private List<FieldDevice> Provision(IReadOnlyList<TpsCode> tps, int seed, Func<int, TimeProvider>? clockFor = null, bool withPages = false,
        bool overThinLink = false)
    {
        if (overThinLink)
            _link = new LinkProxy(ThinLink, new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, _fixture.Cloud.BrokerPort), new LinkProxyOptions { Seed = seed });
        return tps.Select((code, i) =>
        {
            var device = _fixture.NewDevice(code);
            var clock = clockFor?.Invoke(i) ?? TimeProvider.System;
            var outbox = new Outbox(Path.Combine(_fixture.DataDirectory, "devices", device.DeviceId, Outbox.FileName), clock);
            _outboxes.Add(outbox);
            var signer = clockFor is null ? device.Signer : new FormSigner(device.Identity, CloudFixture.Election, CloudFixture.Ballots, clock);
            var random = new Random(seed * 1000 + i);
            var signed = Contests.All.Select(c => outbox.SignAndAdd(signer, device.Tally(c, seed), withPages ? [Page(random)] : [])).ToList();
            var connection = _fixture.Cloud.ConnectionFor(device.Credentials);
            if (_link is not null) connection = connection with { Port = _link.Port };
            var loop = new DeliveryLoop(outbox, device.DeviceId, connection, Paced with { Seed = seed * 1000 + i, ImageChunkBytes = 4_096 }, clock);
            return new FieldDevice(device, outbox, loop, signed);
        }).ToList();
    }

    /// <summary>
    /// Runs every device's delivery loop until each of its forms has a verified receipt (and each page is stored); once
    /// <paramref name="disturbAt"/> forms are receipted, runs <paramref name="disturb"/> (the loops keep going), and again
    /// once <paramref name="againAtPages"/> pages are stored, if given. Returns the receipted count at the first disturbance.
    /// </summary>
    private static async Task<int> DeliverAllAsync(IReadOnlyList<FieldDevice> devices, int disturbAt = 0, Func<Task>? disturb = null, int? againAtPages = null)
    {
        using var stop = new CancellationTokenSource();
        var running = devices.Select(d => d.Loop.RunAsync(stop.Token)).ToList();
        try
        {
            int receiptedThen = 0;
            if (disturb is not null)
            {
                await UntilAsync(() => Receipted(devices) >= disturbAt, () => Describe(devices));
                receiptedThen = Receipted(devices);
                await disturb();
                if (againAtPages is { } pages)
                {
                    await UntilAsync(() => PagesStored(devices) >= pages, () => Describe(devices));
                    await disturb();
                }
            }
            await UntilAsync(() => devices.All(d => d.Outbox.Status().AllSettled), () => Describe(devices));
            return receiptedThen;
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(running);
            foreach (var d in devices) await d.Loop.DisposeAsync();
        }
    }

    private static int PagesStored(IReadOnlyList<FieldDevice> devices) => devices.Sum(d => d.Outbox.Status().Images.Stored);

    private static int Receipted(IReadOnlyList<FieldDevice> devices) => devices.Sum(d => d.Outbox.Status().Receipted);

    private static string Describe(IReadOnlyList<FieldDevice> devices)
    {
        var statuses = devices.Select(d => d.Outbox.Status()).ToList();
        return $"queued {statuses.Sum(s => s.Queued)}, sent {statuses.Sum(s => s.Sent)}, receipted {statuses.Sum(s => s.Receipted)}, " +
               $"rejected {statuses.Sum(s => s.Rejected)} of {devices.Sum(d => d.Signed.Count)} forms; " +
               $"pages stored {statuses.Sum(s => s.Images.Stored)} of {statuses.Sum(s => s.Images.Pages)}";
    }

    /// <summary>Polls a condition until it holds, failing with what was seen when it does not within a generous bound.</summary>
    private static async Task UntilAsync(Func<bool> condition, Func<string> seen)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > Generous) Assert.Fail($"Not within {Generous.TotalSeconds:0} s: {seen()}");
            await Task.Delay(PollEvery);
        }
    }

    /// <summary>Each device's MQTT connection for one round of sending copies (distinct correlation data, so each copy gets its own receipt).</summary>
    private sealed class Connections(IReadOnlyList<TestDevice> devices) : IAsyncDisposable
    {
        private readonly Dictionary<string, SubmissionClient> _clients = new(StringComparer.Ordinal);

        public async Task ConnectAsync()
        {
            var connected = await Task.WhenAll(devices.Select(async d => (d.DeviceId, Client: await d.ConnectAsync())));
            foreach (var (id, client) in connected) _clients[id] = client;
        }

        public Task<Receipt> SendCopyAsync(SignedSubmission form, int copy)
        {
            var s = form.Submission;
            byte[] correlation = [.. form.Hash.ToArray(), (byte)copy];
            return _clients[s.DeviceId].SendAsync(Topics.Submission(s.Tps, s.Contest, s.DeviceId), form.Wire, correlation, ReceiptTimeout);
        }

        /// <summary>Starts the copies in the given order, at most <paramref name="inFlight"/> awaiting their receipts at once.</summary>
        public async Task<IReadOnlyList<(SignedSubmission Form, Receipt Receipt)>> SendAllAsync(IEnumerable<(SignedSubmission Form, int Copy)> copies, int inFlight)
        {
            using var window = new SemaphoreSlim(inFlight);
            var sends = new List<Task<(SignedSubmission, Receipt)>>();
            foreach (var (form, copy) in copies)
            {
                await window.WaitAsync();
                sends.Add(SendReleasingAsync(form, copy, window));
            }
            return await Task.WhenAll(sends);
        }

        private async Task<(SignedSubmission, Receipt)> SendReleasingAsync(SignedSubmission form, int copy, SemaphoreSlim window)
        {
            try { return (form, await SendCopyAsync(form, copy)); }
            finally { window.Release(); }
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var client in _clients.Values) await client.DisposeAsync();
        }
    }

    /// <summary>A device clock set off from the real one; it may be set again between two forms.</summary>
    private sealed class SkewedClock(TimeSpan offset) : TimeProvider
    {
        public TimeSpan Offset { get; set; } = offset;

        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Offset;
    }

    // ----- what the cloud must hold -----

    private static void AssertAccepted(Receipt receipt) =>
        Assert.True(receipt.Status == ReceiptStatus.Accepted, $"{receipt.Status}: {receipt.Reason} {receipt.Detail}");

    private static void AssertNoneRefused(IReadOnlyList<FieldDevice> devices) =>
        Assert.Empty(devices.SelectMany(d => d.Outbox.All().Where(e => e.State == OutboxState.Rejected)
            .Select(e => $"{d.Device.DeviceId} #{e.Sequence} {e.Contest.Slug()}: {e.Reason}")));

    /// <summary>
    /// The ledger holds each signed form exactly once and nothing else, and the published recap of every contest equals
    /// the sum of the newest version of each TPS's form.
    /// </summary>
    private async Task AssertEachFormCountedOnceAsync(IReadOnlyList<SignedSubmission> signed)
    {
        var ledger = _fixture.Cloud.Services.GetRequiredService<IResultsLedger>();
        var entries = (await ledger.ReadAllAsync().ToListAsync()).Select(e => e.Hash.ToString()).ToList();
        Assert.Equal(signed.Count, entries.Count);
        Assert.Equal(signed.Select(s => s.Hash.ToString()).ToHashSet(), entries.ToHashSet());

        await _fixture.Cloud.Recap.SettleAsync();
        var expected = ExpectedTallies(signed);
        var problems = new List<string>();
        foreach (var contest in Contests.All)
            problems.AddRange(await RecapCheck.CompareAsync(_fixture.Http, expected, contest, RegionCode.Nasional));
        Assert.Empty(problems);
    }

    /// <summary>What the recap must count: per TPS and contest, the tally of the newest version its device signed.</summary>
    private static IReadOnlyCollection<C1Tally> ExpectedTallies(IEnumerable<SignedSubmission> signed) =>
        signed.GroupBy(s => (s.Submission.Tps, s.Submission.Contest))
            .Select(g => g.MaxBy(s => s.Submission.Sequence)!.Submission.Tally)
            .ToList();
}
