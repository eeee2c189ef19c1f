using System.CommandLine;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Simulator;
using KpuEdge.TestSupport;

// kpu-sim: the election simulator. `demo` is the project's main job; `bench` measures the skeleton.
var tpsOption = new Option<int>("--tps") { Description = "Number of simulated TPS devices", DefaultValueFactory = _ => 3000 };
var provinceOption = new Option<string[]>("--province")
{
    Description = "Province code(s) to draw TPS from (repeatable); default: nine provinces across the three time zones",
    AllowMultipleArgumentsPerToken = true,
    DefaultValueFactory = _ => [],
};
var seedOption = new Option<int>("--seed") { Description = "Seed for TPS choice, keys and numbers", DefaultValueFactory = _ => 2024 };
var concurrencyOption = new Option<int>("--concurrency") { Description = "Devices connected at the same time", DefaultValueFactory = _ => 128 };
var dataOption = new Option<string>("--data") { Description = "Directory for the demo's ledger and device registry (wiped at start)", DefaultValueFactory = _ => "out/demo" };
var keepRunningOption = new Option<bool>("--keep-running") { Description = "Keep the cloud and its API running after the demo until Ctrl+C" };
var brokerOption = new Option<string?>("--broker") { Description = "Send to a running cloud's broker (host:port) instead of starting one in process" };
var apiOption = new Option<string?>("--api") { Description = "With --broker: the running cloud's API base URL, to check the recap" };
var registryOption = new Option<string>("--registry") { Description = "With --broker: the device registry file the running cloud reads", DefaultValueFactory = _ => "data/devices.json" };
var pkiOption = new Option<string>("--pki") { Description = "With --broker: the PKI directory `kpu-sim pki` wrote (the running cloud's Cloud:PkiDirectory)", DefaultValueFactory = _ => "data/pki" };
var satelliteOption = new Option<int>("--satellite-tps") { Description = "TPS in Papua, Maluku and Jawa Barat that deliver over emulated links (VSAT, 4G, fibre) with their form photos (0: skip)", DefaultValueFactory = _ => 30 };
var readFormsOption = new Option<int>("--read-forms") { Description = "TPS whose PPWP form is filled by hand, photographed and read by the device first", DefaultValueFactory = _ => 20 };
var benchTpsOption = new Option<int>("--tps") { Description = "TPS devices for the end-to-end run", DefaultValueFactory = _ => 20000 };
var outputOption = new Option<string>("--output") { Description = "Markdown file to record the figures in", DefaultValueFactory = _ => "docs/benchmarks.md" };

var wallPortOption = new Option<int>("--wall-port") { Description = "The NSOC wall's port (0: a free one, printed)", DefaultValueFactory = _ => 0 };
var demo = new Command("demo", "Run an election end to end: simulated TPS devices → MQTT → Orleans recap → public API, with an independent check.")
    { tpsOption, provinceOption, seedOption, concurrencyOption, dataOption, keepRunningOption, brokerOption, apiOption, registryOption, readFormsOption, pkiOption, satelliteOption, wallPortOption };
demo.SetAction((parse, ct) => Demo.RunAsync(new Demo.Settings(
    parse.GetValue(tpsOption), parse.GetValue(provinceOption)!, parse.GetValue(seedOption), parse.GetValue(concurrencyOption),
    parse.GetValue(dataOption)!, parse.GetValue(keepRunningOption), parse.GetValue(brokerOption), parse.GetValue(apiOption),
    parse.GetValue(registryOption)!, parse.GetValue(readFormsOption), parse.GetValue(pkiOption)!, parse.GetValue(satelliteOption), parse.GetValue(wallPortOption)), ct));

// `nsoc`: the wall with a living fleet — the demo's election, then its devices keep reporting (with their faults) until Ctrl+C;
// with --broker, the fleet's telemetry goes to a running cloud (its registry and PKI as for `demo --broker`).
var nsocTpsOption = new Option<int>("--tps") { Description = "TPS devices in the fleet", DefaultValueFactory = _ => 2000 };
var nsoc = new Command("nsoc", "The NSOC wall with a living fleet: devices report their health every 30 s, with faults, until Ctrl+C.")
    { nsocTpsOption, provinceOption, seedOption, dataOption, brokerOption, registryOption, pkiOption, wallPortOption };
