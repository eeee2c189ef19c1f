using System.Diagnostics;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;
using KpuEdge.TestSupport;

namespace KpuEdge.Simulator;

/// <summary>`kpu-sim demo`: an election day in a few thousand TPS, end to end, checked independently.</summary>
public static class Demo
{
    public sealed record Settings(
        int Tps, string[] Provinces, int Seed, int Concurrency, string DataDirectory, bool KeepRunning,
        string? Broker, string? Api, string RegistryPath, int ReadForms = 0, string PkiDirectory = "data/pki", int SatelliteTps = 0, int WallPort = 0);

    public static async Task<int> RunAsync(Settings settings, CancellationToken cancellationToken)
    {
        var console = AnsiConsole.Console;
        var stopwatch = Stopwatch.StartNew();
        var tree = RegionTree.LoadEmbedded();
        var election = ElectionDefinition.Default;
        console.MarkupLine($"[bold]KpuEdge[/] — {election.Name}: region tree of {tree.Count(RegionLevel.Provinsi)} provinsi, " +
                           $"{tree.TpsTotal:N0} TPS loaded in {stopwatch.ElapsedMilliseconds} ms.");

        var simulation = new SimulatedElection(tree, election, settings.Seed);
        var tps = simulation.PickTps(settings.Tps, settings.Provinces);
        // Against a running cloud, devices must chain to the CA that cloud trusts: the PKI `kpu-sim pki` wrote for it.
        var pki = settings.Broker is not null ? SimulationPki.Load(settings.PkiDirectory, election) : SimulationPki.Create(election, settings.Seed);
        var provisioning = Stopwatch.StartNew();
        var devices = simulation.Provision(tps, pki.Pki);
        provisioning.Stop();
        if (settings.ReadForms > 0)
        {
            console.MarkupLine($"On paper first: {settings.ReadForms} KPPS fill their printed PPWP form by hand; the devices photograph and read it...");
            var (read, s) = FormReadingStep.Apply(devices, settings.ReadForms, tree, election, settings.Seed);
            devices = read;
            console.MarkupLine($"Read {s.Forms} photographed forms in {s.MsPerPage:F0} ms/page: {s.FieldsReadRight}/{s.Fields} fields read right, " +
                               $"{s.AutoAccepted} accepted without a human ({s.UndetectedWrong} of them wrong), {s.Flagged} flagged " +
                               $"({s.FlaggedFields} fields for the KPPS to check). The signed forms carry the photos' SHA-256.");
        }
        int forms = devices.Sum(d => d.Tallies.Count);
        var provinces = tps.Select(t => t.Region.AncestorAt(RegionLevel.Provinsi)).Distinct().Order().ToArray();
        console.MarkupLine($"Provisioned {devices.Count:N0} TPS devices in {provisioning.Elapsed.TotalSeconds:F1} s — each an Ed25519 signing " +
                           "certificate and a P-256 TLS certificate from KPU's issuing CA — " +
                           $"in {provinces.Length} provinces " +
                           $"({string.Join(", ", provinces.Select(p => tree.NameOf(p)))}): {forms:N0} C.Hasil forms to send.");

        if (settings.Broker is not null) return await RunAgainstRunningCloudAsync(settings, simulation, devices, pki, forms, cancellationToken);

        if (Directory.Exists(settings.DataDirectory)) Directory.Delete(settings.DataDirectory, recursive: true);
        // The NSOC's telemetry history: InfluxDB of the demo's own, its data under the demo's folder, stopped with it.
        await using var influx = await KpuEdge.TestSupport.LocalServices.LocalInflux.StartAsync(Path.Combine(settings.DataDirectory, "services"), ct: cancellationToken);
        string rules = Path.Combine(settings.DataDirectory, "nsoc-rules.json");
        await File.WriteAllTextAsync(rules, NsocStep.DemoRules, cancellationToken);
        await using var cloud = await InProcessCloud.StartAsync(settings.DataDirectory, tree, election, cancellationToken: cancellationToken,
            // The public tree follows the log as in production (the step below also builds it once, to check it).
            configure: o => o.PublicTreeInterval = TimeSpan.FromSeconds(5),
            logLevel: Microsoft.Extensions.Logging.LogLevel.Error, pki: pki, nsoc: o =>
            {
                o.InfluxUrl = influx.Url;
                o.RulesPath = rules;
                o.WallUrl = $"http://127.0.0.1:{settings.WallPort}";
            });
        await cloud.RegisterAsync(devices.Select(d => d.Credentials), cancellationToken);
        console.MarkupLine($"Cloud started in process: Orleans silo, MQTT broker on {cloud.BrokerHost}:{cloud.BrokerPort} (TLS, client certificates " +
                           $"required), ledger and transparency log {cloud.Options.LedgerPath}, API {cloud.ApiBase}");

        var target = new SimulationTarget(cloud.BrokerHost, cloud.BrokerPort, pki.LogKey);
        var report = await SendWithProgressAsync(simulation, devices, forms, target, settings.Concurrency, cancellationToken);

        // Bad input after the honest run: each must be refused (or be a duplicate) and count nothing.
        var ledger = cloud.Services.GetRequiredService<IResultsLedger>();
        var firstAccepted = SignedSubmission.Decode((await ledger.ReadAllAsync(cancellationToken).FirstAsync(cancellationToken)).Wire);
        var owner = devices.First(d => d.Identity.DeviceId == firstAccepted.Submission.DeviceId);
        var rogue = new List<RogueDevices.Attempt> { await RogueDevices.ReplayAsync(firstAccepted, target.ConnectionFor(owner), owner.Identity.DeviceId, cancellationToken) };
        rogue.AddRange(await RogueDevices.RunAsync(devices, election, target, pki.Pki, settings.Seed, cancellationToken));

        var settle = Stopwatch.StartNew();
        await cloud.Recap.SettleAsync();
        using var http = new HttpClient { BaseAddress = cloud.ApiBase };
        var problems = await CheckAsync(http, report, provinces, election, cancellationToken);
        PrintReport(console, report, rogue, cloud.Stats.Rejected, settle.Elapsed);
        await PrintNationalAsync(console, http, election, cancellationToken);
        bool ok = PrintCheck(console, problems, rogue, report);
        ok &= await WitnessCheck.RunAsync(console, http, cloud, devices, ledger, cancellationToken);
        ok &= await PublicStep.RunAsync(console, http, cloud, provinces, cancellationToken);
        console.MarkupLine($"Ledger: {await ledger.CountAsync(cancellationToken):N0} accepted submissions in {cloud.Options.LedgerPath}.");
        if (settings.SatelliteTps > 0)
            ok &= await SatelliteStep.RunAsync(console, settings.SatelliteTps, Path.Combine(settings.DataDirectory, "satellite"), tree, election, settings.Seed, cancellationToken);
        var (nsocOk, fleet) = await NsocStep.RunAsync(console, cloud, devices, target, election, settings.Seed, cancellationToken);
        await using var _ = fleet;
        ok &= nsocOk;
        console.MarkupLine($"Total time {stopwatch.Elapsed.TotalSeconds:F1} s.");

        if (settings.KeepRunning)
        {
            console.MarkupLine($"[bold]The cloud keeps running[/], its devices reporting their health every 30 s. The public portal: {cloud.ApiBase} — curl {cloud.ApiBase}api/v1/results/ppwp/0 — " +
                               $"MQTT on {cloud.BrokerHost}:{cloud.BrokerPort} — the wall at {cloud.WallBase}nsoc/. Ctrl+C to stop.");
            await NsocStep.KeepReportingAsync(fleet, TimeSpan.FromSeconds(30), cancellationToken);
        }
        return ok ? 0 : 1;
    }

