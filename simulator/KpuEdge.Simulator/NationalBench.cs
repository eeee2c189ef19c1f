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
    public sealed record Settings(int Tps, int Nodes, int Stations, int Window, string DataDirectory, string Output, int Seed);

    private sealed record Station(DeviceCredentials Credentials, IReadOnlyList<TpsCode> Tps);

    public static async Task<int> RunAsync(Settings settings, CancellationToken cancellationToken)
    {
        var console = AnsiConsole.Console;
        var tree = RegionTree.LoadEmbedded();
        var election = ElectionDefinition.Default;
        var ballots = election.Ballots(tree);
        var all = tree.TpsIn(RegionCode.Nasional).ToArray();
        int count = settings.Tps <= 0 || settings.Tps >= all.Length ? all.Length : settings.Tps;
        // A sample of whole kecamatan, evenly across the country (every province is in it): each station carries all
        // of its kecamatan's TPS, as on the night (≈ 113 TPS a station nationally), so a sample costs no more handshakes per form.
        var kecamatan = all.GroupBy(t => t.Value[..6]).ToArray();
        var tps = count == all.Length ? all
            : Enumerable.Range(0, kecamatan.Length).Select(i => kecamatan[(int)((long)i * 7919 % kecamatan.Length)])
                .SelectMany(k => k).Take(count).ToArray();
        console.MarkupLine($"National run: {tps.Length:N0} TPS of {all.Length:N0}, {settings.Nodes} node(s), stations {settings.Stations} at a time, {settings.Window} forms in flight per station.");

        if (Directory.Exists(settings.DataDirectory)) Directory.Delete(settings.DataDirectory, recursive: true);
        var pki = SimulationPki.Create(election, settings.Seed);

        // Provisioning: a signing identity per TPS (its chain of forms signed now, as the devices would have on the
        // night), a TLS identity per kecamatan station.
        var provision = Stopwatch.StartNew();
        var forms = new ConcurrentBag<(string Station, SignedSubmission Form, C1Tally Tally)>();
        var devices = new ConcurrentBag<KpuCertificate>();
        var stations = tps.GroupBy(t => t.Value[..6]).Select(g => new Station(
            pki.Pki.IssueDevice($"ppk-{g.Key}", KpuRole.Ppk, g.Key), g.ToArray())).ToArray();
        Parallel.ForEach(stations, station =>
        {
            foreach (var code in station.Tps)
            {
                string deviceId = $"dev-{code}";
                var key = DeviceKey.Deterministic(code.Value, settings.Seed);
                devices.Add(pki.Pki.IssueSigningCertificate(deviceId, KpuRole.Tps, code.Value, key));
                var signer = new FormSigner(new DeviceIdentity(deviceId, code, key), election, ballots, TimeProvider.System);
                foreach (var tally in SyntheticTally.ForTps(code, ballots, election, settings.Seed))
                    forms.Add((station.Credentials.DeviceId, signer.Sign(tally), tally));
            }
        });
        provision.Stop();
        var byStation = forms.GroupBy(f => f.Station).ToDictionary(g => g.Key, g => g.OrderBy(f => f.Form.Submission.Sequence).ToArray());
        console.MarkupLine($"Provisioned {tps.Length:N0} TPS signing identities and {stations.Length:N0} PPK stations, {forms.Count:N0} forms signed, in {provision.Elapsed.TotalSeconds:F1} s.");

        await using var cluster = settings.Nodes > 1
            ? await InProcessCluster.StartAsync(settings.DataDirectory, tree, election, settings.Nodes, LogLevel.Error, pki: pki, cancellationToken: cancellationToken)
            : null;
        await using var single = settings.Nodes > 1 ? null
            : await InProcessCloud.StartAsync(settings.DataDirectory, tree, election, LogLevel.Error, pki: pki, cancellationToken: cancellationToken);
        var nodes = cluster?.Nodes ?? [single!];
        // Registered once, in the ledger every node reads (each certificate checked against the CA, in transactions of thousands).
        await nodes[0].RegisterAsync(devices, cancellationToken);

        var latencies = new ConcurrentBag<double>();
        long done = 0, accepted = 0, duplicates = 0, failed = 0;
        var rejected = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        var acceptedTallies = new ConcurrentBag<C1Tally>();
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
                long now = Interlocked.Read(ref done);
                var at = run.Elapsed;
                var recent = latencies.ToArray();
                Array.Sort(recent);
                string perNode = string.Join(" ", nodes.Select(n => $"{n.Options.NodeName ?? "node"}:{n.Stats.Received:N0}"));
                console.MarkupLine($"[grey]{at:mm\\:ss}[/] {now:N0}/{forms.Count:N0} forms · {(now - last) / (at - lastAt).TotalSeconds:F0} forms/s · backlog {forms.Count - now:N0} · " +
                                   $"p99 {Percentiles.Of(recent, 0.99):F0} ms · received {Markup.Escape(perNode)}");
                last = now;
                lastAt = at;
            }
        });

        await Parallel.ForEachAsync(stations, new ParallelOptions { MaxDegreeOfParallelism = settings.Stations, CancellationToken = cancellationToken },
            async (station, ct) =>
            {
                // A station talks to its node; the nodes share the kecamatan evenly.
                var node = nodes[(int)(long.Parse(station.Credentials.Identity.Assignment, CultureInfo.InvariantCulture) % nodes.Count)];
                var queue = byStation[station.Credentials.DeviceId];
                try
                {
                    await using var client = new SubmissionClient(station.Credentials.DeviceId,
                        BrokerConnection.For(station.Credentials, node.BrokerHost, node.BrokerPort, pki.LogKey));
                    await client.ConnectAsync(ct);
                    using var window = new SemaphoreSlim(settings.Window);
                    await Task.WhenAll(queue.Select(async f =>
                    {
                        await window.WaitAsync(ct);
                        try
                        {
                            var started = Stopwatch.GetTimestamp();
                            var receipt = await client.SubmitAsync(f.Form, TimeSpan.FromSeconds(60), attempts: 3, ct);
                            latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                            switch (receipt.Status)
                            {
                                case ReceiptStatus.Accepted: Interlocked.Increment(ref accepted); acceptedTallies.Add(f.Tally); break;
                                case ReceiptStatus.Duplicate: Interlocked.Increment(ref duplicates); acceptedTallies.Add(f.Tally); break;
                                default: rejected.AddOrUpdate(receipt.Reason ?? "unknown", 1, (_, n) => n + 1); break;
                            }
                        }
                        catch (Exception e) when (e is TimeoutException or ReceiptNotVerifiedException) { Interlocked.Increment(ref failed); }
                        finally
                        {
                            window.Release();
                            Interlocked.Increment(ref done);
                        }
                    }));
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Interlocked.Add(ref failed, queue.Length);
                    console.MarkupLine($"[red]{Markup.Escape(station.Credentials.DeviceId)}: {Markup.Escape(e.Message)}[/]");
                }
            });
        run.Stop();
        await progressStop.CancelAsync();
        await progress;

        var settle = Stopwatch.StartNew();
        foreach (var node in nodes) await node.Recap.SettleAsync();
        settle.Stop();
        var problems = new List<string>();
        using (var http = new HttpClient { BaseAddress = nodes[^1].ApiBase })
        {
            var accepted2 = acceptedTallies.ToArray();
            var provinces = tps.Select(t => RegionCode.Parse(t.Value[..2])).Distinct().ToArray();
            foreach (var contest in Contests.All)
                foreach (var region in provinces.Prepend(RegionCode.Nasional))
                    problems.AddRange(await RecapCheck.CompareAsync(http, accepted2, contest, region));
        }
        var writers = nodes.Select(n => n.Services.GetRequiredService<LedgerWriter>()).ToArray();
        long commits = writers.Sum(w => w.Commits), written = writers.Sum(w => w.FormsWritten);
        var sorted = latencies.ToArray();
        Array.Sort(sorted);
        double rate = forms.Count / run.Elapsed.TotalSeconds;
        long rss = Process.GetCurrentProcess().WorkingSet64;

        var table = new Table().AddColumns("", "");
        table.AddRow("TPS / stations / nodes", $"{tps.Length:N0} / {stations.Length:N0} / {nodes.Count}");
        table.AddRow("Forms", $"{forms.Count:N0} (accepted {accepted:N0}, duplicates {duplicates:N0}, rejected {rejected.Values.Sum():N0}, failed {failed:N0})");
        table.AddRow("Wall time (send → last receipt)", $"{run.Elapsed.TotalSeconds:F1} s");
        table.AddRow("Throughput", $"{rate:F0} forms/s");
        table.AddRow("Receipt latency p50 / p99", $"{Percentiles.Of(sorted, 0.5):F0} ms / {Percentiles.Of(sorted, 0.99):F0} ms");
        table.AddRow("Ledger group commits", $"{commits:N0} ({(commits == 0 ? 0 : written / (double)commits):F0} forms per commit)");
        table.AddRow("Recap settled in", $"{settle.ElapsedMilliseconds} ms");
        table.AddRow("Process memory (all nodes in this process)", $"{rss / 1024 / 1024:N0} MiB");
        table.AddRow("Totals (national + every province, 5 contests)", problems.Count == 0 ? "[green]equal to the devices' sums[/]" : $"[red]{problems.Count} differences[/]");
        console.Write(table);
        foreach (var p in problems.Take(10)) console.MarkupLine($"[red]{Markup.Escape(p)}[/]");

        string md = $"""
            Measured {DateTimeOffset.UtcNow:yyyy-MM-dd} on this machine ({Environment.ProcessorCount} cores), `kpu-sim bench national --tps {settings.Tps} --nodes {settings.Nodes}`:
            {tps.Length:N0} TPS (whole kecamatan spread over the 2024 registry), each its own signing identity; forms carried by {stations.Length:N0} PPK
            stations (one mutual-TLS connection each, {settings.Stations} at a time, {settings.Window} forms in flight per station); every form's
            device signature, chain, rules, ledger commit, log append and recap done by the cloud.

            | | |
            |---|---|
            | nodes | {nodes.Count} ({(nodes.Count > 1 ? "in-process cluster: Redis membership, PostgreSQL ledger" : "SQLite ledger")}) |
            | forms | {forms.Count:N0} (accepted {accepted:N0}, duplicates {duplicates:N0}, rejected {rejected.Values.Sum():N0}, failed {failed:N0}) |
            | wall time | {run.Elapsed.TotalSeconds:F1} s |
            | throughput | **{rate:F0} forms/s** |
            | receipt latency p50 / p99 | {Percentiles.Of(sorted, 0.5):F0} / {Percentiles.Of(sorted, 0.99):F0} ms |
            | ledger group commits | {commits:N0} ({(commits == 0 ? 0 : written / (double)commits):F0} forms per commit) |
            | provisioning (keys, certificates, signing) | {provision.Elapsed.TotalSeconds:F1} s |
            | process memory (every node in one process) | {rss / 1024 / 1024:N0} MiB |
            | national and per-province totals, 5 contests | {(problems.Count == 0 ? "equal to the devices' sums" : $"{problems.Count} differences")} |

            """;
        BenchmarkFile.WriteSection(settings.Output, $"national-{settings.Nodes}", $"## The national run, {settings.Nodes} node(s) (`kpu-sim bench national`)\n\n" + md);
        console.MarkupLine($"Recorded in {Markup.Escape(settings.Output)}.");
        return problems.Count == 0 && failed == 0 && rejected.IsEmpty ? 0 : 1;
    }

}
