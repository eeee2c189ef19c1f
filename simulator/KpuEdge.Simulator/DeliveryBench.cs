using System.Diagnostics;
using System.Text;
using KpuEdge.Core.Benchmarks;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Edge.Delivery;
using KpuEdge.LinkEmulator;
using Spectre.Console;

namespace KpuEdge.Simulator;

/// <summary>
/// `kpu-sim bench delivery`: what delivery costs and how long it takes over the emulated links (fibre, 4G, VSAT in a
/// 3T village, VSAT on a bad day), with real form photos recompressed for the link; how long a backlog takes to drain
/// after a long cut; and Sirekap's photo-first order beside ours. Printed and recorded in docs/benchmarks.md.
/// </summary>
public static class DeliveryBench
{
    /// <param name="PerProfile">Devices per link profile for the latencies.</param>
    /// <param name="CutDevices">Devices of the backlog run (a tenth of them cut off).</param>
    /// <param name="VsatTimeScale">How much faster the VSAT profiles run than real (see <see cref="DeliveryScenarioOptions.TimeScale"/>).</param>
    /// <param name="BytesDevices">Devices of the phased run that splits the bytes into tallies and images.</param>
    /// <param name="PoolTps">TPS whose forms are rendered, filled, photographed and compressed (the others reuse their pages).</param>
    public sealed record Settings(int PerProfile, int CutDevices, double VsatTimeScale, int BytesDevices, int PoolTps, int Seed, string Output);

    /// <summary>Papua, Maluku (mostly VSAT) and Jawa Barat: the pool's TPS and the devices come from these.</summary>
    private static readonly string[] Provinces = ["94", "81", "32"];

    private static readonly TimeSpan CutDuration = TimeSpan.FromMinutes(30);

    public static async Task<int> RunAsync(Settings settings, CancellationToken cancellationToken)
    {
        var total = Stopwatch.StartNew();
        var tree = RegionTree.LoadEmbedded();
        var election = ElectionDefinition.Default;
        var links = LinkProfileSet.LoadDefault();
        var md = new StringBuilder();
        void Line(string text = "")
        {
            AnsiConsole.WriteLine(text);
            md.AppendLine(text);
        }
        void Progress(string text) => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(text)}[/]");
        int seed = settings.Seed;
        double k = settings.VsatTimeScale;
        var vsatScale = new Dictionary<string, double> { ["vsat-3t"] = k, ["vsat-3t-bad"] = k };

        // The pool of real link images: the forms of a few TPS, filled, photographed by a phone, recompressed.
        var simulation = new SimulatedElection(tree, election, seed);
        var poolTps = simulation.PickTps(settings.PoolTps, Provinces);
        Progress($"Rendering, filling, photographing (12 MP) and compressing every page of the forms of {poolTps.Count} TPS…");
        var pool = LinkImagePool.Render(poolTps, tree, election, seed);
        var byContest = pool.Forms.GroupBy(f => f.Contest).OrderBy(g => g.Key).ToArray();
        double photosPerTps = pool.Forms.Sum(f => f.Pages.Sum(p => (double)p.PhotoBytes)) / poolTps.Count;
        double linkPerTps = pool.Forms.Sum(f => f.Pages.Sum(p => (double)p.Jpeg.Length)) / poolTps.Count;
        double pagesPerTps = pool.Forms.Sum(f => f.Pages.Count) / (double)poolTps.Count;
        var ppwpPhotos = pool.Forms.Where(f => f.Contest == ContestId.Ppwp).Average(f => f.Pages.Sum(p => (double)p.PhotoBytes));

