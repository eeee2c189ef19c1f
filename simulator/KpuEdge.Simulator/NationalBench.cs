using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Benchmarks;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Edge.Device;
using KpuEdge.Edge.Transport;
using KpuEdge.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace KpuEdge.Simulator;

/// <summary>
/// `kpu-sim bench national`: the 2024 registry (all 820,161 TPS, or an even sample of <c>--tps</c>) through the real
/// brokers, ingest, ledger, log and grains of one node or an in-process cluster. Each TPS has its own device identity
/// (its own Ed25519 key and signing certificate from KPU's CA) and signs its own chain of forms (five contests, four
/// in Jakarta); the forms travel the way 3T TPS's do, through their kecamatan's PPK station — one mutual-TLS
/// connection per station, not 820k handshakes — and the cloud checks every form's own device signature, chain and
/// rules, commits it, logs it and counts it. A progress line while it runs; at the end the national and every
/// province's totals for every contest are compared with the sum of what the devices signed.
/// </summary>
public static class NationalBench
{
    public sealed record Settings(int Tps, int Nodes, int Stations, int Window, string DataDirectory, string Output, int Seed, string FleetDirectory = "out/fleet", bool ProvisionOnly = false,
        double Rate = 0, double ApiRate = 0, int ReadClients = 0);

    private sealed record Station(DeviceCredentials Credentials, FleetKecamatan Kecamatan);

