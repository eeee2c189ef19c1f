using System.Globalization;
using System.Text;
using KpuEdge.Cloud;
using KpuEdge.Cloud.Ingest;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Cloud.Recap;
using KpuEdge.Core.Benchmarks;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.TestSupport;
using KpuEdge.TestSupport.LocalServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Spectre.Console;

namespace KpuEdge.Simulator;

/// <summary>
/// `kpu-sim bench stages`: what one form costs at each stage of the cloud's path, and what each serial part can carry —
/// MQTT, decode and verify, rules, ledger, log, grains, and a device's connection — each measured on its own with the
/// real component over real forms signed by real device identities; summed into one node's ceiling on this machine, set
/// against a model of election night's arrivals to say how many nodes the night needs (<see cref="ElectionNight"/>).
/// </summary>
public static class StagesBench
{
    public sealed record Settings
    {
        /// <summary>Forms measured at each stage (a fifth as many more warm each stage up first).</summary>
        public int Forms { get; init; } = 20_000;
        /// <summary>New device connections measured.</summary>
        public int Handshakes { get; init; } = 1_000;
        /// <summary>Measure the PostgreSQL ledger too (its own server under <see cref="DataDirectory"/>/services).</summary>
        public bool Postgres { get; init; } = true;
        public string DataDirectory { get; init; } = "out/bench-stages";
        /// <summary>Where provisioned fleets are cached (<see cref="Fleet"/>; the national run's cache too).</summary>
        public string FleetDirectory { get; init; } = "out/fleet";
        public string Output { get; init; } = "docs/benchmarks.md";
        public int Seed { get; init; } = 2024;
    }

    /// <summary>Group-commit sizes the ledger is measured at.</summary>
    public static readonly IReadOnlyList<int> Batches = [1, 100, 500];

    /// <summary>Forms per commit of a node at its ceiling (its LedgerWriter gathers up to 1,024): the sum's working point.</summary>
    public const int WorkingBatch = 500;

    /// <summary>Single-form commits measured (each a durable commit of its own).</summary>
    private const int SingleCommitForms = 500;
    private const int GrainConcurrency = 512;
    private const int Connectors = 8;

