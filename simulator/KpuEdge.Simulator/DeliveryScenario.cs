using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Images;
using KpuEdge.Edge.Delivery;
using KpuEdge.Edge.Device;
using KpuEdge.LinkEmulator;
using KpuEdge.Simulator.Forms;
using KpuEdge.Vision.Digits;
using KpuEdge.Vision.Forms;
using KpuEdge.Vision.Reading;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using KpuEdge.TestSupport;

namespace KpuEdge.Simulator;

/// <summary>
/// The page images of one device's form for one contest, as they travel (link-compressed). Must give the same bytes
/// every time it is asked: the scenario asks again to check what the cloud stores and serves.
/// </summary>
public delegate IReadOnlyList<byte[]> PageSource(SimulatedDevice device, C1Tally tally);

/// <summary>Ready-made <see cref="PageSource"/>s.</summary>
public static class ScenarioPages
{
    /// <summary>Forms without images.</summary>
    public static PageSource None { get; } = (_, _) => [];

    /// <summary>
    /// Pages that look like what they are to a hash and a link: seeded random bytes (incompressible, as a JPEG is),
    /// each page between <paramref name="minBytes"/> and <paramref name="maxBytes"/>, different for every device and contest.
    /// </summary>
    public static PageSource Synthetic(int pagesPerContest, int minBytes, int maxBytes, int seed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pagesPerContest, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(minBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, minBytes);
        return (device, tally) =>
        {
            var random = new Random(StableSeed(seed, device.Identity.DeviceId, (int)tally.Contest));
            return Enumerable.Range(0, pagesPerContest).Select(_ =>
            {
                var page = new byte[random.Next(minBytes, maxBytes + 1)];
                random.NextBytes(page);
                return page;
            }).ToArray();
        };
    }

    /// <summary>A seed from SHA-256 (string.GetHashCode differs between processes).</summary>
    internal static int StableSeed(int seed, string id, int n) =>
        BinaryPrimitives.ReadInt32BigEndian(SHA256.HashData(Encoding.UTF8.GetBytes($"{seed}:{id}:{n}")));
}

/// <summary>
/// Real link images: the C.Hasil forms of a few TPS rendered, filled by hand (held-out real digits), photographed as a
/// phone would (<see cref="Photographer"/>) and recompressed for the link (<see cref="LinkImage"/>), every page of every
/// contest as the forms have them. Rendering costs about half a second a page, so a scenario of many devices gives each
/// device the pages of one of these TPS (its own when it is one of them): the cloud checks images only against the hash
/// in the signed form, and each device's copy is made its own by a JPEG comment naming it (<see cref="Personalise"/>).
/// </summary>
public sealed class LinkImagePool
{
    /// <summary>One page: the link image, and the size of the phone photo it was made from.</summary>
    public sealed record PoolPage(byte[] Jpeg, int PhotoBytes, int Quality);

    public sealed record PoolForm(TpsCode Tps, ContestId Contest, IReadOnlyList<PoolPage> Pages);

    private readonly Dictionary<ContestId, PoolForm[]> _byContest;

    private LinkImagePool(IReadOnlyList<PoolForm> forms, TimeSpan renderTime)
    {
        Forms = forms;
        RenderTime = renderTime;
        _byContest = forms.GroupBy(f => f.Contest).ToDictionary(g => g.Key, g => g.ToArray());
    }

    public IReadOnlyList<PoolForm> Forms { get; }

    /// <summary>Wall-clock time the rendering, filling, photographing and compressing took.</summary>
    public TimeSpan RenderTime { get; }

    /// <summary>
    /// Photographs the forms of <paramref name="tps"/> (filled with their true seeded numbers, as
    /// <see cref="SimulatedElection.Provision"/> makes them) at <paramref name="photo"/> settings, by default a 12 MP
    /// phone photo (4000 px long side).
    /// </summary>
    public static LinkImagePool Render(IReadOnlyList<TpsCode> tps, RegionTree tree, ElectionDefinition election, int seed, PhotoOptions? photo = null)
    {
        photo ??= new PhotoOptions { OutputWidth = 4000 };
        var watch = Stopwatch.StartNew();
        var ballots = election.Ballots(tree);
        var ink = DigitInks.FromSamples(DigitSet.LoadBundled().HeldOutInk);
        var jobs = tps.SelectMany(code => SyntheticTally.ForTps(code, ballots, election, seed).Select(tally => (Tps: code, Tally: tally))).ToArray();
        var forms = jobs.AsParallel().AsOrdered().Select(job =>
        {
            var random = new Random(ScenarioPages.StableSeed(seed, job.Tps.Value, (int)job.Tally.Contest));
            var layout = FormLayout.For(election, ballots.For(job.Tally.Contest, job.Tps)
                ?? throw new InvalidOperationException($"No {job.Tally.Contest.Slug()} ballot for TPS {job.Tps}."));
            var blanks = FormRenderer.RenderAll(layout, job.Tps, tree);
            try
            {
                using var filled = new FormFiller(ink).Fill(layout, blanks, TallyFields.ToValues(job.Tally), random);
                var pages = filled.Pages.Select(page =>
                {
                    var jpeg = Photographer.PhotographJpeg(page, random, photo);
                    var link = LinkImage.Compress(jpeg);
                    return new PoolPage(link.Jpeg, jpeg.Length, link.Quality);
                }).ToArray();
                return new PoolForm(job.Tps, job.Tally.Contest, pages);
            }
            finally
            {
                foreach (var blank in blanks) blank.Dispose();
            }
        }).ToArray();
        return new LinkImagePool(forms, watch.Elapsed);
    }

    /// <summary>The device's own forms' pages when it is in the pool, otherwise a pool TPS's chosen by its id; personalised.</summary>
    public PageSource Pages => (device, tally) =>
    {
        if (!_byContest.TryGetValue(tally.Contest, out var candidates)) return [];
        var form = candidates.FirstOrDefault(f => f.Tps == device.Identity.Tps)
                   ?? candidates[(int)((uint)ScenarioPages.StableSeed(0, device.Identity.DeviceId, 0) % (uint)candidates.Length)];
        return form.Pages.Select((p, i) => Personalise(p.Jpeg, $"kpu-sim {device.Identity.DeviceId} {tally.Contest.Slug()} p{i + 1}")).ToArray();
    };

