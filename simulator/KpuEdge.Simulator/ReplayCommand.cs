using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using KpuEdge.Core.Benchmarks;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Simulator.Replay;
using KpuEdge.TestSupport;
using Spectre.Console;

namespace KpuEdge.Simulator;

/// <summary>
/// `kpu-sim replay`: an election loaded from a registry and a results file (or synthetic ones from the 2024 tree)
/// instead of the built-in tree, one provisioned device per TPS signing each accepted row as its form, sent through the
/// real broker(s) to one in-process node (SQLite) or a cluster (Redis + PostgreSQL); then the national and per-province
/// totals of every contest from the public API beside the sums straight from the file. Exit code 0 only if every total
/// matches and every form was accepted.
/// </summary>
public static class ReplayCommand
{
    public sealed record Settings
    {
        public string? RegistryPath { get; init; }
        public string? ResultsPath { get; init; }
        /// <summary>Write synthetic files of this many TPS from the 2024 tree into the data folder first, and replay them.</summary>
        public int? SyntheticTps { get; init; }
        /// <summary>Deliberately broken rows appended to synthetic files (each refused with its reason).</summary>
        public int SyntheticBrokenRows { get; init; } = 12;
        public int Nodes { get; init; } = 1;
        public string DataDirectory { get; init; } = "out/replay";
        public int Concurrency { get; init; } = 128;
        public int Seed { get; init; } = 2024;
        public bool KeepRunning { get; init; }
        public bool Json { get; init; }
        /// <summary>Record the figures in this benchmark file (docs/benchmarks.md), section <c>replay</c>.</summary>
        public string? BenchmarkOutput { get; init; }
        /// <summary>Devices provisioned, registered and sent at a time: a file of 100,000 TPS never holds 100,000 devices' keys at once.</summary>
        public int BatchSize { get; init; } = 5_000;
    }

    /// <summary>Refused rows shown per reason (all are counted).</summary>
    private const int ExamplesPerReason = 3;