    public sealed record Report(
        Settings Settings, int Cores, string LoadAtStart, string LoadAtEnd, int Tps, int Stations, int WarmForms,
        Measured MqttIn, Measured MqttWithReceipts, Measured DecodeVerify, Measured Check, Measured Validator,
        IReadOnlyList<LedgerRow> Ledger, string? PostgresSkipped, LogFigures Log, Measured GrainsPath, double GrainsFormsPerCommit,
        Measured Handshakes, ElectionNight Night)
    {
        /// <summary>The check less its decoding and verification; never less than the validator's own cost (the difference is noisy).</summary>
        public double RulesMicros => Math.Max(Validator.CpuMicrosEach, Check.CpuMicrosEach - DecodeVerify.CpuMicrosEach);

        private IEnumerable<LedgerRow> Sqlite => Ledger.Where(r => r.Backend == "SQLite");
        public LedgerRow WorkingLedger => Sqlite.Single(r => r.Batch == WorkingBatch);
        public LedgerRow? WorkingPostgres => Ledger.SingleOrDefault(r => r.Backend == "PostgreSQL" && r.Batch == WorkingBatch);

        /// <summary>
        /// The SQLite ledger's CPU per form at any commit size: a fixed cost per commit and one per form, fitted (least
        /// squares in 1/batch) to the measured sizes.
        /// </summary>
        public double LedgerMicrosAt(double batch)
        {
            var points = Sqlite.Select(r => (X: 1.0 / r.Batch, Y: r.Forms.CpuMicrosEach)).ToArray();
            double mx = points.Average(p => p.X), my = points.Average(p => p.Y);
            double sxx = points.Sum(p => (p.X - mx) * (p.X - mx));
            double perCommit = sxx == 0 ? 0 : Math.Max(0, points.Sum(p => (p.X - mx) * (p.Y - my)) / sxx);
            return Math.Max(0, my - perCommit * mx) + perCommit / batch;
        }

        public double LogMicros => Log.Proofs.CpuMicrosEach + Log.Signed.CpuMicrosEach / WorkingBatch;
        public double GrainsMicros => Math.Max(0, GrainsPath.CpuMicrosEach - LedgerMicrosAt(GrainsFormsPerCommit));

        /// <summary>One form's CPU at each stage of a node, at <see cref="WorkingBatch"/>-form commits.</summary>
        public IReadOnlyList<(string Stage, double Micros)> PerForm =>
        [
            ("1. MQTT: form in, receipt out", MqttWithReceipts.CpuMicrosEach),
            ("2. decode + verify", DecodeVerify.CpuMicrosEach),
            ("3. rules (rest of the check)", RulesMicros),
            ($"4. ledger: SQLite, {WorkingBatch}-form commits, tree append", WorkingLedger.Forms.CpuMicrosEach),
            ($"5. log: inclusion proof, a checkpoint per commit", LogMicros),
            ("6. grains: device + TPS, recap", GrainsMicros),
        ];

        public double SumMicros => PerForm.Sum(s => s.Micros);
        public double CpuCeiling => Cores * 1e6 / SumMicros;

        /// <summary>Parts that run one at a time whatever the cores: their capacity in forms/s.</summary>
        public IReadOnlyList<(string Part, double FormsPerSecond)> SerialParts =>
        [
            ($"SQLite ledger (one writer, {WorkingBatch}-form commits)", WorkingLedger.Forms.PerSecond),
            ("the node's tree (appends under one lock)", Log.Appends.PerSecond),
            ($"the checkpoint signer (one grain; a checkpoint per {WorkingBatch}-form commit)", Log.Signed.PerSecond * WorkingBatch),
        ];

        public double NodeCeiling => Math.Min(CpuCeiling, SerialParts.Min(p => p.FormsPerSecond));

        public string Limit
        {
            get
            {
                var serial = SerialParts.MinBy(p => p.FormsPerSecond);
                if (serial.FormsPerSecond < CpuCeiling) return $"{serial.Part}, a serial part ({serial.FormsPerSecond:N0} forms/s)";
                var largest = PerForm.MaxBy(s => s.Micros);
                return $"CPU; the largest share is {largest.Stage} ({largest.Micros / SumMicros:P0})";
            }
        }

        public double HandshakesPerNode => Handshakes.CpuBoundPerSecond(Cores);

        /// <summary>Nodes for a rate, given what one node carries.</summary>
        public static int Nodes(double rate, double perNode) => Math.Max(1, (int)Math.Ceiling(rate / perNode));
    }

    public static async Task<int> RunAsync(Settings settings, IAnsiConsole console, CancellationToken cancellationToken)
    {
        var report = await MeasureAsync(settings, text => console.MarkupLine($"[grey]{Markup.Escape(text)}[/]"), cancellationToken);
        foreach (var sheet in Sheets(report))
        {
            console.WriteLine();
            console.MarkupLine($"[bold]{Markup.Escape(sheet.Title)}[/]");
            var table = new Table().AddColumns(sheet.Columns.Select((c, i) => new TableColumn(Markup.Escape(c)) { Alignment = i < sheet.LeftColumns ? Justify.Left : Justify.Right }).ToArray());
            foreach (var row in sheet.Rows) table.AddRow(row.Select(Markup.Escape).ToArray());
            console.Write(table);
        }
        console.WriteLine();
        console.WriteLine(Conclusion(report));
        Record(report, settings.Output);
        console.MarkupLine($"[green]Recorded in {Markup.Escape(settings.Output)}[/]");
        return 0;
    }