    public static async Task<int> RunAsync(Settings settings, CancellationToken cancellationToken)
    {
        var console = AnsiConsole.Console;
        var tree = RegionTree.LoadEmbedded();
        var election = ElectionDefinition.Default;
        var all = tree.TpsIn(RegionCode.Nasional).ToArray();
        // Whole kecamatan (≈ 113 TPS a station nationally), so a sample costs no more handshakes per form.
        var sample = Fleet.WholeKecamatan(all, settings.Tps);
        int tpsCount = sample.Sum(k => k.Count());
        console.MarkupLine($"National run: {tpsCount:N0} TPS of {all.Length:N0} in {sample.Length:N0} kecamatan, {settings.Nodes} node(s), stations {settings.Stations} at a time, {settings.Window} forms in flight per station.");

        if (Directory.Exists(settings.DataDirectory)) Directory.Delete(settings.DataDirectory, recursive: true);
        // Provisioning (once per seed and sample, then cached): a signing identity per TPS and its chain of forms signed,
        // as the devices would have on the night.
        var provision = Stopwatch.StartNew();
        var fleet = Fleet.OpenOrProvision(Path.Combine(settings.FleetDirectory, $"seed-{settings.Seed}-tps-{tpsCount}"), sample, election,
            settings.Seed, TimeProvider.System, out bool provisioned, message => console.MarkupLine($"[grey]{Markup.Escape(message)}[/]"));
        provision.Stop();
        var pki = fleet.Pki;
        if (settings.ProvisionOnly)
        {
            console.MarkupLine($"Fleet of {fleet.DeviceCount:N0} TPS and {fleet.FormCount:N0} forms ready in {Markup.Escape(fleet.Directory)} ({(provisioned ? "provisioned" : "cached")}, {provision.Elapsed.TotalSeconds:F1} s).");
            return 0;
        }
        console.MarkupLine(provisioned
            ? $"Provisioned {fleet.DeviceCount:N0} TPS signing identities, {fleet.FormCount:N0} forms signed, in {provision.Elapsed.TotalSeconds:F1} s (cached in {Markup.Escape(fleet.Directory)})."
            : $"Fleet of {fleet.DeviceCount:N0} TPS and {fleet.FormCount:N0} forms read from the cache {Markup.Escape(fleet.Directory)} in {provision.Elapsed.TotalSeconds:F1} s.");
        // Each kecamatan's PPK station: its own TLS identity (one mutual-TLS connection carries all its TPS's forms).
        var stationCredentials = sample.AsParallel().AsOrdered()
            .Select(k => pki.Pki.IssueDevice($"ppk-{k.Key}", KpuRole.Ppk, k.Key))
            .ToDictionary(c => c.Identity.Assignment, StringComparer.Ordinal);

        await using var cluster = settings.Nodes > 1
            ? await InProcessCluster.StartAsync(settings.DataDirectory, tree, election, settings.Nodes, LogLevel.Error, pki: pki, cancellationToken: cancellationToken)
            : null;
        if (settings.ReadClients > 0 && settings.Nodes > 1)
        {
            console.MarkupLine("[red]--read-clients measures one node's public tree: run it with --nodes 1.[/]");
            return 2;
        }
        // With readers, the public tree is built as it is in production (every 5 s, up to the newest checkpoint).
        Action<KpuEdge.Cloud.CloudOptions>? publicTree = settings.ReadClients > 0 ? o => o.PublicTreeInterval = TimeSpan.FromSeconds(5) : null;
        await using var single = settings.Nodes > 1 ? null
            : await InProcessCloud.StartAsync(settings.DataDirectory, tree, election, LogLevel.Error, configure: publicTree, pki: pki, cancellationToken: cancellationToken);
        var nodes = cluster?.Nodes ?? [single!];
        // Registered once, in the ledger every node reads (each certificate checked against the CA, in transactions of thousands).
        var registration = Stopwatch.StartNew();
        foreach (var chunk in fleet.Certificates().Chunk(50_000)) await nodes[0].RegisterAsync(chunk, cancellationToken);
        registration.Stop();
        console.MarkupLine($"Registered {fleet.DeviceCount:N0} devices in the ledger in {registration.Elapsed.TotalSeconds:F1} s.");

        // Every form's receipt latency, in the order receipts came (the progress line takes the p99 of the latest).
        var latencies = new double[fleet.FormCount];
        long done = 0, accepted = 0, duplicates = 0, failed = 0;
        var rejected = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        var signedTotals = new RecapCheck.RunningTotals();
        var run = Stopwatch.StartNew();
        using var progressStop = new CancellationTokenSource();
        var progress = Task.Run(async () =>
        {
            long last = 0;
            var lastAt = run.Elapsed;
            while (!progressStop.IsCancellationRequested)
            {
                try { await Task.Delay(TimeSpan.FromSeconds(5), progressStop.Token); }
                catch (OperationCanceledException) { break; }
                if (!run.IsRunning) continue; // every form answered: the run's table follows
                long now = Interlocked.Read(ref done);
                var at = run.Elapsed;
                var recent = latencies.AsSpan((int)last, (int)(now - last)).ToArray();
                Array.Sort(recent);
                string perNode = string.Join(" ", nodes.Select(n => $"{n.Options.NodeName ?? "node"}:{n.Stats.Received:N0}"));
                console.MarkupLine($"[grey]{at:hh\\:mm\\:ss}[/] {now:N0}/{fleet.FormCount:N0} forms · {(now - last) / (at - lastAt).TotalSeconds:F0} forms/s · backlog {fleet.FormCount - now:N0} · " +
                                   $"p99 {Percentiles.Of(recent, 0.99):F0} ms · received {Markup.Escape(perNode)}");
                last = now;
                lastAt = at;
            }
        });

        // Beside the ingest: how long a receipted form takes to reach the national total, and the public API under load.
        using var api = new HttpClient { BaseAddress = nodes[^1].ApiBase };
        var national = new NationalLatencyProbe(api, TimeSpan.FromMilliseconds(250));
        var apiLoad = new ApiLoad(api, sample.SelectMany(k => (RegionCode[])[RegionCode.Parse(k.Key[..2]), RegionCode.Parse(k.Key[..4]), RegionCode.Parse(k.Key)])
            .Distinct().Prepend(RegionCode.Nasional).ToArray(), settings.ApiRate, settings.Seed);
        var regionFiles = sample.SelectMany(k => (RegionCode[])[RegionCode.Parse(k.Key[..2]), RegionCode.Parse(k.Key[..4]), RegionCode.Parse(k.Key)]).Distinct()
            .Prepend(RegionCode.Nasional).SelectMany(r => Contests.All.Select(c => KpuEdge.Cloud.Public.PublicTreePaths.Region(c, r))).ToArray();
        var tpsFiles = sample.SelectMany(k => k).Select(t => KpuEdge.Cloud.Public.PublicTreePaths.Tps(ContestId.Ppwp, t)).ToArray();
        var readers = new PublicReadLoad(nodes[^1].ApiBase, regionFiles, tpsFiles, settings.ReadClients, settings.Seed);
        var probes = Task.WhenAll(national.RunAsync(progressStop.Token), apiLoad.RunAsync(progressStop.Token), readers.RunAsync(progressStop.Token));
        var pacer = new Pacer(settings.Rate);

        async Task SendAsync(SubmissionClient client, SignedSubmission form, CancellationToken ct)
        {
            double latency = double.NaN;
            try
            {
                await pacer.WaitAsync(ct);
                var started = Stopwatch.GetTimestamp();
                var receipt = await client.SubmitAsync(form, TimeSpan.FromSeconds(60), attempts: 3, ct);
                latency = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                switch (receipt.Status)
                {
                    case ReceiptStatus.Accepted:
                        Interlocked.Increment(ref accepted);
                        signedTotals.Add(form.Submission.Tally);
                        national.Receipted(started);
                        break;
                    case ReceiptStatus.Duplicate: Interlocked.Increment(ref duplicates); signedTotals.Add(form.Submission.Tally); break;
                    default: rejected.AddOrUpdate(receipt.Reason ?? "unknown", 1, (_, n) => n + 1); break;
                }
            }
            catch (Exception e) when (e is TimeoutException or ReceiptNotVerifiedException) { Interlocked.Increment(ref failed); }
            finally
            {
                latencies[Interlocked.Increment(ref done) - 1] = latency;
            }
        }

        // The kecamatan stream from the fleet file; each is held only while its station sends.
        await Parallel.ForEachAsync(fleet.Read(), new ParallelOptions { MaxDegreeOfParallelism = settings.Stations, CancellationToken = cancellationToken },
            async (kecamatan, ct) =>
            {
                var credentials = stationCredentials[kecamatan.Code];
                // A station talks to its node; the nodes share the kecamatan evenly.
                var node = nodes[(int)(long.Parse(kecamatan.Code, CultureInfo.InvariantCulture) % nodes.Count)];
                // Its TPS's forms interleaved the way they come in on the night: every TPS's first form, then every second one…
                var queue = kecamatan.Devices.SelectMany(d => d.Forms).OrderBy(f => f.Submission.Sequence).ToArray();
                int taken = 0;
                try
                {
                    await using var client = new SubmissionClient(credentials.DeviceId,
                        BrokerConnection.For(credentials, node.BrokerHost, node.BrokerPort, pki.LogKey));
                    await client.ConnectAsync(ct);
                    // A window of senders, each taking the next form when its last one is answered (not a task per form
                    // waiting its turn: a Jakarta kecamatan has three thousand forms).
                    await Task.WhenAll(Enumerable.Range(0, Math.Min(settings.Window, queue.Length)).Select(async _ =>
                    {
                        for (int i; (i = Interlocked.Increment(ref taken) - 1) < queue.Length;) await SendAsync(client, queue[i], ct);
                    }));
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    int left = Math.Max(0, queue.Length - Volatile.Read(ref taken));
                    Interlocked.Add(ref failed, left);
                    Interlocked.Add(ref done, left);
                    console.MarkupLine($"[red]{Markup.Escape(credentials.DeviceId)}: {Markup.Escape(e.Message)}[/]");
                }
            });
        run.Stop();
        var sinceLastReceipt = Stopwatch.StartNew();
        long logSize = single?.Log.Size ?? 0;
        // The last forms' way to the nation is measured too: the probe stops once the nation counts them all.
        var drain = Stopwatch.StartNew();
        while (drain.Elapsed < TimeSpan.FromSeconds(30) && national.Pending > 0) await Task.Delay(100, cancellationToken);
        // How far the public tree runs behind: from the last receipt until the tree is current to a checkpoint holding every form.
        var treeLag = TimeSpan.Zero;
        if (settings.ReadClients > 0)
        {
            while (sinceLastReceipt.Elapsed < TimeSpan.FromMinutes(30))
            {
                using var manifest = await api.GetAsync("pemilu/snapshot.json", cancellationToken);
                if (manifest.IsSuccessStatusCode && System.Text.Json.JsonDocument.Parse(await manifest.Content.ReadAsStringAsync(cancellationToken))
                        .RootElement.GetProperty("checkpoint").GetProperty("size").GetInt64() >= logSize) break;
                await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken);
            }
            treeLag = sinceLastReceipt.Elapsed;
        }
        await progressStop.CancelAsync();
        await Task.WhenAll(progress, probes);
        var toNation = national.Sorted();
        var (apiRequests, apiP50, apiP99) = apiLoad.Figures();
        var (regionReads, tpsReads) = readers.Results();
        // The read path alone: the same readers for 20 s once the ingest is over and the tree current (what a node
        // serves when reading is all it does).
        PublicReadLoad.Figures? regionAlone = null, tpsAlone = null;
        long readErrors = readers.Errors;
        if (settings.ReadClients > 0)
        {
            var alone = new PublicReadLoad(nodes[^1].ApiBase, regionFiles, tpsFiles, settings.ReadClients, settings.Seed + 1);
            using (var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
                await alone.RunAsync(stop.Token);
            (regionAlone, tpsAlone) = alone.Results();
            readErrors += alone.Errors;
        }

        // The whole public tree written again from the ledger into an empty folder (as after losing it, or for a mirror),
        // by the node's own builder code beside the node's periodic one; then the portal as a reader on a phone over 3G sees it.
        PublicTreeRebuild? rebuild = null;
        PortalProbe.Figures? portal = null;
        if (settings.ReadClients > 0)
        {
            await single!.Log.PublishFreshAsync();
            var services = single.Services;
            var checkpoint = (await services.GetRequiredService<ILogStore>().LatestCheckpointAsync(cancellationToken))!;
            var directory = Path.Combine(settings.DataDirectory, "public-rebuilt");
            var builder = new KpuEdge.Cloud.Public.PublicTreeBuilder(services.GetRequiredService<IResultsLedger>(),
                services.GetRequiredService<KpuEdge.Cloud.Recap.RecapContext>(),
                services.GetRequiredService<KpuEdge.Nsoc.Rules.NsocRules>(),
                Microsoft.Extensions.Options.Options.Create(new KpuEdge.Cloud.CloudOptions { PublicDirectory = directory }), TimeProvider.System,
                services.GetRequiredService<ILogger<KpuEdge.Cloud.Public.PublicTreeBuilder>>());
            var rebuilt = Stopwatch.StartNew();
            var build = (await builder.BuildAsync(checkpoint, cancellationToken))!;
            rebuilt.Stop();
            rebuild = new PublicTreeRebuild(rebuilt.Elapsed, build.TpsFiles, build.RegionFiles, build.ToSize, DirectorySize(directory));
            await single.BuildPublicTreeAsync();
            portal = await PortalProbe.MeasureAsync(single.ApiBase, sample.First().First().Value, cancellationToken);
        }

        var settle = Stopwatch.StartNew();
        foreach (var node in nodes) await node.Recap.SettleAsync();
        settle.Stop();
        var problems = new List<string>();
        using (var http = new HttpClient { BaseAddress = nodes[^1].ApiBase })
        {
            var provinces = sample.Select(k => RegionCode.Parse(k.Key[..2])).Distinct().ToArray();
            foreach (var contest in Contests.All)
                foreach (var region in provinces.Prepend(RegionCode.Nasional))
                    problems.AddRange(await RecapCheck.CompareAsync(http, signedTotals.For(contest, region), contest, region));
        }
        var writers = nodes.Select(n => n.Services.GetRequiredService<LedgerWriter>()).ToArray();
        long commits = writers.Sum(w => w.Commits), written = writers.Sum(w => w.FormsWritten);
        long rss = Process.GetCurrentProcess().WorkingSet64;

        // A node restarted on what it wrote: how long until it serves the same national totals again (its log rebuilt
        // from the ledger, its ingest subscribed, the nation's recap rebuilt on the first request).
        var restart = Stopwatch.StartNew();
        var restartProblems = new List<string>();
        var ready = TimeSpan.Zero;
        try
        {
            InProcessCloud restarted;
            if (cluster is not null)
            {
                await cluster.StopNodeAsync(nodes.Count - 1);
                restart.Restart();
                restarted = await cluster.StartNodeAsync(nodes.Count - 1, cancellationToken);
            }
            else
            {
                await single!.DisposeAsync();
                restart.Restart();
                restarted = await InProcessCloud.StartAsync(settings.DataDirectory, tree, election, LogLevel.Error, pki: pki, cancellationToken: cancellationToken);
            }
            ready = restart.Elapsed;
            using (var http = new HttpClient { BaseAddress = restarted.ApiBase })
                foreach (var contest in Contests.All)
                    restartProblems.AddRange(await RecapCheck.CompareAsync(http, signedTotals.For(contest, RegionCode.Nasional), contest, RegionCode.Nasional));
            restart.Stop();
            if (cluster is null) await restarted.DisposeAsync();
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // The run's own figures are kept and recorded; the restart's failure (a timeout, a cancelled activation) is one of the problems.
            restart.Stop();
            restartProblems.Add($"the node did not come back: {e.GetType().Name}: {e.Message}");
        }
        problems.AddRange(restartProblems.Select(p => "after the restart: " + p));
        var sorted = latencies.Where(l => !double.IsNaN(l)).ToArray();
        Array.Sort(sorted);
        double rate = fleet.FormCount / run.Elapsed.TotalSeconds;

        var table = new Table().AddColumns("", "");
        table.AddRow("TPS / stations / nodes", $"{fleet.DeviceCount:N0} / {sample.Length:N0} / {nodes.Count}");
        table.AddRow("Forms", $"{fleet.FormCount:N0} (accepted {accepted:N0}, duplicates {duplicates:N0}, rejected {rejected.Values.Sum():N0}, failed {failed:N0})");
        table.AddRow("Wall time (send → last receipt)", $"{run.Elapsed.TotalSeconds:F1} s");
        table.AddRow("Throughput", $"{rate:F0} forms/s");
        table.AddRow("Receipt latency p50 / p99", $"{Percentiles.Of(sorted, 0.5):F0} ms / {Percentiles.Of(sorted, 0.99):F0} ms");
        table.AddRow("Submit → national total p50 / p99", $"{Percentiles.Of(toNation, 0.5):F0} ms / {Percentiles.Of(toNation, 0.99):F0} ms ({toNation.Length:N0} forms)");
        if (settings.ApiRate > 0)
            table.AddRow($"Public API at {settings.ApiRate:F0} req/s p50 / p99", $"{apiP50:F1} ms / {apiP99:F1} ms ({apiRequests:N0} answered, {apiLoad.Errors:N0} errors)");
        if (settings.ReadClients > 0)
        {
            table.AddRow($"Public tree, {settings.ReadClients} readers: region files", ReadLine(regionReads));
            table.AddRow("Public tree: TPS files", ReadLine(tpsReads));
            table.AddRow("Public tree, read alone: region files", ReadLine(regionAlone!));
            table.AddRow("Public tree, read alone: TPS files", ReadLine(tpsAlone!));
            table.AddRow("Public tree current to every form, after the last receipt", $"{treeLag.TotalSeconds:F1} s");
            table.AddRow("Public tree written again from the ledger", rebuild!.Line);
            table.AddRow("Portal on 3G, CPU 4× slower (cold)", Markup.Escape(PortalLine(portal!)));
        }
        table.AddRow("Ledger group commits", $"{commits:N0} ({(commits == 0 ? 0 : written / (double)commits):F0} forms per commit)");
        table.AddRow("Restarted node: ingest ready / serving the national totals", $"{ready.TotalSeconds:F1} s / {restart.Elapsed.TotalSeconds:F1} s");
        table.AddRow("Recap settled in", $"{settle.ElapsedMilliseconds} ms");
        table.AddRow("Process memory (all nodes in this process)", $"{rss / 1024 / 1024:N0} MiB");
        table.AddRow("Totals (national + every province, 5 contests)", problems.Count == 0 ? "[green]equal to the devices' sums[/]" : $"[red]{problems.Count} differences[/]");
        console.Write(table);
        foreach (var p in problems.Take(10)) console.MarkupLine($"[red]{Markup.Escape(p)}[/]");

        string md = $"""
            Measured {DateTimeOffset.UtcNow:yyyy-MM-dd} on this machine ({Environment.ProcessorCount} cores), `kpu-sim bench national --tps {settings.Tps} --nodes {settings.Nodes}{(settings.Rate > 0 ? $" --rate {settings.Rate}" : "")}{(settings.ApiRate > 0 ? $" --api-rate {settings.ApiRate}" : "")}{(settings.ReadClients > 0 ? $" --read-clients {settings.ReadClients}" : "")}`:
            {fleet.DeviceCount:N0} TPS (whole kecamatan spread over the 2024 registry), each its own signing identity; forms carried by {sample.Length:N0} PPK
            stations (one mutual-TLS connection each, {settings.Stations} at a time, {settings.Window} forms in flight per station); every form's
            device signature, chain, rules, ledger commit, log append and recap done by the cloud.

            | | |
            |---|---|
            | nodes | {nodes.Count} ({(nodes.Count > 1 ? "in-process cluster: Redis membership, PostgreSQL ledger" : "SQLite ledger")}) |
            | forms | {fleet.FormCount:N0} (accepted {accepted:N0}, duplicates {duplicates:N0}, rejected {rejected.Values.Sum():N0}, failed {failed:N0}) |
            | wall time | {run.Elapsed.TotalSeconds:F1} s |
            | throughput | **{rate:F0} forms/s** |
            | sending rate | {(settings.Rate > 0 ? $"paced at {settings.Rate:F0} forms/s" : "as fast as the cloud answers")} |
            | receipt latency p50 / p99 | {Percentiles.Of(sorted, 0.5):F0} / {Percentiles.Of(sorted, 0.99):F0} ms |
            | submit → national total p50 / p99 | {Percentiles.Of(toNation, 0.5):F0} / {Percentiles.Of(toNation, 0.99):F0} ms (the k-th receipt against the nation's count reaching k, read from the public API every 250 ms) |
            | public results API during the run | {(settings.ApiRate > 0 ? $"{settings.ApiRate:F0} req/s of region pages: p50 {apiP50:F1} ms, p99 {apiP99:F1} ms, {apiRequests:N0} answered, {apiLoad.Errors:N0} errors" : "not loaded (`--api-rate`)")} |
            {(settings.ReadClients > 0 ? $"""
            | public tree during the run, {settings.ReadClients} readers, region files (nation, provinces, kab/kota, kecamatan; 5 contests; gzip) | {ReadLine(regionReads)} |
            | public tree during the run: TPS files | {ReadLine(tpsReads)} |
            | public tree read alone (20 s after the ingest), region files | {ReadLine(regionAlone!)} |
            | public tree read alone: TPS files | {ReadLine(tpsAlone!)} |
            | the public tree current to every form (a build every 5 s), after the last receipt | {treeLag.TotalSeconds:F1} s |
            | public tree written again from the ledger into an empty folder (every TPS, region, listing and flag file) | {rebuild!.Line} |
            | the portal over Chrome DevTools' "3G" (562.5 ms, 1.44 Mbit/s down) with the CPU 4× slower, each page cold | {PortalLine(portal!)} |

            """ : "")}| ledger group commits | {commits:N0} ({(commits == 0 ? 0 : written / (double)commits):F0} forms per commit) |
            | provisioning (keys, certificates, signing) | {(provisioned ? $"{provision.Elapsed.TotalSeconds:F1} s" : $"cached (read in {provision.Elapsed.TotalSeconds:F1} s)")} |
            | registering every device in the ledger (each certificate checked against KPU's CA) | {registration.Elapsed.TotalSeconds:F1} s |
            | process memory at the end of the run (every node and the load generator in one process) | {rss / 1024 / 1024:N0} MiB |
            | a node restarted on its data: ingest ready / serving the same national totals | {ready.TotalSeconds:F1} s / {restart.Elapsed.TotalSeconds:F1} s |
            | national and per-province totals, 5 contests | {(problems.Count == 0 ? "equal to the devices' sums" : $"{problems.Count} differences")} |

            """;
        string key = (settings.Rate > 0 ? $"national-{settings.Nodes}-paced" : $"national-{settings.Nodes}") + (settings.ReadClients > 0 ? "-public" : "");
        string title = (settings.Rate > 0 ? $"The national run paced at {settings.Rate:F0} forms/s, {settings.Nodes} node(s)" : $"The national run, {settings.Nodes} node(s)")
            + (settings.ReadClients > 0 ? ", the public reading the tree" : "");
        BenchmarkFile.WriteSection(settings.Output, key, $"## {title} (`kpu-sim bench national`)\n\n" + md);
        console.MarkupLine($"Recorded in {Markup.Escape(settings.Output)}.");
        return problems.Count == 0 && failed == 0 && rejected.IsEmpty && readErrors == 0 ? 0 : 1;
    }