    /// <param name="console">Where the tables and progress go.</param>
    /// <param name="stdout">Where the <c>--json</c> line goes, last.</param>
    public static async Task<int> RunAsync(Settings settings, IAnsiConsole console, TextWriter stdout, CancellationToken cancellationToken)
    {
        if (settings.Nodes < 1 || settings.BatchSize < 1 || settings.Concurrency < 1)
        {
            console.MarkupLine("[red]--nodes and --concurrency must be 1 or more.[/]");
            return 2;
        }
        Directory.CreateDirectory(settings.DataDirectory);
        string registryPath, resultsPath;
        if (settings.SyntheticTps is { } syntheticTps)
        {
            if (settings.RegistryPath is not null || settings.ResultsPath is not null)
            {
                console.MarkupLine("[red]--synthetic writes its own files: give it without --registry and --results.[/]");
                return 2;
            }
            (registryPath, resultsPath) = WriteSynthetic(console, settings, syntheticTps);
        }
        else if (settings.RegistryPath is null || settings.ResultsPath is null)
        {
            console.MarkupLine("[red]Give --registry FILE and --results FILE (or --synthetic N).[/]");
            return 2;
        }
        else
        {
            (registryPath, resultsPath) = (settings.RegistryPath, settings.ResultsPath);
        }

        // 1. Load: parse, fill and validate every row, and sum the accepted ones straight from the file.
        var loading = Stopwatch.StartNew();
        ReplayElection replay;
        try
        {
            replay = ReplayElection.Load(registryPath, resultsPath);
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            console.MarkupLine($"[red]{Markup.Escape(e.Message)}[/]");
            return 2;
        }
        loading.Stop();
        var figures = new Figures { Loading = loading.Elapsed, ResultRows = replay.ResultRows, ResultsReadTime = replay.ResultsReadTime, Forms = replay.Forms.Count };
        PrintLoad(console, replay, registryPath, resultsPath, figures);
        PrintRefused(console, replay.Refused);

        // 2. One device per TPS with accepted rows, signing them in file order as its chain.
        var byTps = replay.Forms.GroupBy(f => f.Tps)
            .Select(g => (Tps: g.Key, Tallies: (IReadOnlyList<C1Tally>)g.Select(f => f.Tally).ToArray())).ToArray();
        var election = replay.Election;
        var pki = SimulationPki.Create(election, settings.Seed);
        var simulation = new SimulatedElection(replay.Tree, election, settings.Seed);

        string cloudDirectory = Path.Combine(settings.DataDirectory, "cloud");
        if (Directory.Exists(cloudDirectory)) Directory.Delete(cloudDirectory, recursive: true);
        await using var cloud = await ReplayCloud.StartAsync(cloudDirectory, settings.Nodes, replay.Tree, election, pki, cancellationToken);
        console.MarkupLine(Markup.Escape($"Cloud started in process: {cloud.Describe()}."));

        // 3. Send: batches of devices provisioned, registered, then connected `--concurrency` at a time.
        var report = new SimulationReport { Devices = byTps.Length };
        var target = cloud.Target;
        if (figures.Forms > 0)
        {
            await console.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .StartAsync(async progress =>
                {
                    var task = progress.AddTask("Forms signed, sent and receipted", maxValue: figures.Forms);
                    foreach (var batch in byTps.Chunk(settings.BatchSize))
                    {
                        var provisioning = Stopwatch.StartNew();
                        var devices = simulation.Provision(batch, pki.Pki);
                        figures.Provisioning += provisioning.Elapsed;
                        await cloud.RegisterAsync(devices, cancellationToken);
                        await simulation.RunAsync(devices, target, settings.Concurrency, n => task.Increment(n), cancellationToken, report);
                    }
                });
        }
        PrintSending(console, report, figures, Enumerable.Range(0, target.Brokers.Count).Select(node => byTps.Count(t => target.BrokerIndexOf(t.Tps) == node)).ToArray());

        // 4. Settle the recap, then read every total back through the public API.
        var settle = Stopwatch.StartNew();
        await cloud.SettleAsync();
        figures.Settle = settle.Elapsed;
        var comparisons = await ReplayCheck.CompareAsync(cloud.ApiBases, replay.Tree, replay.FileSums, cancellationToken);
        PrintTotals(console, comparisons, settings.Nodes);
        bool delivered = report.Failed == 0 && report.RejectedTotal == 0 && report.Accepted + report.Duplicates == figures.Forms;
        bool equal = comparisons.All(c => c.Equal);
        bool ok = delivered && equal;
        PrintVerdict(console, comparisons, report, figures, delivered, equal);

        if (settings.BenchmarkOutput is { } output)
        {
            BenchmarkFile.WriteSection(output, "replay", Benchmark(settings, replay, report, figures, comparisons, ok, registryPath, resultsPath));
            console.MarkupLine($"Recorded in {Markup.Escape(output)}.");
        }

        var json = settings.Json ? Json(settings, replay, report, figures, comparisons, ok).ToJsonString() : null;
        if (settings.KeepRunning)
        {
            console.MarkupLine(Markup.Escape($"The cloud keeps running. Try: curl {cloud.ApiBases[0]}api/v1/results/ppwp/0 — MQTT on " +
                                             $"{string.Join(", ", target.Brokers.Select(b => $"{b.Host}:{b.Port}"))}. Ctrl+C to stop."));
            if (json is not null) await stdout.WriteLineAsync(json);
            try { await Task.Delay(Timeout.Infinite, cancellationToken); }
            catch (OperationCanceledException) { }
            return ok ? 0 : 1;
        }
        await cloud.DisposeAsync();
        // After the cloud has stopped, so that nothing it logs on the way down comes after the line.
        if (json is not null) await stdout.WriteLineAsync(json);
        return ok ? 0 : 1;
    }