nsoc.SetAction((parse, ct) => parse.GetValue(brokerOption) is { } broker
    ? NsocFeed.RunAsync(parse.GetValue(nsocTpsOption), parse.GetValue(provinceOption)!, parse.GetValue(seedOption), broker,
        parse.GetValue(registryOption)!, parse.GetValue(pkiOption)!, ct)
    : Demo.RunAsync(new Demo.Settings(parse.GetValue(nsocTpsOption), parse.GetValue(provinceOption)!, parse.GetValue(seedOption), 128,
        parse.GetValue(dataOption)!, KeepRunning: true, null, null, "data/devices.json", ReadForms: 0, SatelliteTps: 0,
        WallPort: parse.GetValue(wallPortOption) is 0 ? 8090 : parse.GetValue(wallPortOption)), ct));

var pkiDirOption = new Option<string>("--dir") { Description = "Where to write the cloud's PKI directory", DefaultValueFactory = _ => "data/pki" };
var pki = new Command("pki", "Create a development PKI (root, issuing CA, broker/ingest TLS, log key) for a separately started kpu-cloud and `demo --broker`.")
    { pkiDirOption, seedOption };
pki.SetAction(parse =>
{
    string dir = parse.GetValue(pkiDirOption)!;
    SimulationPki.Create(ElectionDefinition.Default, parse.GetValue(seedOption)).Save(dir);
    Console.WriteLine($"Development PKI written to {dir}: start kpu-cloud with --Cloud:PkiDirectory={Path.GetFullPath(dir)}, then `kpu-sim demo --broker 127.0.0.1:8883 --pki {dir}`.");
    Console.WriteLine("For development and load tests only; a real deployment uses kpu-provision with an offline root (firmware-config/README.md).");
    return 0;
});

var bench = new Command("bench", "Measure encoded sizes, signing and verification rates, and end-to-end forms/s; record them in docs/benchmarks.md.")
    { benchTpsOption, provinceOption, seedOption, concurrencyOption, outputOption };
bench.SetAction((parse, ct) => Bench.RunAsync(parse.GetValue(benchTpsOption), parse.GetValue(provinceOption)!, parse.GetValue(seedOption),
    parse.GetValue(concurrencyOption), parse.GetValue(outputOption)!, ct));

var perProfileOption = new Option<int>("--per-profile") { Description = "Devices per link profile for the latencies", DefaultValueFactory = _ => 30 };
var cutDevicesOption = new Option<int>("--cut-devices") { Description = "Devices of the backlog run (a tenth cut off for 30 emulated minutes)", DefaultValueFactory = _ => 60 };
var vsatScaleOption = new Option<double>("--vsat-time-scale") { Description = "How much faster than real the VSAT links and their devices' timers run (figures are reported in emulated time)", DefaultValueFactory = _ => 8 };
var bytesDevicesOption = new Option<int>("--bytes-devices") { Description = "Devices of the run that measures bytes on the wire", DefaultValueFactory = _ => 20 };
var poolTpsOption = new Option<int>("--pool-tps") { Description = "TPS whose forms are rendered, photographed and compressed for the link", DefaultValueFactory = _ => 3 };
var delivery = new Command("delivery", "Delivery over emulated links (fibre, 4G, VSAT): bytes per TPS, latency per profile, backlog after a cut, photo-first vs numbers-first; record them in docs/benchmarks.md.")
    { perProfileOption, cutDevicesOption, vsatScaleOption, bytesDevicesOption, poolTpsOption, seedOption, outputOption };
delivery.SetAction((parse, ct) => DeliveryBench.RunAsync(new DeliveryBench.Settings(
    parse.GetValue(perProfileOption), parse.GetValue(cutDevicesOption), parse.GetValue(vsatScaleOption), parse.GetValue(bytesDevicesOption),
    parse.GetValue(poolTpsOption), parse.GetValue(seedOption), parse.GetValue(outputOption)!), ct));
bench.Subcommands.Add(delivery);