    /// <summary>Provisions the fleet and measures every stage; <paramref name="say"/> hears what is under way.</summary>
    public static async Task<Report> MeasureAsync(Settings settings, Action<string> say, CancellationToken ct)
    {
        string loadAtStart = LoadAverage();
        var tree = RegionTree.LoadEmbedded();
        var election = ElectionDefinition.Default;
        var context = new RecapContext(tree, election);
        string data = settings.DataDirectory;
        ClearKeepingServices(data);

        // The fleet: whole kecamatan of the 2024 registry, each TPS its own signing identity and chain of forms (the
        // national run's fleet, cached under FleetDirectory), carried by its kecamatan's PPK station; a fifth more warms
        // each stage up.
        int measuredTps = (int)Math.Ceiling(settings.Forms / 4.0), warmTps = Math.Max(2, measuredTps / 5);
        var sample = Fleet.WholeKecamatan(tree.TpsIn(RegionCode.Nasional).ToArray(), measuredTps + warmTps);
        var fleet = Fleet.OpenOrProvision(Path.Combine(settings.FleetDirectory, $"seed-{settings.Seed}-tps-{sample.Sum(k => k.Count())}"), sample, election,
            settings.Seed, TimeProvider.System, out _, say);
        var pki = fleet.Pki;
        var kecamatan = fleet.Read().ToArray();
        var tps = kecamatan.SelectMany(k => k.Devices).ToArray();
        var stations = kecamatan.AsParallel().AsOrdered().Select(k => pki.Pki.IssueDevice($"ppk-{k.Code}", KpuRole.Ppk, k.Code)).ToArray();
        BenchForm[] FormsOf(IEnumerable<FleetDevice> devices) => devices.SelectMany(d => d.Forms.Select(form =>
        {
            var s = form.Submission;
            string station = $"ppk-{s.Tps.Value[..6]}";
            return new BenchForm(form, ContestTotals.FromTally(s.Tally, context.Ballots.For(s.Contest, s.Tps)!), station, Topics.Submission(s.Tps, s.Contest, station));
        })).ToArray();
        var warm = FormsOf(tps.Take(warmTps));
        var forms = FormsOf(tps.Skip(warmTps)).Take(settings.Forms).ToArray();
        int handshakeWarm = Math.Max(4, settings.Handshakes / 10);
        var connecting = Enumerable.Range(0, handshakeWarm + settings.Handshakes).AsParallel().AsOrdered()
            .Select(i => pki.Pki.IssueDevice($"dev-conn-{i}", KpuRole.Tps, tps[i % tps.Length].Certificate.Identity!.Assignment)).ToArray();
        say($"{tps.Length:N0} TPS signing identities, {stations.Length:N0} PPK stations, {warm.Length + forms.Length:N0} forms, {connecting.Length:N0} device TLS identities.");

        say("Stages 2–3: decode + verify, the whole check, the rules alone (one thread).");
        // The registry as a node holds it: in the ledger's database, the devices in the node's cache.
        var options = Options.Create(new CloudOptions { RegistryPath = Path.Combine(data, "devices.json") });
        (Measured DecodeVerify, Measured Check, Measured Validator) checks;
        await using (var registryLedger = new SqliteLedger(Path.Combine(data, "registry.db")))
        {
            var devices = new DeviceRegistryProvider(registryLedger, options, TimeProvider.System, pki.Cloud,
                Microsoft.Extensions.Logging.Abstractions.NullLogger<DeviceRegistryProvider>.Instance);
            await devices.RegisterCertifiedAsync(tps.Select(device => device.Certificate).ToList(), ct);
            var checker = new SubmissionChecker(devices, context, pki.Cloud, TimeProvider.System, options);
            checks = await StageProbes.ChecksAsync(checker, devices, context, warm, forms, ct);
        }
        var (decodeVerify, check, validator) = checks;

        Measured mqttIn, mqttWithReceipts, handshakes;
        await using (var broker = await StageProbes.Broker.StartAsync(pki.Cloud, data, ct))
        {
            say("Stage 1: MQTT through the cloud's broker, stations to the ingest's subscription.");
            (mqttIn, mqttWithReceipts) = await StageProbes.MqttAsync(broker, pki.Cloud, stations, warm, forms, ct);
            say($"Stage 7: {settings.Handshakes:N0} new device connections, {Connectors} at a time.");
            handshakes = await StageProbes.HandshakesAsync(broker, connecting[..handshakeWarm], connecting[handshakeWarm..], Connectors, ct);
        }

        say("Stage 4: the ledger's group commit, SQLite.");
        var ledger = new List<LedgerRow>();
        await using (var warmLedger = new SqliteLedger(Path.Combine(data, "ledger-warm.db")))
            await StageProbes.LedgerAsync("SQLite", warmLedger, 100, warm, pki.Cloud);
        foreach (int batch in Batches)
        {
            await using var sqlite = new SqliteLedger(Path.Combine(data, $"ledger-{batch}.db"));
            ledger.Add(await StageProbes.LedgerAsync("SQLite", sqlite, batch, batch == 1 ? forms.Take(SingleCommitForms).ToArray() : forms, pki.Cloud));
        }
        string? postgresSkipped = settings.Postgres ? await MeasurePostgresAsync(data, warm, forms, pki, ledger, say, ct) : "not asked for (--no-postgres)";

        say("Stages 6 and 5: the grains and the checkpoint signer in a real silo, then the log's tree, proofs and checkpoint verification.");
        Measured grainsPath, signed;
        double formsPerCommit;
        string[] notes;
        await using (var cloud = await InProcessCloud.StartAsync(Path.Combine(data, "cloud"), tree, election, LogLevel.Error, pki: pki, cancellationToken: ct))
        {
            (grainsPath, formsPerCommit) = await StageProbes.GrainsAsync(cloud, warm, forms, GrainConcurrency, ct);
            (signed, notes) = await StageProbes.CheckpointsAsync(cloud, checkpoints: 2 * Math.Clamp(settings.Forms / 10, 20, 5_000), ct);
        }
        var (appends, proofs, verified) = await StageProbes.LogAsync(forms, pki.Cloud.LogKey, pki.LogKey, WorkingBatch, appends: Math.Max(1_000, settings.Forms * 10),
            proofs: Math.Max(100, settings.Forms * 5), notes, data, ct);
        var log = new LogFigures(appends, proofs, signed, verified);

        return new Report(settings, Environment.ProcessorCount, loadAtStart, LoadAverage(), tps.Length, stations.Length, warm.Length,
            mqttIn, mqttWithReceipts, decodeVerify, check, validator, ledger, postgresSkipped, log, grainsPath, formsPerCommit, handshakes,
            ElectionNight.Model(context));
    }