    /// <summary>What was measured along the way.</summary>
    private sealed class Figures
    {
        public TimeSpan Loading;
        public long ResultRows;
        public TimeSpan ResultsReadTime;
        public int Forms;
        public TimeSpan Provisioning;
        public TimeSpan Settle;

        public double RowsPerSecond => ResultsReadTime.TotalSeconds > 0 ? ResultRows / ResultsReadTime.TotalSeconds : 0;
    }

    private static (string Registry, string Results) WriteSynthetic(IAnsiConsole console, Settings settings, int tps)
    {
        string registry = Path.Combine(settings.DataDirectory, "registry.csv"), results = Path.Combine(settings.DataDirectory, "results.csv");
        var watch = Stopwatch.StartNew();
        var written = ReplayFiles.WriteSynthetic(RegionTree.LoadEmbedded(), registry, results, new SyntheticReplayOptions
        {
            Seed = settings.Seed, TpsCount = tps, BrokenRows = settings.SyntheticBrokenRows,
        });
        console.MarkupLine(Markup.Escape($"Synthetic files from the 2024 tree (seed {settings.Seed}): {registry} ({written.TpsCount:N0} TPS) and {results} " +
                                         $"({written.ResultRows:N0} rows, {written.BrokenRows.Count} of them broken on purpose), written in {watch.Elapsed.TotalSeconds:F1} s."));
        return (registry, results);
    }

    private static void PrintLoad(IAnsiConsole console, ReplayElection replay, string registryPath, string resultsPath, Figures figures)
    {
        var tree = replay.Tree;
        console.MarkupLine(Markup.Escape(
            $"Registry {registryPath}: {replay.Registry.TpsCount:N0} TPS registered of {replay.Registry.Rows:N0} rows, in {tree.Count(RegionLevel.Provinsi)} provinsi, " +
            $"{tree.Count(RegionLevel.KabKota)} kab/kota, {tree.Count(RegionLevel.Kecamatan)} kecamatan, {tree.Count(RegionLevel.Desa)} desa."));
        console.MarkupLine(Markup.Escape(
            $"Results {resultsPath}: {replay.ResultRows:N0} rows read, filled and validated in {replay.ResultsReadTime.TotalSeconds:F2} s " +
            $"({figures.RowsPerSecond:N0} rows/s; both files {figures.Loading.TotalSeconds:F2} s): {replay.Forms.Count:N0} forms accepted, " +
            $"{replay.Refused.Count:N0} rows refused."));
    }

    private static void PrintRefused(IAnsiConsole console, IReadOnlyList<RefusedRow> refused)
    {
        if (refused.Count == 0) return;
        var table = new Table().Title("Refused rows (never sent; the file's author decides)").AddColumn("Reason").AddColumn("Rows", c => c.RightAligned())
            .AddColumn($"First {ExamplesPerReason} (file, line, what)");
        foreach (var reason in refused.GroupBy(r => r.Refusal).OrderByDescending(g => g.Count()).ThenBy(g => g.Key.Code(), StringComparer.Ordinal))
            table.AddRow(reason.Key.Code(), $"{reason.Count():N0}", Markup.Escape(string.Join("\n", reason.Take(ExamplesPerReason).Select(r => r.ToString()))));
        console.Write(table);
    }