var floodDevicesOption = new Option<int>("--devices") { Description = "Genuine devices whose receipt latency is measured", DefaultValueFactory = _ => 64 };
var floodRoundsOption = new Option<int>("--rounds") { Description = "Rounds of their five forms (odd rounds quiet, even rounds under flood)", DefaultValueFactory = _ => 4 };
var floodersOption = new Option<int>("--flooders") { Description = "Genuine devices flooding with forged forms", DefaultValueFactory = _ => 1 };
var inFlightOption = new Option<int>("--in-flight") { Description = "Publishes each flooder keeps in flight", DefaultValueFactory = _ => 64 };
var silentOption = new Option<int>("--silent-connections") { Description = "Connections held open without a TLS handshake during the flood", DefaultValueFactory = _ => 1_500 };
var flood = new Command("flood", "Genuine devices' receipt latency while another device floods the broker and an outsider holds half-open connections; record it in docs/benchmarks.md.")
    { floodDevicesOption, floodRoundsOption, floodersOption, inFlightOption, silentOption, seedOption, outputOption };
flood.SetAction((parse, ct) => FloodBench.RunAsync(new FloodBench.Settings(parse.GetValue(floodDevicesOption), parse.GetValue(floodRoundsOption),
    parse.GetValue(floodersOption), parse.GetValue(inFlightOption), parse.GetValue(silentOption), parse.GetValue(seedOption), parse.GetValue(outputOption)!), ct));
bench.Subcommands.Add(flood);

var nsocDevicesOption = new Option<int>("--devices") { Description = "Devices reporting, each on its own mutual-TLS connection", DefaultValueFactory = _ => 2000 };
var nsocReportsOption = new Option<int>("--reports") { Description = "Reports each device sends as fast as acknowledged", DefaultValueFactory = _ => 20 };
var nsocSamplesOption = new Option<int>("--latency-samples") { Description = "Tamper reports timed to the wall's event stream", DefaultValueFactory = _ => 100 };
var nsocBench = new Command("nsoc", "The NSOC's figures: telemetry points/s into InfluxDB, event → wall latency, bytes per device per hour on VSAT, the wall's page weight and first render.")
    { nsocDevicesOption, nsocReportsOption, nsocSamplesOption, seedOption, outputOption };
nsocBench.SetAction((parse, ct) => NsocBench.RunAsync(new NsocBench.Settings(parse.GetValue(nsocDevicesOption), parse.GetValue(nsocReportsOption),
    parse.GetValue(nsocSamplesOption), parse.GetValue(seedOption), parse.GetValue(outputOption)!), ct));
bench.Subcommands.Add(nsocBench);

var replayRegistryOption = new Option<string?>("--registry") { Description = "Registry of TPS: tps_code,dpt,province,regency,district,village (simulator/KpuEdge.Simulator.Replay/README.md)" };
var replayResultsOption = new Option<string?>("--results") { Description = "Results, one row per contest per TPS: tps_code,contest,dpt,pengguna_total,suara_sah,suara_tidak_sah,c1,c2,…" };
var syntheticOption = new Option<int?>("--synthetic") { Description = "Instead of --registry and --results: write synthetic files of N TPS from the 2024 tree (a few rows broken on purpose) into --data, and replay them" };
var nodesOption = new Option<int>("--nodes") { Description = "Cloud nodes: 1 (SQLite ledger) or more (a cluster: Redis membership, PostgreSQL ledger, devices spread over the nodes' brokers)", DefaultValueFactory = _ => 1 };
var replayDataOption = new Option<string>("--data") { Description = "Folder for synthetic files and the cloud's data (its cloud/ subfolder wiped at start)", DefaultValueFactory = _ => "out/replay" };
var jsonOption = new Option<bool>("--json") { Description = "End with one line of JSON: the totals (API and file, per contest, national and per province) and ok" };
var replayOutputOption = new Option<string?>("--output") { Description = "Record the replay's figures (rows/s, forms/s, totals equal) in this file, e.g. docs/benchmarks.md" };
var replay = new Command("replay", "Replay an election from a registry and a results file: a device per TPS signs and sends each row through the real cloud; the public API's totals are checked against the file's sums.")
    { replayRegistryOption, replayResultsOption, syntheticOption, nodesOption, replayDataOption, concurrencyOption, seedOption, keepRunningOption, jsonOption, replayOutputOption };