    /// <summary>The PostgreSQL rows (its own server, a fresh database per run); why not, when it cannot start.</summary>
    private static async Task<string?> MeasurePostgresAsync(string data, BenchForm[] warm, BenchForm[] forms, SimulationPki pki, List<LedgerRow> rows,
        Action<string> say, CancellationToken ct)
    {
        LocalPostgres postgres;
        try
        {
            postgres = await LocalPostgres.StartAsync(Path.Combine(data, "services"), ct: ct);
        }
        catch (Exception e) when (e is LocalServiceException or IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            string why = e.Message.Split('\n')[0];
            say($"PostgreSQL rows skipped: {why}");
            return why;
        }
        await using (postgres)
        {
            say("Stage 4: the ledger's group commit, PostgreSQL (node CPU and the server's own).");
            int postmaster = int.Parse(File.ReadLines(Path.Combine(postgres.DataDirectory, "postmaster.pid")).First(), CultureInfo.InvariantCulture);
            TimeSpan ServerCpu() => StageProbes.ProcessTreeCpu(postmaster);
            await using (var warmLedger = PostgresLedger.Open(await FreshDatabaseAsync(postgres, "stages_warm", ct)))
                await StageProbes.LedgerAsync("PostgreSQL", warmLedger, 100, warm, pki.Cloud, ServerCpu);
            foreach (int batch in Batches)
            {
                await using var ledger = PostgresLedger.Open(await FreshDatabaseAsync(postgres, $"stages_{batch}", ct));
                rows.Add(await StageProbes.LedgerAsync("PostgreSQL", ledger, batch, batch == 1 ? forms.Take(SingleCommitForms).ToArray() : forms, pki.Cloud, ServerCpu));
            }
        }
        return null;
    }