        Line($"Machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}, {DateTime.UtcNow:yyyy-MM-dd} (UTC); seed {seed}. " +
             $"Every device is real as far as the cloud can tell (its own keys and certificates, a durable outbox, the delivery loop over MQTT 5 and " +
             $"mutual TLS, receipts' inclusion proofs verified) and reaches the in-process cloud (broker, ingest, ledger, log, API) through the " +
             $"link emulator's user-space TCP proxy, one proxy per link profile (`simulator/KpuEdge.LinkEmulator`).");
        Line();
        Line($"**Form images.** The C.Hasil forms of {poolTps.Count} TPS ({string.Join(", ", poolTps)}) rendered, filled by hand with held-out real digits, " +
             $"photographed as a 12 MP phone would (`Simulator.Forms`: perspective, light, blur, noise, JPEG) and recompressed for the link " +
             $"(`LinkImage`: grey, ≤ 1600 px, ≤ 150 KB), {pool.RenderTime.TotalSeconds:F0} s for {pool.Forms.Sum(f => f.Pages.Count)} pages. " +
             "Devices of other TPS send one of these TPS's pages, made their own by a JPEG comment (the cloud checks images only against the hash the device signed).");
        Line();
        Line("| contest | pages | phone photo per page (mean, KB) | link image per page (mean, KB) |");
        Line("|---|---:|---:|---:|");
        foreach (var g in byContest)
        {
            var pages = g.SelectMany(f => f.Pages).ToArray();
            Line($"| {g.Key.Slug()} | {g.Average(f => f.Pages.Count):0.#} | {pages.Average(p => p.PhotoBytes) / 1000:N0} | {pages.Average(p => p.Jpeg.Length) / 1000:N0} |");
        }
        Line($"| one TPS, all contests | {pagesPerTps:0.#} | {photosPerTps / 1e6:F1} MB in all | {linkPerTps / 1e6:F2} MB in all |");
        Line();

        // (a) Bytes on the wire per TPS, phased so the proxy's counters split into tallies and images.
        var bytes = await DeliveryScenario.RunAsync(new DeliveryScenarioOptions
        {
            Devices = settings.BytesDevices, Seed = seed, Provinces = Provinces, Pages = pool.Pages, Links = LinkAssignment.AllOn(links["fibre"]),
            PhasedImages = true, Tree = tree, Election = election, Progress = Progress,
        }, cancellationToken);
        Require(bytes, "bytes");
        var f = bytes.Profiles["fibre"];
        Line($"**(a) Bytes on the wire per TPS** ({bytes.Devices} devices over the fibre profile, every page of every contest; mean per TPS):");
        Line();
        Line("| traffic | payload | on the wire, up | on the wire, down | overhead (up + down − payload) |");
        Line("|---|---:|---:|---:|---:|");
        Line($"| five tallies (signed forms; connection set-up, receipts with proofs) | {f.TallyPayload:N0} B | {f.TallyOnWire!.Up:N0} B | {f.TallyOnWire.Down:N0} B | {f.TallyOnWire.Total - f.TallyPayload:N0} B |");
        Line($"| form images ({pagesPerTps:0.#} link images, {new DeliveryOptions().ImageChunkBytes / 1024} KB chunks, acknowledgements) | {f.ImagePayload / 1e6:F2} MB | {f.ImageOnWire!.Up / 1e6:F2} MB | {f.ImageOnWire.Down / 1e3:N0} KB | {(f.ImageOnWire.Total - f.ImagePayload) / 1e3:N0} KB ({(f.ImageOnWire.Total - f.ImagePayload) / f.ImagePayload:P1}) |");
        Line();
        Line(DeliveryScenarioResult.BytesMethod);
        Line();
        Line($"{Counts(bytes)} Tallies signed → receipted during the tally phase, with no image in flight anywhere: p50 / p99 {f.Tallies}.");
        Line();