    private static async Task<SimulationReport> SendWithProgressAsync(
        SimulatedElection simulation, IReadOnlyList<SimulatedDevice> devices, int forms, SimulationTarget target, int concurrency, CancellationToken cancellationToken)
    {
        SimulationReport? report = null;
        await AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async progress =>
            {
                var task = progress.AddTask("Forms sent and receipted", maxValue: forms);
                report = await simulation.RunAsync(devices, target, concurrency, n => task.Increment(n), cancellationToken);
            });
        return report!;
    }

    private static async Task<List<string>> CheckAsync(HttpClient http, SimulationReport report, IEnumerable<RegionCode> provinces, ElectionDefinition election, CancellationToken cancellationToken)
    {
        var accepted = report.AcceptedTallies.ToArray();
        var problems = new List<string>();
        foreach (var contest in Contests.All)
        {
            problems.AddRange(await RecapCheck.CompareAsync(http, accepted, contest, RegionCode.Nasional));
            foreach (var province in provinces) problems.AddRange(await RecapCheck.CompareAsync(http, accepted, contest, province));
        }
        return problems;
    }

    private static void PrintReport(IAnsiConsole console, SimulationReport report, IReadOnlyList<RogueDevices.Attempt> rogue,
        IReadOnlyDictionary<string, long> cloudRejected, TimeSpan settle)
    {
        var table = new Table().Title("Election run").AddColumn("").AddColumn(new TableColumn("").RightAligned());
        table.AddRow("TPS devices", $"{report.Devices:N0}");
        table.AddRow("Forms sent by honest devices", $"{report.FormsSent:N0}");
        table.AddRow("Accepted (receipted, durable)", $"{report.Accepted:N0}");
        table.AddRow("Duplicates (resends, counted once)", $"{report.Duplicates:N0}");
        table.AddRow("Rejected (honest devices)", $"{report.RejectedTotal:N0}");
        table.AddRow("Failed (no receipt)", $"{report.Failed:N0}");
        table.AddRow("Elapsed (send → last receipt)", $"{report.Elapsed.TotalSeconds:F1} s");
        table.AddRow("Throughput", $"{report.FormsPerSecond:N0} forms/s");
        var latencies = report.LatenciesMs.Order().ToArray();
        if (latencies.Length > 0)
            table.AddRow("Receipt latency p50 / p99", $"{latencies[latencies.Length / 2]:F0} ms / {latencies[(int)(latencies.Length * 0.99)]:F0} ms");
        table.AddRow("Recap settled to nasional in", $"{settle.TotalMilliseconds:F0} ms");
        console.Write(table);

        var bad = new Table().Title("Bad input thrown at the cloud").AddColumn("Attempt").AddColumn("Outcome").AddColumn("As expected");
        foreach (var a in rogue)
            bad.AddRow(Markup.Escape(a.What), Markup.Escape(a.Outcome), a.AsExpected ? "[green]yes[/]" : "[red]NO[/]");
        console.Write(bad);
        if (cloudRejected.Count > 0)
            console.MarkupLine("Cloud rejections by reason: " + string.Join(", ", cloudRejected.OrderBy(p => p.Key).Select(p => $"{p.Key} {p.Value}")));
    }

    private static async Task PrintNationalAsync(IAnsiConsole console, HttpClient http, ElectionDefinition election, CancellationToken cancellationToken)
    {
        var table = new Table().Title("National recap (from the public API)").AddColumn("Contest").AddColumn("TPS reported", c => c.RightAligned())
            .AddColumn("Suara sah", c => c.RightAligned()).AddColumn("Tidak sah", c => c.RightAligned()).AddColumn("Leading choices");
        foreach (var contest in Contests.All)
        {
            using var doc = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync($"api/v1/results/{contest.Slug()}/0", cancellationToken));
            var root = doc.RootElement;
            var chart = root.GetProperty("chart").EnumerateObject()
                .Where(p => p.Name != "persen" && p.Value.ValueKind == System.Text.Json.JsonValueKind.Number)
                .Select(p => (Key: p.Name, Votes: p.Value.GetInt64())).OrderByDescending(p => p.Votes).Take(3)
                .Select(p => $"{ChoiceName(election, contest, p.Key)} {p.Votes:N0}");
            table.AddRow(contest.Slug(), $"{root.GetProperty("progres").GetProperty("progres").GetInt64():N0}",
                $"{root.GetProperty("administrasi").GetProperty("suara_sah").GetInt64():N0}",
                $"{root.GetProperty("administrasi").GetProperty("suara_tidak_sah").GetInt64():N0}", Markup.Escape(string.Join("; ", chart)));
        }
        console.Write(table);
    }

    private static string ChoiceName(ElectionDefinition election, ContestId contest, string key) => contest switch
    {
        ContestId.Ppwp => $"pasangan {key}",
        ContestId.Dpd => $"calon {key}",
        _ => election.Parties.FirstOrDefault(p => p.Number.ToString() == key)?.Abbreviation ?? key,
    };

    private static bool PrintCheck(IAnsiConsole console, List<string> problems, IReadOnlyList<RogueDevices.Attempt> rogue, SimulationReport report)
    {
        bool rogueOk = rogue.All(a => a.AsExpected);
        bool delivered = report.Failed == 0 && report.RejectedTotal == 0;
        if (problems.Count == 0 && rogueOk && delivered)
        {
            console.MarkupLine($"[green]✓ Independent check passed:[/] the published recap (nasional and every province, all 5 contests) equals the sum of the {report.AcceptedTallies.Count:N0} forms the devices signed; bad input counted nothing.");
            return true;
        }
        foreach (var p in problems.Take(20)) console.MarkupLine($"[red]✗ {Markup.Escape(p)}[/]");
        if (!rogueOk) console.MarkupLine("[red]✗ Some bad input was not refused as expected.[/]");
        if (!delivered) console.MarkupLine("[red]✗ Some honest forms were not delivered or were rejected.[/]");
        return false;
    }

    private static async Task<int> RunAgainstRunningCloudAsync(
        Settings settings, SimulatedElection simulation, IReadOnlyList<SimulatedDevice> devices, SimulationPki pki, int forms, CancellationToken cancellationToken)
    {
        var registry = DeviceRegistry.Load(settings.RegistryPath, pki.Pki.Trust, DateTimeOffset.UtcNow);
        foreach (var device in devices) registry.Register(DeviceRecord.FromCertificate(device.Credentials.SigningCertificate));
        string? directory = Path.GetDirectoryName(Path.GetFullPath(settings.RegistryPath));
        if (directory is not null) Directory.CreateDirectory(directory);
        registry.Save(settings.RegistryPath);
        AnsiConsole.MarkupLine($"Registered {devices.Count:N0} devices in {settings.RegistryPath} (the cloud imports it into the registry in its ledger when it meets a new device).");
        int colon = settings.Broker!.LastIndexOf(':');
        string host = colon < 0 ? settings.Broker : settings.Broker[..colon];
        int port = colon < 0 ? 8883 : int.Parse(settings.Broker[(colon + 1)..]);
        var report = await SendWithProgressAsync(simulation, devices, forms, new SimulationTarget(host, port, pki.LogKey), settings.Concurrency, cancellationToken);
        PrintReport(AnsiConsole.Console, report, [], new Dictionary<string, long>(), TimeSpan.Zero);
        if (settings.Api is null) return report.Failed == 0 && report.RejectedTotal == 0 ? 0 : 1;
        using var http = new HttpClient { BaseAddress = new Uri(settings.Api.EndsWith('/') ? settings.Api : settings.Api + "/") };
        await PrintNationalAsync(AnsiConsole.Console, http, ElectionDefinition.Default, cancellationToken);
        return report.Failed == 0 && report.RejectedTotal == 0 ? 0 : 1;
    }
}