    private static async Task<string> FreshDatabaseAsync(LocalPostgres postgres, string name, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(postgres.ConnectionStringFor("postgres"));
        await connection.OpenAsync(ct);
        foreach (var sql in new[] { $"DROP DATABASE IF EXISTS {name}", $"CREATE DATABASE {name}" })
        {
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync(ct);
        }
        return postgres.ConnectionStringFor(name);
    }

    /// <summary>Empties the data folder but for services/ (a PostgreSQL cluster is kept, and a server a crashed run left is found there).</summary>
    private static void ClearKeepingServices(string data)
    {
        Directory.CreateDirectory(data);
        foreach (var entry in new DirectoryInfo(data).EnumerateFileSystemInfos().Where(e => e.Name != "services"))
        {
            if (entry is DirectoryInfo directory) directory.Delete(recursive: true);
            else entry.Delete();
        }
    }

    /// <summary>The 1, 5 and 15-minute load averages: how busy the shared machine was.</summary>
    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(" / ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    /// <summary>A table of the report, rendered to the console and to Markdown alike.</summary>
    private sealed record Sheet(string Title, string[] Columns, int LeftColumns, IReadOnlyList<string[]> Rows)
    {
        public string ToMarkdown()
        {
            var md = new StringBuilder();
            md.AppendLine($"| {string.Join(" | ", Columns)} |");
            md.AppendLine($"|{string.Join("|", Columns.Select((_, i) => i < LeftColumns ? "---" : "---:"))}|");
            foreach (var row in Rows) md.AppendLine($"| {string.Join(" | ", row)} |");
            return md.ToString();
        }
    }

    private static string Micros(double us) => $"{us:N1} µs";
    private static string Rate(double perSecond, string unit = "forms/s") => $"{perSecond:N0} {unit}";

    private static IReadOnlyList<Sheet> Sheets(Report r)
    {
        int cores = r.Cores;
        var stages = new List<string[]>
        {
            new[] { "1. MQTT", $"form in: {r.Stations} PPK stations publish at QoS 1 over mutual TLS, the broker delivers to the ingest's subscription (manual ack)",
                Micros(r.MqttIn.CpuMicrosEach), Rate(r.MqttIn.PerSecond) },
            new[] { "", "form in and its receipt out (QoS 1 both ways; a national-sized receipt, parsed by the station)",
                Micros(r.MqttWithReceipts.CpuMicrosEach), Rate(r.MqttWithReceipts.PerSecond) },
            new[] { "2. decode + verify", "SignedSubmission.Decode, the device's registry entry, VerifySignature (Ed25519); one thread",
                Micros(r.DecodeVerify.CpuMicrosEach), Rate(r.DecodeVerify.CpuBoundPerSecond(1), "forms/s a core") },
            new[] { "3. rules", $"the rest of SubmissionChecker.Check: hash, topic, sender, certificate, revocation, address, election, region, ballot and C1Validator ({r.Validator.CpuMicrosEach:N1} µs alone; the floor of this figure); one thread",
                Micros(r.RulesMicros), Rate(1e6 / Math.Max(0.1, r.RulesMicros), "forms/s a core") },
        };
        foreach (var (row, i) in r.Ledger.Select((row, i) => (row, i)))
            stages.Add([i == 0 ? "4. ledger" : "",
                $"{row.Backend}, LedgerWriter at {row.Batch}-form commits: {row.CommitsPerSecond:N0} commits/s of {row.FormsPerCommit:N0} on average, durable" +
                (row.ServerMicrosEach is { } server ? $"; the server's own CPU {server:N1} µs a form" : ""),
                Micros(row.Forms.CpuMicrosEach), Rate(row.Forms.PerSecond)]);
        if (r.PostgresSkipped is { } skipped) stages.Add(["", $"PostgreSQL: skipped ({skipped})", "", ""]);
        stages.Add(["5. log", $"the node's tree takes in {WorkingBatch}-entry commits (TransparencyLog.FollowAsync; inside the ledger rows' CPU)",
            Micros(r.Log.Appends.CpuMicrosEach), Rate(r.Log.Appends.PerSecond, "appends/s")]);
        stages.Add(["", $"inclusion proofs for receipts (that tree, {r.Log.Appends.Count:N0} entries)",
            Micros(r.Log.Proofs.CpuMicrosEach), Rate(r.Log.Proofs.PerSecond, "proofs/s")]);
        stages.Add(["", "checkpoints signed by LogSignerGrain.Sign in the silo (the caller's root, checked against the tree, Ed25519 note), 8 callers",
            Micros(r.Log.Signed.CpuMicrosEach) + " each", Rate(r.Log.Signed.PerSecond, "checkpoints/s")]);
        stages.Add(["", "checkpoints verified, each new to the verifier (a device's side, not the cloud's CPU)",
            Micros(r.Log.Verified.CpuMicrosEach) + " each", Rate(r.Log.Verified.PerSecond, "checkpoints/s")]);
        stages.Add(["6. grains", $"DeviceGrain.Submit (its group commit included) then TpsGrain.Accept, recap settled to nasional; {GrainConcurrency} devices at once, {r.GrainsFormsPerCommit:N0} forms a commit",
            Micros(r.GrainsPath.CpuMicrosEach), Rate(r.GrainsPath.PerSecond)]);
        stages.Add(["", $"the grains alone: the path less the SQLite ledger at {r.GrainsFormsPerCommit:N0}-form commits ({r.LedgerMicrosAt(r.GrainsFormsPerCommit):N1} µs, fitted to the ledger rows)",
            Micros(r.GrainsMicros), Rate(1e6 * cores / Math.Max(0.1, r.GrainsMicros), $"forms/s on {cores} cores")]);
        stages.Add(["7. handshakes", $"new device connections: mutual TLS (P-256 certificates from KPU's CA, checked at both ends), CONNECT, CONNACK, DISCONNECT; {Connectors} at a time",
            $"{r.Handshakes.CpuMicrosEach / 1000:N2} ms each", $"{r.Handshakes.PerSecond:N0}/s ({r.HandshakesPerNode:N0}/s CPU-bound)"]);

        var node = r.PerForm.Select(s => new[] { s.Stage, Micros(s.Micros), $"{s.Micros / r.SumMicros:P0}" }).ToList();
        node.Add(["sum: one form through one node", Micros(r.SumMicros), "100%"]);
        node.Add([$"CPU ceiling: {cores} cores ÷ the sum", Rate(r.CpuCeiling), ""]);
        node.AddRange(r.SerialParts.Select(p => new[] { $"serial: {p.Part}", Rate(p.FormsPerSecond), "" }));

        var night = r.Night;
        double perFormWithHandshake = r.SumMicros + r.Handshakes.CpuMicrosEach;
        var needs = new List<string[]>
        {
            new[] { "forms at the busiest minute, carried by PPK stations (connections kept open)", Rate(night.PeakMinutePerSecond), $"{Report.Nodes(night.PeakMinutePerSecond, r.NodeCeiling)}" },
            new[] { "the whole election in 15 minutes (the brief's target)", Rate(night.Forms / 900.0), $"{Report.Nodes(night.Forms / 900.0, r.NodeCeiling)}" },
            new[] { "handshakes if every device connected directly, one connection per form, busiest minute", Rate(night.PeakMinutePerSecond, "handshakes/s"),
                $"{Report.Nodes(night.PeakMinutePerSecond, r.HandshakesPerNode)}" },
            new[] { "forms and their handshakes together, every device direct, busiest minute (by CPU)", Rate(night.PeakMinutePerSecond),
                $"{Report.Nodes(night.PeakMinutePerSecond * perFormWithHandshake, cores * 1e6)}" },
            new[] { "every device reconnecting within 10 minutes (an outage ends)", Rate(night.Devices / 600.0, "handshakes/s"),
                $"{Report.Nodes(night.Devices / 600.0, r.HandshakesPerNode)}" },
        };
        return
        [
            new Sheet("Each stage, measured alone", ["stage", "what was run", "CPU a form", "capacity"], 2, stages),
            new Sheet($"One node on this machine ({cores} cores)", ["stage", "CPU a form", "share"], 1, node),
            new Sheet("Election night", ["what the night needs", "rate", "nodes"], 1, needs),
        ];
    }

    private static string Conclusion(Report r)
    {
        string cluster = r.WorkingPostgres is { } pg
            ? $" A cluster shares one ledger and one checkpoint signer: PostgreSQL took {pg.Forms.PerSecond:N0} forms/s at {WorkingBatch}-form commits here " +
              $"(its server on the same {r.Cores} cores as its client), so past about {Math.Max(1, pg.Forms.PerSecond / r.NodeCeiling):N0} nodes of this size the shared ledger, " +
              $"not the nodes, is the limit; the signer signs {r.Log.Signed.PerSecond:N0} checkpoints/s, one a commit: {r.Log.Signed.PerSecond * WorkingBatch:N0} forms/s."
            : "";
        return $"One node's ceiling here: {r.NodeCeiling:N0} forms/s ({r.Cores} cores ÷ {r.SumMicros:N0} µs a form = {r.CpuCeiling:N0} forms/s by CPU); " +
               $"the limit is {r.Limit}. A new device connection costs {r.Handshakes.CpuMicrosEach / 1000:N1} ms of CPU, as much as " +
               $"{r.Handshakes.CpuMicrosEach / r.SumMicros:N0} forms.{cluster}";
    }

    /// <summary>Writes the report's section of docs/benchmarks.md.</summary>
    public static void Record(Report r, string path)
    {
        var md = new StringBuilder();
        md.AppendLine("## Capacity by stage (`kpu-sim bench stages`)");
        md.AppendLine();
        md.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"""
            Measured {DateTimeOffset.UtcNow:yyyy-MM-dd} on this machine: {r.Cores} cores, **shared** with another engineer's work while it ran (load
            average {r.LoadAtStart} at the start, {r.LoadAtEnd} at the end), .NET {Environment.Version};
            `kpu-sim bench stages --forms {r.Settings.Forms} --handshakes {r.Settings.Handshakes}`. Real forms: {r.Tps:N0} TPS of the 2024 registry in whole
            kecamatan, each its own Ed25519 signing identity from KPU's CA signing its own chain, {r.Settings.Forms:N0} forms measured at each stage after
            {r.WarmForms:N0} to warm it up (and half a second for the JIT's tiering to settle). Each stage runs alone through the real component: the cloud's
            broker (`EmbeddedBroker`), `SubmissionChecker`, `SqliteLedger` / `PostgresLedger` with `LedgerWriter`, `TransparencyLog` and
            `LogSignerGrain`, `DeviceGrain` and `TpsGrain` in a real silo (`InProcessCloud`). CPU is the process's own CPU time over the
            measured loop, so other work on the machine moves it little: every thread, the garbage collector's too (a one-thread stage's
            CPU is above its wall time on a quiet core: compare decode + verify with the walking-skeleton section's), and where both ends
            of a connection run here — MQTT, handshakes — both (the cloud's share is less). Capacity is what the loop did per second of
            wall time on the shared machine, which does depend on its load, or, for one-thread stages, per second of one core's CPU.

            """));
        var sheets = Sheets(r);
        foreach (var sheet in sheets.Take(2))
        {
            md.AppendLine($"**{sheet.Title}**");
            md.AppendLine();
            md.Append(sheet.ToMarkdown());
            md.AppendLine();
        }
        md.AppendLine(Conclusion(r));
        md.AppendLine();
        md.AppendLine("**Election night**, by a model of when forms arrive (`ElectionNight`): " + r.Night.Describe());
        md.AppendLine();
        md.Append(sheets[2].ToMarkdown());
        md.AppendLine();
        md.AppendLine($"Nodes are of this machine's size ({r.Cores} cores), at the ceiling above; a handshake's CPU counts both ends (each does one ECDHE, " +
                      "one ECDSA signature and a chain check), so the broker's share is about half and the handshake rows are an upper bound. " +
                      "Carried by PPK stations, a kecamatan's TPS share one connection and the night's connections cost next to nothing.");
        BenchmarkFile.WriteSection(path, "stages", md.ToString());
    }
}