    private static void PrintSending(IAnsiConsole console, SimulationReport report, Figures figures, int[] devicesPerNode)
    {
        var table = new Table().Title("Sending").AddColumn("").AddColumn(new TableColumn("").RightAligned());
        table.AddRow("TPS devices (own keys and certificates)", $"{report.Devices:N0}");
        if (devicesPerNode.Length > 1) table.AddRow("Devices per node's broker", string.Join(" / ", devicesPerNode.Select(n => $"{n:N0}")));
        table.AddRow("Provisioned in", $"{figures.Provisioning.TotalSeconds:F1} s");
        table.AddRow("Forms sent", $"{report.FormsSent:N0} of {figures.Forms:N0}");
        table.AddRow("Accepted (receipted, durable)", $"{report.Accepted:N0}");
        table.AddRow("Duplicates (resends, counted once)", $"{report.Duplicates:N0}");
        table.AddRow("Rejected by the cloud", report.RejectedTotal == 0 ? "0"
            : $"{report.RejectedTotal:N0} ({string.Join(", ", report.Rejected.OrderBy(r => r.Key).Select(r => $"{r.Key} {r.Value}"))})");
        table.AddRow("Failed (no receipt)", $"{report.Failed:N0}");
        table.AddRow("Sending time (connect → last receipt)", $"{report.Elapsed.TotalSeconds:F1} s");
        table.AddRow("Throughput", $"{report.FormsPerSecond:N0} forms/s");
        var latencies = report.LatenciesMs.Order().ToArray();
        if (latencies.Length > 0) table.AddRow("Receipt latency p50 / p99", $"{Percentiles.Of(latencies, 0.5):F0} ms / {Percentiles.Of(latencies, 0.99):F0} ms");
        console.Write(table);
    }


    private static void PrintTotals(IAnsiConsole console, IReadOnlyList<ReplayComparison> comparisons, int nodes)
    {
        string api = nodes > 1 ? "API (node 1; every node checked)" : "API";
        var national = new Table().Title(Markup.Escape($"National totals: the public {api} beside the file")).AddColumn("Contest").AddColumn("From");
        foreach (var column in new[] { "TPS", "DPT", "Pengguna", "Suara sah", "Tidak sah" }) national.AddColumn(column, c => c.RightAligned());
        national.AddColumn("Votes per choice").AddColumn("Equal");
        foreach (var c in comparisons.Where(c => c.Region.IsNasional))
        {
            national.AddRow(c.Contest.Slug(), "API", $"{c.Api.Tps:N0}", $"{c.Api.Dpt:N0}", $"{c.Api.PenggunaTotal:N0}", $"{c.Api.SuaraSah:N0}",
                $"{c.Api.SuaraTidakSah:N0}", Markup.Escape(Choices(c.Api)), Verdict(c));
            national.AddRow("", "file", $"{c.File.Tps:N0}", $"{c.File.Dpt:N0}", $"{c.File.PenggunaTotal:N0}", $"{c.File.SuaraSah:N0}",
                $"{c.File.SuaraTidakSah:N0}", Markup.Escape(Choices(c.File)), "");
        }
        console.Write(national);

        // Every province is checked in every field; shown where either side counts something (or they differ).
        var provinces = new Table().Title(Markup.Escape($"Per-province totals: the public {api} beside the file"))
            .AddColumn(new TableColumn("Province").NoWrap()).AddColumn("Contest");
        foreach (var column in new[] { "TPS api/file", "Sah api", "Sah file", "Tidak sah api", "Tidak sah file" })
            provinces.AddColumn(column, c => c.RightAligned());
        provinces.AddColumn("All fields equal");
        foreach (var c in comparisons.Where(c => !c.Region.IsNasional && (c.Api.Tps > 0 || c.File.Tps > 0 || !c.Equal)).OrderBy(c => c.Region).ThenBy(c => c.Contest))
        {
            provinces.AddRow(Markup.Escape($"{c.Region} {c.Name}"), c.Contest.Slug(), $"{c.Api.Tps:N0} / {c.File.Tps:N0}", $"{c.Api.SuaraSah:N0}",
                $"{c.File.SuaraSah:N0}", $"{c.Api.SuaraTidakSah:N0}", $"{c.File.SuaraTidakSah:N0}", Verdict(c));
        }
        console.Write(provinces);
    }