    /// <summary>
    /// The JPEG with a comment segment (COM, 0xFFFE) right after its start marker: a decoder shows the same pixels,
    /// the bytes, and so the hash, are the device's own.
    /// </summary>
    public static byte[] Personalise(byte[] jpeg, string note)
    {
        if (jpeg is not [0xFF, 0xD8, ..]) throw new ArgumentException("Not a JPEG (no start-of-image marker).", nameof(jpeg));
        var text = Encoding.ASCII.GetBytes(note);
        if (text.Length > 60_000) throw new ArgumentException("The note is too long for one JPEG comment.", nameof(note));
        var result = new byte[jpeg.Length + 4 + text.Length];
        result[0] = 0xFF;
        result[1] = 0xD8;
        result[2] = 0xFF;
        result[3] = 0xFE;
        BinaryPrimitives.WriteUInt16BigEndian(result.AsSpan(4), (ushort)(text.Length + 2));
        text.CopyTo(result.AsSpan(6));
        jpeg.AsSpan(2).CopyTo(result.AsSpan(6 + text.Length));
        return result;
    }
}

/// <summary>Which link each device gets.</summary>
public static class LinkAssignment
{
    /// <summary>Every device on one link.</summary>
    public static Func<SimulatedDevice, int, LinkProfile> AllOn(LinkProfile profile) => (_, _) => profile;

    /// <summary>Device <c>i</c> on <c>profiles[i mod n]</c>: equal numbers per profile.</summary>
    public static Func<SimulatedDevice, int, LinkProfile> RoundRobin(IReadOnlyList<LinkProfile> profiles) =>
        profiles.Count == 0 ? throw new ArgumentException("No profile.", nameof(profiles)) : (_, i) => profiles[i % profiles.Count];

    /// <summary>By where the TPS is (<see cref="RegionAssignment"/>: Papua and Maluku mostly VSAT, Jakarta fibre, ...).</summary>
    public static Func<SimulatedDevice, int, LinkProfile> ByRegion(LinkProfileSet profiles, int seed) =>
        (device, _) => profiles.ProfileFor(device.Identity.Tps.Region, device.Identity.DeviceId, seed);
}

/// <summary>
/// Devices whose link goes down for <see cref="Duration"/> from the start (their own proxy in outage, every connection
/// refused), then comes back. <see cref="Duration"/> is emulated time: the cut devices, their outboxes and their link
/// run on their own clock, which keeps pace with the wall clock until every other device has delivered everything, then
/// runs <see cref="FastForward"/> times faster until the cut ends, then at pace again. Their backoff, resend timers and
/// link live through the whole duration (a 30-minute cut leaves the backoff at its cap), in seconds of wall clock.
/// The profile's own scheduled outages, if any, follow that clock too.
/// </summary>
public sealed record CutOff(double Share, TimeSpan Duration)
{
    public double FastForward { get; init; } = 60;
}

public sealed record DeliveryScenarioOptions
{
    public int Devices { get; init; } = 100;
    public int Seed { get; init; } = 2024;
    /// <summary>Provinces to draw the TPS from; empty: the simulator's nine across the three time zones.</summary>
    public IReadOnlyList<string> Provinces { get; init; } = [];
    /// <summary>The page images of each form; <see cref="ScenarioPages.None"/> for tallies only.</summary>
    public PageSource Pages { get; init; } = ScenarioPages.None;
    /// <summary>How the devices' delivery loops treat their links (chunk size included); seeded per device.</summary>
    public DeliveryOptions Delivery { get; init; } = new();
    /// <summary>Which link each device has (one proxy per profile name); null: by region with the default profiles.</summary>
    public Func<SimulatedDevice, int, LinkProfile>? Links { get; init; }
    /// <summary>
    /// Time scale per profile name (missing: 1): the link runs k× faster (rates ×k, latency, jitter, outages and reset
    /// times ÷k), the device's timers likewise (keep-alive, resend, backoff, connect timeout ÷k), and every duration
    /// measured on such a device is reported ×k. Only what the link and the timers do is scaled; CPU work is not.
    /// </summary>
    public IReadOnlyDictionary<string, double> TimeScale { get; init; } = new Dictionary<string, double>();
    public CutOff? Cut { get; init; }
    /// <summary>
    /// Tallies first for every device, and the pages added only once every tally is receipted: the proxies' byte
    /// counters then split into tally and image traffic. Otherwise pages are stored with their form at signing, as a device does.
    /// </summary>
    public bool PhasedImages { get; init; }
    /// <summary>
    /// Stop once every tally is receipted (the images, if any, have only begun): tally latencies in real time on a link
    /// where the images would take many minutes. Images are then neither timed nor checked.
    /// </summary>
    public bool StopAtTallies { get; init; }
    /// <summary>Wall-clock bound on the whole delivery; a scenario that did not settle by then reports which devices did not.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>Pages fetched back from the public API and compared byte for byte (all pages are checked in the ledger).</summary>
    public int ImagesCheckedOverHttp { get; init; } = 200;
    /// <summary>Where outboxes and the cloud's data go (wiped); null for a fresh temporary directory, deleted afterwards.</summary>
    public string? WorkDirectory { get; init; }
    public RegionTree? Tree { get; init; }
    public ElectionDefinition? Election { get; init; }
    public LogLevel CloudLogLevel { get; init; } = LogLevel.Error;
    /// <summary>A line of progress now and then.</summary>
    public Action<string>? Progress { get; init; }
}

/// <summary>Count, median, 99th percentile (nearest rank) and maximum of some durations.</summary>
public sealed record LatencySummary(int Count, TimeSpan P50, TimeSpan P99, TimeSpan Max)
{
    public static readonly LatencySummary Empty = new(0, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero);

    public static LatencySummary Of(IEnumerable<TimeSpan> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0) return Empty;
        TimeSpan Rank(double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
        return new LatencySummary(sorted.Length, Rank(0.5), Rank(0.99), sorted[^1]);
    }

    public override string ToString() => Count == 0 ? "–" : $"{Format(P50)} / {Format(P99)}";

    public static string Format(TimeSpan t) => t.TotalSeconds < 10 ? $"{t.TotalSeconds:F2} s" : t.TotalSeconds < 600 ? $"{t.TotalSeconds:F0} s" : $"{t.TotalMinutes:F1} min";
}