    private sealed record PublicTreeRebuild(TimeSpan Elapsed, int TpsFiles, int RegionFiles, long LogSize, long Bytes)
    {
        public string Line => $"{Elapsed.TotalSeconds:F1} s for {TpsFiles:N0} TPS files and {RegionFiles:N0} region files (log of {LogSize:N0}; " +
                              $"{Bytes / 1024.0 / 1024:N0} MiB with gzip twins and listings; {(TpsFiles + RegionFiles) / Math.Max(Elapsed.TotalSeconds, 1e-9):N0} files/s)";
    }

    private static string PortalLine(PortalProbe.Figures p) =>
        string.Join("; ", p.Pages.Select(x => $"{x.What}: {x.Bytes / 1024.0:F1} KB, first paint {x.FirstPaintMs:F0} ms, numbers shown {x.ReadyMs:F0} ms"))
        + $"; the TPS page's own check (signature, chain, numbers, inclusion, consistency): {p.CheckMs:F0} ms, {p.CheckVerdict}";

    private static string ReadLine(PublicReadLoad.Figures f) =>
        $"{f.PerSecond:N0} files/s served, p50 {f.P50:F1} ms, p99 {f.P99:F1} ms ({f.Requests:N0} served{(f.NotYetPublished > 0 ? $"; besides, {f.NotYetPublished:N0} asked before the tree had them: 404" : "")})";

    private static long DirectorySize(string path) =>
        Directory.Exists(path) ? new DirectoryInfo(path).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length) : 0;
}