// Redirected output (a file, a pipe) gets Spectre's 80 columns by default: too narrow for the totals tables.
static Spectre.Console.IAnsiConsole WideConsole()
{
    if (Console.IsOutputRedirected) Spectre.Console.AnsiConsole.Profile.Width = Math.Max(Spectre.Console.AnsiConsole.Profile.Width, 120);
    return Spectre.Console.AnsiConsole.Console;
}
replay.SetAction((parse, ct) => ReplayCommand.RunAsync(new ReplayCommand.Settings
{
    RegistryPath = parse.GetValue(replayRegistryOption), ResultsPath = parse.GetValue(replayResultsOption), SyntheticTps = parse.GetValue(syntheticOption),
    Nodes = parse.GetValue(nodesOption), DataDirectory = parse.GetValue(replayDataOption)!, Concurrency = parse.GetValue(concurrencyOption),
    Seed = parse.GetValue(seedOption), KeepRunning = parse.GetValue(keepRunningOption), Json = parse.GetValue(jsonOption),
    BenchmarkOutput = parse.GetValue(replayOutputOption),
}, WideConsole(), Console.Out, ct));

var replayTpsOption = new Option<int>("--tps") { Description = "TPS of the synthetic files replayed", DefaultValueFactory = _ => 2000 };
var benchReplayDataOption = new Option<string>("--data") { Description = "Folder for the synthetic files and the cloud's data", DefaultValueFactory = _ => "out/bench-replay" };
var benchReplay = new Command("replay", "Replay synthetic files of --tps TPS from the 2024 tree end to end; record rows/s, forms/s and whether the totals equal the file's in docs/benchmarks.md.")
    { replayTpsOption, nodesOption, benchReplayDataOption, concurrencyOption, seedOption, outputOption };
benchReplay.SetAction((parse, ct) => ReplayCommand.RunAsync(new ReplayCommand.Settings
{
    SyntheticTps = parse.GetValue(replayTpsOption), Nodes = parse.GetValue(nodesOption), DataDirectory = parse.GetValue(benchReplayDataOption)!,
    Concurrency = parse.GetValue(concurrencyOption), Seed = parse.GetValue(seedOption), BenchmarkOutput = parse.GetValue(outputOption),
}, WideConsole(), Console.Out, ct));
bench.Subcommands.Add(benchReplay);

var clusterNodesOption = new Option<int>("--nodes") { Description = "kpu-cloud processes (each an Orleans silo, MQTT broker, ingest and API)", DefaultValueFactory = _ => 3 };
var clusterDataOption = new Option<string>("--data") { Description = "Where Redis, PostgreSQL, the PKI, the registry and each node's files live", DefaultValueFactory = _ => "out/cluster" };
var firstBrokerPortOption = new Option<int>("--broker-port") { Description = "Node 1's MQTT port; node N uses the next ones (0: free ports)", DefaultValueFactory = _ => 8883 };
var firstHttpPortOption = new Option<int>("--http-port") { Description = "Node 1's API port; node N uses the next ones (0: free ports)", DefaultValueFactory = _ => 8080 };
var cluster = new Command("cluster", "Start a real multi-node cloud on this machine (Redis, PostgreSQL, N kpu-cloud processes) until Ctrl+C.")
    { clusterNodesOption, clusterDataOption, firstBrokerPortOption, firstHttpPortOption };
cluster.SetAction((parse, ct) => ClusterCommand.RunAsync(new ClusterCommand.Settings(parse.GetValue(clusterNodesOption), parse.GetValue(clusterDataOption)!,
    parse.GetValue(firstBrokerPortOption), parse.GetValue(firstHttpPortOption), 11111, 30000), ct));