/// <summary>Bytes that crossed a link, per TPS: device → cloud and back.</summary>
public sealed record WireBytes(double Up, double Down)
{
    public double Total => Up + Down;
}

/// <summary>The figures of the devices on one link profile.</summary>
/// <param name="Tallies">Per form: signed → verified receipt in the device (emulated time).</param>
/// <param name="Images">Per form image: sendable (its tally receipted and its pages in the outbox) → last page stored.</param>
/// <param name="OnWire">Bytes through the profile's proxies per TPS, everything included.</param>
/// <param name="TallyOnWire">With <see cref="DeliveryScenarioOptions.PhasedImages"/>: the tally phase's bytes per TPS.</param>
/// <param name="ImageOnWire">With <see cref="DeliveryScenarioOptions.PhasedImages"/>: the image phase's bytes per TPS.</param>
/// <param name="TallyPayload">Signed forms' wire sizes per TPS (what the tallies are before MQTT and TLS).</param>
/// <param name="ImagePayload">Page image bytes per TPS.</param>
public sealed record ProfileFigures(
    string Profile, int Devices, double TimeScale, LatencySummary Tallies, LatencySummary Images, LinkCounters Link,
    WireBytes OnWire, WireBytes? TallyOnWire, WireBytes? ImageOnWire, double TallyPayload, double ImagePayload, long Connects);

public sealed record FormTiming(string DeviceId, string Profile, ContestId Contest, bool Cut, TimeSpan Latency);

public sealed record ImageTiming(string DeviceId, string Profile, ContestId Contest, bool Cut, int Pages, long Bytes, TimeSpan Latency);

/// <summary>What the cut devices went through and how long their backlog took once the link was back (emulated time).</summary>
/// <param name="AttemptsDuringCut">Connection attempts per cut device while its link was down (refused or cut by the proxy).</param>
/// <param name="NumbersDrained">Link back → the last cut device's last tally receipted.</param>
/// <param name="ImagesDrained">Link back → the last cut device's last page stored (everything delivered).</param>
/// <param name="OthersSettled">Start → every other device settled (the cut ran at pace until then).</param>
public sealed record CutOffFigures(
    int Devices, TimeSpan Duration, double AttemptsDuringCut, TimeSpan NumbersDrained, TimeSpan ImagesDrained,
    LatencySummary FirstReceiptAfterRestore, TimeSpan OthersSettled, TimeSpan FastForwarded);

public sealed record DeliveryScenarioResult
{
    /// <summary>How <see cref="ProfileFigures.TallyOnWire"/> and <see cref="ProfileFigures.ImageOnWire"/> are measured.</summary>
    public const string BytesMethod =
        "Bytes on the wire are read from the link proxies' counters (bytes the emulated link released each way: TLS records " +
        "with their MQTT packets inside, TLS handshakes with both certificate chains, MQTT CONNECT/SUBSCRIBE, PUBACKs, " +
        "keep-alives, receipts with their inclusion proofs and checkpoints, image acknowledgements, and any resends and " +
        "reconnections). A proxy cannot tell a tally's bytes from an image's inside TLS, so the run is phased: every device " +
        "first delivers its five tallies alone (their signed form names the image hash; the pages are not in the outbox " +
        "yet) and the counters are read when the last receipt is in; then the pages are added to the outboxes and the " +
        "counters' growth until the last page is stored is the images' share. The connections stay up between the phases, " +
        "so the connection set-up is counted with the tallies. Payload is the signed forms' wire sizes and the page images' sizes.";

    public int Devices { get; init; }
    /// <summary>The run stopped once every tally was receipted (<see cref="DeliveryScenarioOptions.StopAtTallies"/>).</summary>
    public bool TalliesOnly { get; init; }
    public int FormsSigned { get; init; }
    public int FormsReceipted { get; init; }
    public int FormsRejected { get; init; }
    public long CloudAccepted { get; init; }
    /// <summary>Forms the cloud saw again (a resend whose receipt was lost): answered as duplicates, counted once.</summary>
    public long CloudDuplicates { get; init; }
    public long CloudRejected { get; init; }
    public int Pages { get; init; }
    public int PagesStoredPerDevices { get; init; }
    public int PagesInLedger { get; init; }
    public int PagesCheckedOverHttp { get; init; }
    public long ChunksSent { get; init; }
    public long ChunksNeeded { get; init; }
    /// <summary>Pages sent again from their last confirmed byte after the cloud went quiet about them (<see cref="DeliveryLoop.PageRestarts"/>).</summary>
    public long PageRestarts { get; init; }
    public long Connects { get; init; }
    /// <summary>Mean signed wire size of a form, per contest.</summary>
    public IReadOnlyDictionary<ContestId, double> FormBytes { get; init; } = new Dictionary<ContestId, double>();
    public TimeSpan Elapsed { get; init; }
    public bool TimedOut { get; init; }
    public IReadOnlyList<string> Unsettled { get; init; } = [];
    public IReadOnlyList<FormTiming> FormTimings { get; init; } = [];
    public IReadOnlyList<ImageTiming> ImageTimings { get; init; } = [];
    public IReadOnlyDictionary<string, ProfileFigures> Profiles { get; init; } = new Dictionary<string, ProfileFigures>();
    public CutOffFigures? Cut { get; init; }
    public IReadOnlyList<string> RecapProblems { get; init; } = [];
    public IReadOnlyList<string> ImageProblems { get; init; } = [];

    /// <summary>Every form receipted and counted once, the recap equal to what the devices signed, every page stored and served.</summary>
    public bool Exact => !TimedOut && FormsRejected == 0 && FormsReceipted == FormsSigned && CloudAccepted == FormsSigned
                         && (TalliesOnly || (PagesInLedger == Pages && PagesStoredPerDevices == Pages)) && RecapProblems.Count == 0 && ImageProblems.Count == 0;