    /// <summary>The three choices with most votes, and how many there are.</summary>
    private static string Choices(RegionTotals totals) =>
        totals.Votes.Count == 0 ? "—"
            : string.Join(", ", totals.Votes.OrderByDescending(v => v.Value).ThenBy(v => v.Key, StringComparer.Ordinal).Take(3).Select(v => $"{v.Key}: {v.Value:N0}"))
              + (totals.Votes.Count > 3 ? $" … ({totals.Votes.Count})" : "");

    private static string Verdict(ReplayComparison c) =>
        c.Equal ? "[green]✓[/]" : $"[red]✗ {c.Problems.Count} differ[/]";

    private static void PrintVerdict(IAnsiConsole console, IReadOnlyList<ReplayComparison> comparisons, SimulationReport report, Figures figures,
        bool delivered, bool equal)
    {
        int provinces = comparisons.Select(c => c.Region).Where(r => !r.IsNasional).Distinct().Count();
        if (delivered && equal)
        {
            console.MarkupLine($"[green]✓ The public API equals the file:[/] national and {provinces} provinces' totals of all {Contests.All.Count} contests " +
                               $"(TPS, DPT, voters, valid and invalid votes, every choice's votes) for the {figures.Forms:N0} accepted rows, " +
                               $"each sent as its TPS's signed form. Loaded at {figures.RowsPerSecond:N0} rows/s, sent at {report.FormsPerSecond:N0} forms/s; " +
                               $"recap settled in {figures.Settle.TotalMilliseconds:F0} ms.");
            return;
        }
        if (!delivered)
            console.MarkupLine($"[red]✗ Not every accepted row reached the ledger:[/] {report.Accepted + report.Duplicates:N0} of {figures.Forms:N0} accepted, " +
                               $"{report.RejectedTotal:N0} rejected, {report.Failed:N0} without a receipt.");
        var problems = comparisons.SelectMany(c => c.Problems).ToArray();
        foreach (var problem in problems.Take(20)) console.MarkupLine($"[red]✗ {Markup.Escape(problem)}[/]");
        if (problems.Length > 20) console.MarkupLine($"[red]… and {problems.Length - 20:N0} more differences.[/]");
    }

    /// <summary>The machine's load when the figures were taken (Linux), since other work on it lowers them.</summary>
    private static string LoadAverage()
    {
        try
        {
            var fields = File.ReadAllText("/proc/loadavg").Split(' ');
            return $"; load average {fields[0]} / {fields[1]} / {fields[2]} (1 / 5 / 15 min) at the end";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return ""; }
    }

    private static JsonObject Json(Settings settings, ReplayElection replay, SimulationReport report, Figures figures, IReadOnlyList<ReplayComparison> comparisons, bool ok)
    {
        var refused = new JsonObject();
        foreach (var reason in replay.Refused.GroupBy(r => r.Refusal.Code()).OrderBy(g => g.Key, StringComparer.Ordinal)) refused[reason.Key] = reason.Count();
        var totals = new JsonObject();
        foreach (var contest in comparisons.GroupBy(c => c.Contest))
        {
            static JsonObject Pair(ReplayComparison c) => new() { ["api"] = c.Api.ToJson(), ["file"] = c.File.ToJson(), ["equal"] = c.Equal };
            var provinces = new JsonObject();
            foreach (var c in contest.Where(c => !c.Region.IsNasional)) provinces[c.Region.ToString()] = Pair(c);
            totals[contest.Key.Slug()] = new JsonObject { ["nasional"] = Pair(contest.Single(c => c.Region.IsNasional)), ["provinces"] = provinces };
        }
        return new JsonObject
        {
            ["ok"] = ok,
            ["nodes"] = settings.Nodes,
            ["tps_registered"] = replay.Registry.TpsCount,
            ["result_rows"] = replay.ResultRows,
            ["forms"] = figures.Forms,
            ["refused"] = refused,
            ["rows_per_second"] = Math.Round(figures.RowsPerSecond),
            ["forms_per_second"] = Math.Round(report.FormsPerSecond),
            ["accepted"] = report.Accepted,
            ["duplicates"] = report.Duplicates,
            ["rejected"] = report.RejectedTotal,
            ["failed"] = report.Failed,
            ["totals"] = totals,
        };
    }