        // (b) Latency per link profile, real parameters: tallies in real time; the VSAT images time-scaled.
        var land = await DeliveryScenario.RunAsync(new DeliveryScenarioOptions
        {
            Devices = settings.PerProfile * 2, Seed = seed + 1, Provinces = Provinces, Pages = pool.Pages,
            Links = LinkAssignment.RoundRobin([links["fibre"], links["4g"]]), Tree = tree, Election = election, Progress = Progress,
        }, cancellationToken);
        Require(land, "fibre and 4G");
        var vsatTallies = await DeliveryScenario.RunAsync(new DeliveryScenarioOptions
        {
            Devices = settings.PerProfile * 2, Seed = seed + 2, Provinces = Provinces, Pages = pool.Pages, StopAtTallies = true,
            Links = LinkAssignment.RoundRobin([links["vsat-3t"], links["vsat-3t-bad"]]), Tree = tree, Election = election, Progress = Progress,
        }, cancellationToken);
        Require(vsatTallies, "VSAT tallies");
        var vsat = await DeliveryScenario.RunAsync(new DeliveryScenarioOptions
        {
            Devices = settings.PerProfile * 2, Seed = seed + 2, Provinces = Provinces, Pages = pool.Pages,
            Links = LinkAssignment.RoundRobin([links["vsat-3t"], links["vsat-3t-bad"]]), TimeScale = vsatScale,
            Tree = tree, Election = election, Progress = Progress, Timeout = TimeSpan.FromMinutes(15),
        }, cancellationToken);
        Require(vsat, "VSAT images");
        Line($"**(b) Delivery latency per link profile** ({settings.PerProfile} devices per profile, all signing their five forms, each with its pages, " +
             "at the same moment; tallies: signed → verified receipt in the device, per form; images: tally receipted → last page stored, per form " +
             "image, so a contest's pages wait behind the earlier contests' pages; p50 / p99):");
        Line();
        Line("| profile | link | tallies p50 / p99 | images p50 / p99 | connections (resets, cut by outages) |");
        Line("|---|---|---:|---:|---:|");
        string Connections(ProfileFigures p) => $"{p.Connects} ({p.Link.Resets}, {p.Link.CutByOutage + p.Link.RefusedDuringOutage})";
        foreach (var name in new[] { "fibre", "4g" })
        {
            var p = land.Profiles[name];
            Line($"| {name} | {Describe(links[name])} | {p.Tallies} | {p.Images} | {Connections(p)} |");
        }
        foreach (var name in new[] { "vsat-3t", "vsat-3t-bad" })
        {
            var (t, i) = (vsatTallies.Profiles[name], vsat.Profiles[name]);
            Line($"| {name} | {Describe(links[name])} | {t.Tallies} | {i.Images} (×{k:0.#} time-scaled) | {Connections(t)}; images run {Connections(i)} |");
        }
        Line();
        Line("Three runs: fibre and 4G together in real time, tallies and images. The VSAT tallies in real time, with the real profiles: every device " +
             "holds its pages too, and the run stops once the last tally is receipted (the images have only begun). The VSAT images, which take " +
             $"many minutes, in a run ×{k:0.#} time-scaled: both links {k:0.#}× faster (rates ×{k:0.#}; latency, jitter, outage times and timed resets " +
             $"÷{k:0.#}; resets after a byte count unchanged) and their devices' timers likewise (keep-alive, resend, backoff, connect timeout ÷{k:0.#}); " +
             $"times measured there are reported ×{k:0.#}. CPU work (TLS handshakes, the cloud's writes) is not scaled: it is overstated ×{k:0.#}, tens of " +
             $"ms a chunk against {16 * 1024 / (double)links["vsat-3t"].UpBytesPerSecond!.Value:F0} s of link time, so the image figures stay a little pessimistic. " +
             $"On fibre and 4G the machine is the limit: {land.Devices} devices' TLS handshakes and then {land.Devices * linkPerTps / 1e6:N0} MB of images at once, " +
             "into one ingest whose image writer fsyncs chunk by chunk, on this 2-core machine that also plays every device (compare the tallies of (a), " +
             "with no image in flight).");
        Line();
        Line(Counts(land));
        Line();
        Line(Counts(vsatTallies));
        Line();
        Line(Counts(vsat));
        Line();