    /// <summary>What went wrong, one line each (empty when <see cref="Exact"/>).</summary>
    public IEnumerable<string> Problems()
    {
        if (TimedOut) yield return $"not settled within the timeout after {Elapsed.TotalSeconds:F0} s: {Unsettled.Count} devices ({string.Join(", ", Unsettled.Take(5))}…)";
        if (FormsReceipted != FormsSigned) yield return $"{FormsReceipted} of {FormsSigned} forms receipted, {FormsRejected} rejected";
        if (CloudAccepted != FormsSigned) yield return $"the cloud accepted {CloudAccepted} forms, the devices signed {FormsSigned}";
        if (!TalliesOnly && PagesStoredPerDevices != Pages) yield return $"devices hold {PagesStoredPerDevices} of {Pages} pages as stored";
        if (!TalliesOnly && PagesInLedger != Pages) yield return $"the ledger holds {PagesInLedger} of {Pages} pages";
        foreach (var p in RecapProblems.Concat(ImageProblems).Take(20)) yield return p;
    }
}

/// <summary>
/// N provisioned TPS devices, each with its durable <see cref="Outbox"/> (in a temporary directory) and its
/// <see cref="DeliveryLoop"/>, five contests each with page images, reaching the in-process cloud through emulated
/// links — one <see cref="LinkProxy"/> per link profile (and one more per profile for cut-off devices). Runs until every
/// outbox is settled (bounded), then checks the cloud against what the devices signed: the recap of every contest at
/// national level, every page in the ledger, a sample of pages over the public API byte for byte. All real: keys and
/// certificates, mutual TLS, MQTT 5, the broker, ingest, ledger, transparency log and receipts' proofs.
/// </summary>
public static class DeliveryScenario
{
    public static async Task<DeliveryScenarioResult> RunAsync(DeliveryScenarioOptions options, CancellationToken cancellationToken = default)
    {
        var tree = options.Tree ?? RegionTree.LoadEmbedded();
        var election = options.Election ?? ElectionDefinition.Default;
        var ballots = election.Ballots(tree);
        bool ownDirectory = options.WorkDirectory is null;
        string work = options.WorkDirectory ?? Path.Combine(Path.GetTempPath(), $"kpu-delivery-{Guid.NewGuid():N}");
        if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
        Directory.CreateDirectory(work);
        var progress = options.Progress ?? (_ => { });

        var simulation = new SimulatedElection(tree, election, options.Seed);
        var pki = SimulationPki.Create(election, options.Seed);
        var devices = simulation.Provision(simulation.PickTps(options.Devices, options.Provinces), pki.Pki);
        var links = options.Links ?? LinkAssignment.ByRegion(LinkProfileSet.LoadDefault(), options.Seed);
        var profiles = devices.Select((d, i) => links(d, i)).ToArray();
        var cut = ChooseCut(devices.Count, options.Cut, options.Seed);

        var runs = new List<DeviceRun>();
        var cloud = await InProcessCloud.StartAsync(Path.Combine(work, "cloud"), tree, election, options.CloudLogLevel, pki: pki,
            cancellationToken: cancellationToken);
        try
        {
            return await RunAgainstAsync(cloud, runs, devices, profiles, cut, work, election, ballots, options, progress, cancellationToken);
        }
        finally
        {
            foreach (var run in runs) run.Outbox.Dispose();
            await cloud.DisposeAsync();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            if (ownDirectory)
            {
                try { Directory.Delete(work, recursive: true); }
                catch (IOException) { } // a straggling file handle: the temporary directory is left to the system
            }
        }
    }

    private static async Task<DeliveryScenarioResult> RunAgainstAsync(
        InProcessCloud cloud, List<DeviceRun> runs, IReadOnlyList<SimulatedDevice> devices, LinkProfile[] profiles, bool[] cut, string work,
        ElectionDefinition election, BallotCatalog ballots, DeliveryScenarioOptions options, Action<string> progress, CancellationToken cancellationToken)
    {
        await cloud.RegisterAsync(devices.Select(d => d.Credentials), cancellationToken);
        var proxies = new Dictionary<(string Profile, bool Cut), LinkProxy>();
        var clocks = new Dictionary<string, CutClock>();
        var brokerEndPoint = new IPEndPoint(IPAddress.Loopback, cloud.BrokerPort);
        using var stop = new CancellationTokenSource();
        var running = new List<Task>();
        var watch = Stopwatch.StartNew();
        long start = TimeProvider.System.GetTimestamp();
        bool timedOut = false;
        var tallyPhaseCounters = new Dictionary<(string, bool), LinkCounters>();
        try
        {
            // The links, all counting outages from one start; a cut device's link is its profile's with the cut added.
            for (int i = 0; i < devices.Count; i++)
            {
                var profile = profiles[i];
                double k = options.TimeScale.GetValueOrDefault(profile.Name, 1);
                if (proxies.ContainsKey((profile.Name, cut[i]))) continue;
                var scaled = Scale(profile, k);
                TimeProvider time = TimeProvider.System;
                long proxyStart = start;
                if (cut[i])
                {
                    var clock = clocks.TryGetValue(profile.Name, out var c) ? c : clocks[profile.Name] = new CutClock(options.Cut!.Duration / k, options.Cut.FastForward);
                    time = clock.Time;
                    proxyStart = clock.Time.GetTimestamp();
                    scaled = scaled with { Outages = WithOutage(scaled.Outages, new LinkOutage(TimeSpan.Zero, clock.CutEnds)) };
                }
                proxies[(profile.Name, cut[i])] = new LinkProxy(scaled, brokerEndPoint,
                    new LinkProxyOptions { Seed = ScenarioPages.StableSeed(options.Seed, profile.Name, cut[i] ? 1 : 0), StartTimestamp = proxyStart }, time);
            }

            // Each device signs its five forms into its outbox and starts delivering at once, as at the close of counting.
            var gate = new SemaphoreSlim(Math.Max(4, Environment.ProcessorCount * 4));
            var starting = devices.Select(async (device, i) =>
            {
                await gate.WaitAsync(cancellationToken);
                try
                {
                    await Task.Yield();
                    var profile = profiles[i];
                    double k = options.TimeScale.GetValueOrDefault(profile.Name, 1);
                    TimeProvider time = cut[i] ? clocks[profile.Name].Time : TimeProvider.System;
                    var proxy = proxies[(profile.Name, cut[i])];
                    var outbox = new Outbox(Path.Combine(work, "devices", device.Identity.DeviceId, Outbox.FileName), time);
                    var loop = new DeliveryLoop(outbox, device.Identity.DeviceId, cloud.ConnectionFor(device.Credentials) with { Port = proxy.Port },
                        Scale(options.Delivery, k) with { Seed = ScenarioPages.StableSeed(options.Seed, device.Identity.DeviceId, 7) }, time);
                    var run = new DeviceRun(device, profile.Name, k, cut[i], time, outbox, loop, options.PhasedImages);
                    var signer = new FormSigner(device.Identity, election, ballots, TimeProvider.System);
                    foreach (var tally in device.Tallies)
                    {
                        var pages = options.Pages(device, tally);
                        var signed = options.PhasedImages && pages.Count > 0
                            ? outbox.SignAndAdd(signer, tally, ImageChunk.FormImageHash(pages))
                            : outbox.SignAndAdd(signer, tally, pages);
                        run.Signed(signed, tally, pages, time.GetUtcNow());
                    }
                    loop.StatusChanged += run.OnStatus;
                    lock (runs)
                    {
                        runs.Add(run);
                        running.Add(Task.Run(() => loop.RunAsync(stop.Token), CancellationToken.None));
                    }
                }
                finally
                {
                    gate.Release();
                }
            }).ToList();
            await Task.WhenAll(starting);
            progress($"{devices.Count:N0} devices signed {runs.Sum(r => r.Forms.Count):N0} forms and started delivering over " +
                     string.Join(", ", profiles.GroupBy(p => p.Name).Select(g => $"{g.Key} ×{g.Count()}")) + (cut.Any(c => c) ? $" ({cut.Count(c => c)} cut off)" : ""));

            var deadline = watch.Elapsed + options.Timeout;
            if (options.PhasedImages)
            {
                timedOut = !await WaitAsync(runs, r => r.TalliesDone, clocks, deadline, watch, progress, cancellationToken);
                foreach (var key in proxies.Keys) tallyPhaseCounters[key] = proxies[key].Counters;
                if (!timedOut)
                {
                    progress("Every tally receipted: the pages go into the outboxes.");
                    await Parallel.ForEachAsync(runs, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount * 2, CancellationToken = cancellationToken },
                        (run, _) =>
                        {
                            run.AddPages(options.Pages);
                            return ValueTask.CompletedTask;
                        });
                }
            }
            if (options.StopAtTallies) timedOut = !await WaitAsync(runs, r => r.TalliesDone, clocks, deadline, watch, progress, cancellationToken);
            else if (!timedOut) timedOut = !await WaitAsync(runs, r => r.AllDone, clocks, deadline, watch, progress, cancellationToken);
        }
        finally
        {
            watch.Stop();
            await stop.CancelAsync();
            await Task.WhenAll(running);
            await Parallel.ForEachAsync(runs, async (run, _) => await run.Loop.DisposeAsync());
            foreach (var proxy in proxies.Values) await proxy.DisposeAsync();
            foreach (var clock in clocks.Values) clock.Dispose();
        }
        var elapsed = watch.Elapsed;
        var endCounters = proxies.ToDictionary(p => p.Key, p => p.Value.Counters);