    private static string Benchmark(Settings settings, ReplayElection replay, SimulationReport report, Figures figures,
        IReadOnlyList<ReplayComparison> comparisons, bool ok, string registryPath, string resultsPath)
    {
        var latencies = report.LatenciesMs.Order().ToArray();
        int provinces = comparisons.Select(c => c.Region).Where(r => !r.IsNasional).Distinct().Count();
        string files = settings.SyntheticTps is { } n
            ? $"synthetic files from the 2024 tree (`--synthetic {n}`, seed {settings.Seed}: {replay.Registry.TpsCount:N0} TPS registered, " +
              $"{replay.ResultRows:N0} result rows, {replay.Refused.Count} of them broken on purpose)"
            : $"`{Path.GetFileName(registryPath)}` ({replay.Registry.TpsCount:N0} TPS) and `{Path.GetFileName(resultsPath)}` ({replay.ResultRows:N0} rows, " +
              $"{replay.Refused.Count:N0} refused)";
        string cloud = settings.Nodes == 1
            ? "one in-process node (embedded broker over mutual TLS, silo, SQLite ledger and transparency log)"
            : $"{settings.Nodes} in-process nodes (each its own broker over mutual TLS, silo and API; Orleans clustered in Redis, one PostgreSQL ledger)";
        var md = new StringBuilder();
        md.AppendLine($"Machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}, {DateTime.UtcNow:yyyy-MM-dd} (UTC){LoadAverage()}.");
        md.AppendLine();
        md.AppendLine($"`kpu-sim replay` of {files} through {cloud}: one device per TPS with its own keys and certificates, each accepted row " +
                      $"signed as its TPS's form, {settings.Concurrency} devices connected at a time, every receipt's inclusion proof verified by its " +
                      "device; then the recap settled and the national and every province's totals of all five contests read from the public API " +
                      "and compared with the sums computed straight from the file.");
        md.AppendLine();
        md.AppendLine("| figure | value |");
        md.AppendLine("|---|---:|");
        md.AppendLine($"| results loaded (parsed, filled, validated, summed) | {replay.ResultRows:N0} rows in {figures.ResultsReadTime.TotalSeconds:F2} s: **{figures.RowsPerSecond:N0} rows/s** |");
        md.AppendLine($"| devices provisioned (signing + TLS certificate) | {report.Devices:N0} in {figures.Provisioning.TotalSeconds:F1} s |");
        md.AppendLine($"| forms accepted | {report.Accepted + report.Duplicates:N0} of {figures.Forms:N0} |");
        md.AppendLine($"| sending (connect → last receipt) | **{report.FormsPerSecond:N0} forms/s** ({report.Elapsed.TotalSeconds:F1} s) |");
        if (latencies.Length > 0) md.AppendLine($"| receipt latency p50 / p99 | {Percentiles.Of(latencies, 0.5):F0} ms / {Percentiles.Of(latencies, 0.99):F0} ms |");
        md.AppendLine($"| national and per-province totals, API = file | **{(ok ? "equal" : "NOT equal")}** ({Contests.All.Count} contests × nasional + {provinces} provinces) |");
        md.AppendLine();
        md.AppendLine("Loading streams the results file (one row's text at a time, every accepted form kept for sending); a small file's rows/s " +
                      "includes the loader's start-up (for a 500,000-row file see simulator/KpuEdge.Simulator.Replay/README.md). The sending " +
                      "figure includes each device's mutual-TLS connection, and the devices and the cloud share the machine's cores.");
        return "## Replay of an election from files (`kpu-sim replay`, `kpu-sim bench replay`)\n\n" + md;
    }
}