        // (c) Backlog drain after a 30-minute cut of a tenth of the devices.
        var backlog = await DeliveryScenario.RunAsync(new DeliveryScenarioOptions
        {
            Devices = settings.CutDevices, Seed = seed + 3, Provinces = Provinces, Pages = pool.Pages,
            Links = LinkAssignment.AllOn(links["vsat-3t"]), TimeScale = vsatScale, Cut = new CutOff(0.1, CutDuration),
            Tree = tree, Election = election, Progress = Progress, Timeout = TimeSpan.FromMinutes(15),
        }, cancellationToken);
        Require(backlog, "backlog");
        var c = backlog.Cut!;
        var delivery = new DeliveryOptions();
        int toCap = (int)Math.Ceiling(Math.Log2(delivery.BackoffMax / delivery.BackoffBase));
        var uncutForms = LatencySummary.Of(backlog.FormTimings.Where(t => !t.Cut).Select(t => t.Latency));
        var uncutImages = LatencySummary.Of(backlog.ImageTimings.Where(t => !t.Cut).Select(t => t.Latency));
        Line($"**(c) Backlog after a cut.** {backlog.Devices} devices on vsat-3t (×{k:0.#} time-scaled as above); {c.Devices} of them (10%) have their link " +
             $"down from the moment they sign for {CutDuration.TotalMinutes:F0} emulated minutes: their own proxy refuses every connection (accept, then RST). " +
             "The cut devices, their outboxes and their proxy run on a clock of their own, which keeps pace with the wall clock while the other devices " +
             $"deliver (they take {LatencySummary.Format(c.OthersSettled)}), then runs ×60 through the rest of the cut ({LatencySummary.Format(c.FastForwarded)} " +
             "skipped), then at pace again: the devices' backoff, resend timers and the link live through the whole 30 minutes, and the devices come back " +
             "to a quiet cloud, as they would.");
        Line();
        Line("| figure | value |");
        Line("|---|---:|");
        Line($"| connection attempts per cut device during the cut (backoff {delivery.BackoffBase.TotalSeconds:F0} s doubling, full jitter, cap {delivery.BackoffMax.TotalMinutes:F0} min: cap reached after {toCap}) | {c.AttemptsDuringCut:F1} |");
        Line($"| link back → first receipt of a cut device, p50 / max (waiting out the backoff) | {LatencySummary.Format(c.FirstReceiptAfterRestore.P50)} / {LatencySummary.Format(c.FirstReceiptAfterRestore.Max)} |");
        Line($"| link back → every tally of every cut device receipted | **{LatencySummary.Format(c.NumbersDrained)}** |");
        Line($"| link back → every page of every cut device stored (backlog drained) | **{LatencySummary.Format(c.ImagesDrained)}** |");
        Line($"| the other {backlog.Devices - c.Devices} devices: tallies p50 / p99 (time-scaled, so CPU overstated: (b) has them in real time), images p50 / p99 | {uncutForms} ; {uncutImages} |");
        Line();
        Line($"The numbers wait out the backoff the cut left them in (a uniform draw up to the {delivery.BackoffMax.TotalMinutes:F0}-minute cap, already running when " +
             $"the link comes back); the images then take what the link gives: {linkPerTps / 1e6:F2} MB at {links["vsat-3t"].UpBytesPerSecond!.Value * 8 / 1000.0:F0} kbit/s " +
             $"is {linkPerTps / links["vsat-3t"].UpBytesPerSecond!.Value / 60:F1} min by itself.");
        Line();
        Line(Counts(backlog));
        Line();

        // (d) Sirekap's photo-first order beside ours, on the same vsat-3t uplink: computed.
        var v = links["vsat-3t"];
        double rate = v.UpBytesPerSecond!.Value;
        double rtt = 2 * v.Latency.TotalSeconds;
        const int roundTrips = 4; // TLS 1.3 handshake, MQTT CONNECT, SUBSCRIBE, PUBLISH → receipt (the proxy does not delay the TCP handshake)
        // PPWP goes first: the connection's set-up (everything up but the forms themselves) and the PPWP form.
        double oursPpwp = (f.TallyOnWire.Up - f.TallyPayload + bytes.FormBytes[ContestId.Ppwp]) / rate + roundTrips * rtt;
        double oursAll = f.TallyOnWire.Up / rate + roundTrips * rtt;
        double sirekapPpwp = oursPpwp + ppwpPhotos / rate;
        double sirekapAll = oursAll + photosPerTps / rate;
        double oursImages = oursAll + f.ImageOnWire.Up / rate;
        Line($"**(d) Photo first (Sirekap 2024) or numbers first (ours), on the vsat-3t uplink** ({rate * 8 / 1000:F0} kbit/s up, {rtt * 1000:F0} ms round trip). " +
             "Computed, not emulated: time = bytes sent up before the numbers / uplink rate + 4 round trips (TLS, MQTT connect, subscribe, publish → receipt). " +
             $"Sirekap-style, each contest's full-resolution phone photos (the 12 MP photographs above: {pagesPerTps:0.#} pages, {photosPerTps / 1e6:F1} MB per TPS; " +
             "real Sirekap photos are of the same order, 1–3 MB a page) go up before that contest's numbers; ours sends the five signed tallies first " +
             "(bytes measured in (a), connection set-up included) and the link images after their receipts. A lower bound for both: no retries, resets or outages.");
        Line();
        Line("| order | PPWP numbers known | all five contests' numbers known | photos in the cloud |");
        Line("|---|---:|---:|---:|");
        Line($"| Sirekap-style: full-resolution photos, then numbers | {Seconds(sirekapPpwp)} | {Seconds(sirekapAll)} | {Seconds(sirekapAll)} (full resolution) |");
        Line($"| ours, computed: numbers, then link images | {Seconds(oursPpwp)} | {Seconds(oursAll)} | {Seconds(oursImages)} (link images) |");
        var measured = vsatTallies.Profiles["vsat-3t"];
        var measuredImages = vsat.Profiles["vsat-3t"].Images;
        var measuredPpwp = LatencySummary.Of(vsatTallies.FormTimings.Where(t => t.Profile == "vsat-3t" && t.Contest == ContestId.Ppwp).Select(t => t.Latency));
        Line($"| ours, measured on the emulated vsat-3t in (b), p50 / p99 | {measuredPpwp} | {measured.Tallies} (any form) | {measuredImages} (a contest's pages after its receipt) |");
        Line();
        Line($"Numbers first: a VSAT TPS's five results are known in {Seconds(oursAll)} instead of {Seconds(sirekapAll)}; " +
             $"the photos follow as link images, {linkPerTps / photosPerTps:P0} of the phone photos' bytes, and hold nothing up.");
        Line();
        Line($"`kpu-sim bench delivery --per-profile {settings.PerProfile} --cut-devices {settings.CutDevices} --vsat-time-scale {k:0.#} --bytes-devices {settings.BytesDevices} " +
             $"--pool-tps {settings.PoolTps} --seed {seed}`: {total.Elapsed.TotalMinutes:F1} min in all on this machine.");