var nationalTpsOption = new Option<int>("--tps") { Description = "TPS of the 2024 registry, an even sample (0: all 820,161)", DefaultValueFactory = _ => 0 };
var nationalNodesOption = new Option<int>("--nodes") { Description = "Cloud nodes: 1 (SQLite) or more (in-process cluster: Redis, PostgreSQL)", DefaultValueFactory = _ => 1 };
var stationsOption = new Option<int>("--stations") { Description = "PPK stations sending at the same time (each one mutual-TLS connection)", DefaultValueFactory = _ => 64 };
var windowOption = new Option<int>("--window") { Description = "Forms in flight per station", DefaultValueFactory = _ => 32 };
var nationalDataOption = new Option<string>("--data") { Description = "The cloud's data (wiped at start)", DefaultValueFactory = _ => "out/bench-national" };
var fleetOption = new Option<string>("--fleet") { Description = "Where provisioned fleets are cached (one folder per seed and sample; reused by the next run)", DefaultValueFactory = _ => "out/fleet" };
var provisionOnlyOption = new Option<bool>("--provision-only") { Description = "Only provision (or find cached) the fleet, then stop: the next run starts sending at once" };
var rateOption = new Option<double>("--rate") { Description = "Send at this many forms/s in all (0: as fast as the cloud answers); a paced run is recorded apart", DefaultValueFactory = _ => 0 };
var apiRateOption = new Option<double>("--api-rate") { Description = "Load the public results API with this many region-page requests/s during the run and record p50/p99", DefaultValueFactory = _ => 0 };
var readClientsOption = new Option<int>("--read-clients") { Description = "Build the public tree as in production and read it with this many concurrent readers during the run (region and TPS files); then write it again from the ledger and time that (one node)", DefaultValueFactory = _ => 0 };
var national = new Command("national", "The 2024 registry (or an even sample) through the real brokers, ingest, ledger, log and grains of one node or a cluster; record wall time, forms/s and whether the totals equal the devices' sums.")
    { nationalTpsOption, nationalNodesOption, stationsOption, windowOption, nationalDataOption, outputOption, seedOption, fleetOption, provisionOnlyOption, rateOption, apiRateOption, readClientsOption };
national.SetAction((parse, ct) => NationalBench.RunAsync(new NationalBench.Settings(parse.GetValue(nationalTpsOption), parse.GetValue(nationalNodesOption),
    parse.GetValue(stationsOption), parse.GetValue(windowOption), parse.GetValue(nationalDataOption)!, parse.GetValue(outputOption)!, parse.GetValue(seedOption),
    parse.GetValue(fleetOption)!, parse.GetValue(provisionOnlyOption), parse.GetValue(rateOption), parse.GetValue(apiRateOption),
    parse.GetValue(readClientsOption)), ct));
bench.Subcommands.Add(national);

var stagesFormsOption = new Option<int>("--forms") { Description = "Real signed forms measured at each stage (a fifth as many more warm it up)", DefaultValueFactory = _ => 20_000 };
var handshakesOption = new Option<int>("--handshakes") { Description = "New device connections (mutual TLS, CONNECT, DISCONNECT) measured", DefaultValueFactory = _ => 1_000 };
var noPostgresOption = new Option<bool>("--no-postgres") { Description = "Skip the PostgreSQL ledger rows" };
var stagesDataOption = new Option<string>("--data") { Description = "Ledgers, the silo's data and PostgreSQL (under services/); wiped at start but for services/", DefaultValueFactory = _ => "out/bench-stages" };
var stages = new Command("stages", "CPU per form and capacity of each stage (MQTT, decode + verify, rules, ledger, log, grains, handshakes), one node's ceiling, and the nodes election night needs; record them in docs/benchmarks.md.")
    { stagesFormsOption, handshakesOption, noPostgresOption, stagesDataOption, fleetOption, outputOption, seedOption };
stages.SetAction((parse, ct) => StagesBench.RunAsync(new StagesBench.Settings
{
    Forms = parse.GetValue(stagesFormsOption), Handshakes = parse.GetValue(handshakesOption), Postgres = !parse.GetValue(noPostgresOption),
    DataDirectory = parse.GetValue(stagesDataOption)!, FleetDirectory = parse.GetValue(fleetOption)!, Output = parse.GetValue(outputOption)!, Seed = parse.GetValue(seedOption),
}, WideConsole(), ct));
bench.Subcommands.Add(stages);

var root = new RootCommand("KpuEdge election simulator") { demo, nsoc, bench, pki, replay, cluster };
// Ctrl+C cancels the command and waits for it to put things away (the cluster stops its nodes, PostgreSQL and Redis).
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromMinutes(2) });