        // What the cloud holds against what the devices signed.
        await cloud.Recap.SettleAsync();
        using var http = new HttpClient { BaseAddress = cloud.ApiBase };
        var receipted = runs.SelectMany(r => r.Forms.Values).Where(f => f.State == OutboxState.Receipted).Select(f => f.Tally).ToArray();
        var recapProblems = new List<string>();
        foreach (var contest in Contests.All)
            recapProblems.AddRange(await RecapCheck.CompareAsync(http, receipted, contest, RegionCode.Nasional));
        var (pagesInLedger, pagesChecked, imageProblems) = options.StopAtTallies ? (0, 0, []) : await CheckImagesAsync(cloud, http, runs, options, cancellationToken);

        var result = new DeliveryScenarioResult
        {
            Devices = devices.Count,
            TalliesOnly = options.StopAtTallies,
            FormsSigned = runs.Sum(r => r.Forms.Count),
            FormsReceipted = runs.Sum(r => r.Forms.Values.Count(f => f.State == OutboxState.Receipted)),
            FormsRejected = runs.Sum(r => r.Forms.Values.Count(f => f.State == OutboxState.Rejected)),
            CloudAccepted = cloud.Stats.Accepted,
            CloudDuplicates = cloud.Stats.Duplicates,
            CloudRejected = cloud.Stats.RejectedTotal,
            Pages = runs.Sum(r => r.Images.Values.Sum(i => i.Pages)),
            PagesStoredPerDevices = runs.Sum(r => r.Outbox.Status().Images.Stored),
            PagesInLedger = pagesInLedger,
            PagesCheckedOverHttp = pagesChecked,
            ChunksSent = runs.Sum(r => r.Loop.ChunksSent),
            PageRestarts = runs.Sum(r => r.Loop.PageRestarts),
            ChunksNeeded = runs.Sum(r => r.Images.Values.Sum(i => i.PageSizes.Sum(s => (long)((s + options.Delivery.ImageChunkBytes - 1) / options.Delivery.ImageChunkBytes)))),
            Connects = runs.Sum(r => r.Loop.Connects),
            FormBytes = runs.SelectMany(r => r.Forms.Values).GroupBy(f => f.Tally.Contest).ToDictionary(g => g.Key, g => g.Average(f => (double)f.WireBytes)),
            Elapsed = elapsed,
            TimedOut = timedOut,
            Unsettled = runs.Where(r => !(options.StopAtTallies ? r.TalliesDone : r.AllDone)).Select(r => r.Device.Identity.DeviceId).ToArray(),
            FormTimings = runs.SelectMany(r => r.FormTimings()).ToArray(),
            ImageTimings = options.StopAtTallies ? [] : runs.SelectMany(r => r.ImageTimings()).ToArray(),
            Profiles = Figures(runs, proxies.Keys, endCounters, options.PhasedImages && !timedOut ? tallyPhaseCounters : null, !options.StopAtTallies),
            Cut = CutFigures(runs, clocks, proxies, endCounters, options.Cut),
            RecapProblems = recapProblems,
            ImageProblems = imageProblems,
        };