        BenchmarkFile.WriteSection(settings.Output, "delivery", "## Delivery over emulated links (`kpu-sim bench delivery`)\n\n" + md);
        AnsiConsole.MarkupLine($"[green]Recorded in {Markup.Escape(settings.Output)}[/]");
        return 0;
    }

    private static string Seconds(double s) => LatencySummary.Format(TimeSpan.FromSeconds(s));

    private static string Describe(LinkProfile p)
    {
        string Rate(long? r) => r is { } v ? $"{v * 8 / 1000.0:0.#} kbit/s" : "unlimited";
        var parts = new List<string> { $"{p.Latency.TotalMilliseconds:F0} ± {p.Jitter.TotalMilliseconds:F0} ms one way", $"{Rate(p.UpBytesPerSecond)} up" };
        if (p.Resets.FractionOfConnections > 0) parts.Add($"{p.Resets.FractionOfConnections:P0} of connections reset mid-stream");
        if (p.Resets.MeanTimeBetween is { } mean) parts.Add($"a reset every {mean.TotalMinutes:0.#} min");
        if (p.Outages.Count > 0) parts.Add($"outages {string.Join(", ", p.Outages.Select(o => $"{o.Start.TotalSeconds:F0}–{o.End.TotalSeconds:F0} s"))}");
        return string.Join("; ", parts);
    }

    private static string Counts(DeliveryScenarioResult r) =>
        $"Run of {r.Devices} devices ({string.Join(", ", r.Profiles.Values.Select(p => $"{p.Profile} ×{p.Devices}"))}), {r.Elapsed.TotalSeconds:F0} s of wall clock: " +
        $"{r.FormsReceipted:N0} of {r.FormsSigned:N0} forms receipted, the cloud accepted {r.CloudAccepted:N0} and answered {r.CloudDuplicates:N0} {(r.CloudDuplicates == 1 ? "resend" : "resends")} as duplicates; " +
        (r.TalliesOnly
            ? "stopped there (images not waited for); "
            : $"{r.PagesInLedger:N0} of {r.Pages:N0} pages in the ledger ({r.PagesCheckedOverHttp} fetched from the API, byte for byte equal); " +
              $"{r.ChunksSent:N0} chunks sent for {r.ChunksNeeded:N0} needed; ") +
        $"{r.Connects:N0} connections. National recap of all five contests equal to what the devices signed.";

    private static void Require(DeliveryScenarioResult result, string what)
    {
        if (!result.Exact) throw new InvalidOperationException($"The {what} run was not exact: " + string.Join("; ", result.Problems()));
    }
}