        return result;
    }

    /// <summary>Waits until every run meets <paramref name="done"/>; false at the deadline. Starts the cut's fast-forward once the others are done.</summary>
    private static async Task<bool> WaitAsync(
        List<DeviceRun> runs, Func<DeviceRun, bool> done, Dictionary<string, CutClock> clocks, TimeSpan deadline, Stopwatch watch,
        Action<string> progress, CancellationToken cancellationToken)
    {
        var nextReport = watch.Elapsed + TimeSpan.FromSeconds(10);
        while (true)
        {
            bool othersDone = runs.Where(r => !r.Cut).All(done);
            if (othersDone)
            {
                foreach (var (profile, clock) in clocks)
                {
                    if (clock.FastForwarding || clock.Restored) continue;
                    clock.StartFastForward();
                    progress($"Every device with a working link has delivered; fast-forwarding the rest of the cut of the {profile} devices ×{clock.Speed:F0}.");
                }
            }
            if (othersDone && runs.Where(r => r.Cut).All(done)) return true;
            if (watch.Elapsed >= deadline) return false;
            if (watch.Elapsed >= nextReport)
            {
                nextReport += TimeSpan.FromSeconds(10);
                progress($"{watch.Elapsed.TotalSeconds,5:F0} s: {runs.Sum(r => r.ReceiptedCount)}/{runs.Sum(r => r.Forms.Count)} forms receipted, " +
                         $"{runs.Sum(r => r.StoredPages)}/{runs.Sum(r => r.Images.Values.Sum(i => i.Pages))} pages stored, " +
                         $"{runs.Count(done)}/{runs.Count} devices done, {runs.Sum(r => r.Loop.Connects)} connections");
            }
            await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken);
        }
    }

    private static bool[] ChooseCut(int count, CutOff? cut, int seed)
    {
        var chosen = new bool[count];
        if (cut is null || cut.Share <= 0) return chosen;
        int n = Math.Clamp((int)Math.Round(cut.Share * count), 1, count);
        foreach (int i in Enumerable.Range(0, count).OrderBy(i => ScenarioPages.StableSeed(seed, "cut", i)).Take(n)) chosen[i] = true;
        return chosen;
    }

    /// <summary>The link k× faster: rates ×k, delays, outages and reset times ÷k (byte-count resets unchanged).</summary>
    public static LinkProfile Scale(LinkProfile profile, double k)
    {
        if (k == 1) return profile;
        long? Faster(long? rate) => rate is { } r ? (long)Math.Round(r * k) : null;
        long? slowest = new[] { profile.UpBytesPerSecond, profile.DownBytesPerSecond }.Where(r => r is not null).Min();
        return profile with
        {
            Latency = profile.Latency / k,
            Jitter = profile.Jitter / k,
            UpBytesPerSecond = Faster(profile.UpBytesPerSecond),
            DownBytesPerSecond = Faster(profile.DownBytesPerSecond),
            // The same burst in time: the default burst (50 ms of throughput, at least two pieces) of the real rate, ×k.
            BurstBytes = slowest is { } s ? (long)Math.Round((profile.BurstBytes ?? profile.BurstFor(s)) * k) : profile.BurstBytes,
            Resets = profile.Resets with { MeanTimeBetween = profile.Resets.MeanTimeBetween / k },
            Outages = profile.Outages.Select(o => new LinkOutage(o.Start / k, o.End / k)).ToList(),
        };
    }

    /// <summary>The device's timers k× shorter (the session's expiry stays: it is days).</summary>
    public static DeliveryOptions Scale(DeliveryOptions options, double k) => k == 1 ? options : options with
    {
        KeepAlive = TimeSpan.FromSeconds(Math.Max(1, Math.Round(options.KeepAlive.TotalSeconds / k))),
        ResendAfter = options.ResendAfter / k,
        BackoffBase = options.BackoffBase / k,
        BackoffMax = options.BackoffMax / k,
        ConnectTimeout = options.ConnectTimeout / k,
    };

    private static List<LinkOutage> WithOutage(IReadOnlyList<LinkOutage> outages, LinkOutage extra)
    {
        var merged = new List<LinkOutage>();
        foreach (var o in outages.Append(extra).OrderBy(o => o.Start))
        {
            if (merged.Count > 0 && o.Start <= merged[^1].End)
                merged[^1] = new LinkOutage(merged[^1].Start, o.End > merged[^1].End ? o.End : merged[^1].End);
            else merged.Add(o);
        }
        return merged;
    }

    private static async Task<(int InLedger, int Checked, List<string> Problems)> CheckImagesAsync(
        InProcessCloud cloud, HttpClient http, List<DeviceRun> runs, DeliveryScenarioOptions options, CancellationToken cancellationToken)
    {
        var ledger = cloud.Services.GetRequiredService<IResultsLedger>();
        var problems = new List<string>();
        int inLedger = 0;
        var all = new List<(DeviceRun Run, ImageTrack Image, int Page)>();
        foreach (var run in runs)
        {
            foreach (var image in run.Images.Values)
            {
                var stored = await ledger.ImagePagesAsync(image.ImageHash);
                var pages = options.Pages(run.Device, image.Tally);
                for (int page = 0; page < image.Pages; page++)
                {
                    all.Add((run, image, page));
                    var held = stored.FirstOrDefault(p => p.Page == page);
                    if (held is null) continue;
                    inLedger++;
                    if (held.PageHash != Sha256Hash.Of(pages[page]) || held.Size != pages[page].Length || held.Tps != run.Device.Identity.Tps || held.Contest != image.Contest)
                        problems.Add($"{run.Device.Identity.DeviceId} {image.Contest.Slug()} page {page + 1}: the ledger holds another page ({held.PageHash}, {held.Size} bytes)");
                }
            }
        }
        // Every page is in the ledger (above); a seeded sample is fetched from the public API and compared byte for byte.
        var random = new Random(options.Seed);
        var sample = all.Count <= options.ImagesCheckedOverHttp ? all : all.OrderBy(_ => random.Next()).Take(options.ImagesCheckedOverHttp).ToList();
        foreach (var (run, image, page) in sample)
        {
            var expected = options.Pages(run.Device, image.Tally)[page];
            using var response = await http.GetAsync($"api/v1/images/{run.Device.Identity.Tps}/{image.Contest.Slug()}/{image.ImageHash}/{page + 1}", cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                problems.Add($"{run.Device.Identity.DeviceId} {image.Contest.Slug()} page {page + 1}: the API answered {(int)response.StatusCode}");
                continue;
            }
            var served = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            if (!served.AsSpan().SequenceEqual(expected))
                problems.Add($"{run.Device.Identity.DeviceId} {image.Contest.Slug()} page {page + 1}: the API serves other bytes ({served.Length} for {expected.Length})");
        }
        return (inLedger, sample.Count, problems);
    }

    private static Dictionary<string, ProfileFigures> Figures(
        List<DeviceRun> runs, IEnumerable<(string Profile, bool Cut)> proxies, Dictionary<(string, bool), LinkCounters> end,
        Dictionary<(string, bool), LinkCounters>? tallyPhase, bool imagesTimed)
    {
        var figures = new Dictionary<string, ProfileFigures>(StringComparer.Ordinal);
        foreach (var group in runs.GroupBy(r => r.Profile))
        {
            var keys = proxies.Where(p => p.Profile == group.Key).ToArray();
            var link = Sum(keys.Select(k => end[k]));
            int n = group.Count();
            WireBytes PerTps(LinkCounters c) => new(c.BytesUp / (double)n, c.BytesDown / (double)n);
            WireBytes? tallies = null, images = null;
            if (tallyPhase is not null)
            {
                var first = Sum(keys.Select(k => tallyPhase[k]));
                tallies = PerTps(first);
                images = new WireBytes((link.BytesUp - first.BytesUp) / (double)n, (link.BytesDown - first.BytesDown) / (double)n);
            }
            figures[group.Key] = new ProfileFigures(group.Key, n, group.First().Scale,
                LatencySummary.Of(group.SelectMany(r => r.FormTimings()).Select(t => t.Latency)),
                imagesTimed ? LatencySummary.Of(group.SelectMany(r => r.ImageTimings()).Select(t => t.Latency)) : LatencySummary.Empty,
                link, PerTps(link), tallies, images,
                group.Average(r => r.Forms.Values.Sum(f => (double)f.WireBytes)),
                group.Average(r => r.Images.Values.Sum(i => (double)i.PageSizes.Sum())),
                group.Sum(r => r.Loop.Connects));
        }
        return figures;
    }

    private static LinkCounters Sum(IEnumerable<LinkCounters> counters) => counters.Aggregate(default(LinkCounters), (a, c) => new LinkCounters(
        a.Connections + c.Connections, a.Active + c.Active, a.Resets + c.Resets, a.CutByOutage + c.CutByOutage,
        a.RefusedDuringOutage + c.RefusedDuringOutage, a.BytesUp + c.BytesUp, a.BytesDown + c.BytesDown));

    private static CutOffFigures? CutFigures(
        List<DeviceRun> runs, Dictionary<string, CutClock> clocks, Dictionary<(string Profile, bool Cut), LinkProxy> proxies,
        Dictionary<(string, bool), LinkCounters> end, CutOff? cut)
    {
        var cutRuns = runs.Where(r => r.Cut).ToArray();
        if (cut is null || cutRuns.Length == 0) return null;
        var attempts = proxies.Keys.Where(k => k.Cut).Select(k => end[k]).Sum(c => c.RefusedDuringOutage + c.CutByOutage);
        // A cut device's times are on its profile's cut clock, whose link came back at StartedAt + CutEnds.
        TimeSpan AfterRestore(DeviceRun r, DateTimeOffset? at) =>
            at is { } t ? (t - clocks[r.Profile].StartedAt - clocks[r.Profile].CutEnds) * r.Scale : TimeSpan.MaxValue;
        var numbers = cutRuns.Select(r => r.Forms.Values.Any(f => f.ReceiptedAt is null) ? TimeSpan.MaxValue : AfterRestore(r, r.Forms.Values.Max(f => f.ReceiptedAt)));
        var everything = cutRuns.Select(r => r.AllDone ? AfterRestore(r, r.LastEventAt) : TimeSpan.MaxValue);
        var first = cutRuns.Select(r => AfterRestore(r, r.Forms.Values.Min(f => f.ReceiptedAt)));
        var others = runs.Where(r => !r.Cut).Select(r => r.LastEventAt is { } t ? (t - r.StartedAt) * r.Scale : TimeSpan.Zero).DefaultIfEmpty().Max();
        return new CutOffFigures(cutRuns.Length, cut.Duration, attempts / (double)cutRuns.Length, numbers.Max(), everything.Max(),
            LatencySummary.Of(first), others, clocks.Values.Select(c => c.FastForwarded).DefaultIfEmpty().Max() * cutRuns[0].Scale);
    }

    private sealed class FormTrack(SignedSubmission signed, C1Tally tally, DateTimeOffset signedAt)
    {
        public SignedSubmission Signed { get; } = signed;
        public C1Tally Tally { get; } = tally;
        public DateTimeOffset SignedAt { get; } = signedAt;
        public int WireBytes => Signed.Wire.Length;
        public OutboxState State { get; set; }
        public DateTimeOffset? ReceiptedAt { get; set; }
    }

    private sealed class ImageTrack(Sha256Hash imageHash, Sha256Hash form, C1Tally tally, IReadOnlyList<int> pageSizes)
    {
        public Sha256Hash ImageHash { get; } = imageHash;
        public Sha256Hash Form { get; } = form;
        public C1Tally Tally { get; } = tally;
        public ContestId Contest => Tally.Contest;
        public IReadOnlyList<int> PageSizes { get; } = pageSizes;
        public int Pages => PageSizes.Count;
        public DateTimeOffset? PagesAddedAt { get; set; }
        public DateTimeOffset? DoneAt { get; set; }
        public int Done { get; set; }
    }

    /// <summary>One device in the scenario: its outbox and loop, and when each of its forms and images got where.</summary>
    private sealed class DeviceRun
    {
        private readonly Lock _lock = new();
        private readonly TimeProvider _time;
        private readonly bool _phased;
        private int _settledKnown, _pagesKnown;
        private bool _pagesAdded;

        public DeviceRun(SimulatedDevice device, string profile, double scale, bool cut, TimeProvider time, Outbox outbox, DeliveryLoop loop, bool phased)
        {
            Device = device;
            Profile = profile;
            Scale = scale;
            Cut = cut;
            Outbox = outbox;
            Loop = loop;
            _time = time;
            _phased = phased;
            _pagesAdded = !phased;
            StartedAt = time.GetUtcNow();
        }

        public SimulatedDevice Device { get; }
        public string Profile { get; }
        public double Scale { get; }
        public bool Cut { get; }
        public Outbox Outbox { get; }
        public DeliveryLoop Loop { get; }
        public DateTimeOffset StartedAt { get; }
        public Dictionary<Sha256Hash, FormTrack> Forms { get; } = [];
        public Dictionary<Sha256Hash, ImageTrack> Images { get; } = [];
        public volatile bool TalliesDone;
        public volatile bool AllDone;
        public int ReceiptedCount;
        public int StoredPages;
        public DateTimeOffset? LastEventAt { get; private set; }

        public void Signed(SignedSubmission signed, C1Tally tally, IReadOnlyList<byte[]> pages, DateTimeOffset at)
        {
            lock (_lock)
            {
                Forms[signed.Hash] = new FormTrack(signed, tally, at);
                if (pages.Count > 0)
                    Images[signed.Submission.ImageHash] = new ImageTrack(signed.Submission.ImageHash, signed.Hash, tally, pages.Select(p => p.Length).ToArray())
                    {
                        PagesAddedAt = _phased ? null : at,
                    };
            }
        }

        public void AddPages(PageSource source)
        {
            foreach (var image in Images.Values)
            {
                Outbox.AddPages(Forms[image.Form].Signed, source(Device, image.Tally));
                lock (_lock) image.PagesAddedAt = _time.GetUtcNow();
            }
            lock (_lock)
            {
                _pagesAdded = true;
                AllDone = false;
            }
            Loop.Wake();
            OnStatus(Outbox.Status());
        }

        public void OnStatus(OutboxStatus status)
        {
            lock (_lock)
            {
                var now = _time.GetUtcNow();
                if (status.Receipted + status.Rejected > _settledKnown)
                {
                    _settledKnown = status.Receipted + status.Rejected;
                    foreach (var entry in Outbox.All())
                    {
                        if (entry.State is not (OutboxState.Receipted or OutboxState.Rejected) || !Forms.TryGetValue(entry.Hash, out var form) || form.ReceiptedAt is not null) continue;
                        form.State = entry.State;
                        form.ReceiptedAt = now;
                        LastEventAt = now;
                    }
                    ReceiptedCount = Forms.Values.Count(f => f.State == OutboxState.Receipted);
                }
                if (status.Images.Stored + status.Images.Refused > _pagesKnown)
                {
                    _pagesKnown = status.Images.Stored + status.Images.Refused;
                    StoredPages = status.Images.Stored;
                    foreach (var group in Outbox.Pages().GroupBy(p => p.ImageHash))
                    {
                        if (!Images.TryGetValue(group.Key, out var image) || image.DoneAt is not null) continue;
                        image.Done = group.Count(p => p.State != PageState.Pending);
                        if (image.Done < image.Pages) continue;
                        image.DoneAt = now;
                        LastEventAt = now;
                    }
                }
                TalliesDone = status.Queued == 0 && status.Sent == 0;
                AllDone = _pagesAdded && status.AllSettled;
            }
        }

        public IEnumerable<FormTiming> FormTimings()
        {
            lock (_lock)
            {
                return Forms.Values.Where(f => f.ReceiptedAt is not null && f.State == OutboxState.Receipted)
                    .Select(f => new FormTiming(Device.Identity.DeviceId, Profile, f.Tally.Contest, Cut, (f.ReceiptedAt!.Value - f.SignedAt) * Scale))
                    .ToArray();
            }
        }

        /// <summary>Per image: from when it could go (its tally receipted and its pages in the outbox) to its last page stored.</summary>
        public IEnumerable<ImageTiming> ImageTimings()
        {
            lock (_lock)
            {
                return Images.Values.Where(i => i.DoneAt is not null && Forms[i.Form].ReceiptedAt is not null && i.PagesAddedAt is not null)
                    .Select(i =>
                    {
                        var from = Forms[i.Form].ReceiptedAt!.Value > i.PagesAddedAt!.Value ? Forms[i.Form].ReceiptedAt!.Value : i.PagesAddedAt.Value;
                        return new ImageTiming(Device.Identity.DeviceId, Profile, i.Contest, Cut, i.Pages, i.PageSizes.Sum(s => (long)s), (i.DoneAt!.Value - from) * Scale);
                    })
                    .ToArray();
            }
        }
    }

    /// <summary>
    /// The clock of the cut devices and their link: a fake clock a pump thread advances with the wall clock, or
    /// <see cref="Speed"/> times faster once fast-forwarding until the cut ends.
    /// </summary>
    private sealed class CutClock : IDisposable
    {
        private readonly Thread _pump;
        private volatile bool _stopping, _fastForward;
        private long _fastForwardedTicks;

        public CutClock(TimeSpan cutEnds, double speed)
        {
            CutEnds = cutEnds;
            Speed = Math.Max(1, speed);
            StartedAt = Time.GetUtcNow();
            _pump = new Thread(Pump) { IsBackground = true, Name = "kpu-sim cut clock" };
            _pump.Start();
        }

        public FakeTimeProvider Time { get; } = new(DateTimeOffset.UtcNow);
        public DateTimeOffset StartedAt { get; }
        /// <summary>When the link comes back, since <see cref="StartedAt"/> on this clock.</summary>
        public TimeSpan CutEnds { get; }
        public double Speed { get; }
        public bool FastForwarding => _fastForward && !Restored;
        public bool Restored => Time.GetUtcNow() - StartedAt >= CutEnds;
        /// <summary>Clock time that passed in fast-forward beyond the wall clock's.</summary>
        public TimeSpan FastForwarded => TimeSpan.FromTicks(Interlocked.Read(ref _fastForwardedTicks));

        public void StartFastForward() => _fastForward = true;

        private void Pump()
        {
            long last = Stopwatch.GetTimestamp();
            while (!_stopping)
            {
                Thread.Sleep(2);
                long now = Stopwatch.GetTimestamp();
                var real = Stopwatch.GetElapsedTime(last, now);
                last = now;
                var step = real;
                var since = Time.GetUtcNow() - StartedAt;
                if (_fastForward && since < CutEnds)
                {
                    step = TimeSpan.FromTicks(Math.Min((long)(real.Ticks * Speed), (CutEnds - since).Ticks));
                    if (step > real) Interlocked.Add(ref _fastForwardedTicks, (step - real).Ticks);
                }
                Time.Advance(step);
            }
        }

        public void Dispose()
        {
            _stopping = true;
            _pump.Join();
        }
    }
}
