using System.Diagnostics;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Core.Elections;
using KpuEdge.Edge.Transport;
using KpuEdge.TestSupport.LocalServices;

namespace KpuEdge.TestSupport;

/// <summary>What <see cref="ProcessCluster"/> starts.</summary>
public sealed record ProcessClusterOptions
{
    /// <summary>Everything lives here: services/ (Redis, PostgreSQL), pki/, shared/ (registry, images), node-N/ (its PKI, log, data).</summary>
    public required string DataDirectory { get; init; }
    public int Nodes { get; init; } = 3;
    /// <summary>kpu-cloud.dll; found in the repository's build output when null.</summary>
    public string? CloudDll { get; init; }
    /// <summary>Ports of node 1 (broker, HTTP, silo, gateway); node N adds N−1. 0: free ports.</summary>
    public int BrokerPort { get; init; }
    public int HttpPort { get; init; }
    public int SiloPort { get; init; }
    public int GatewayPort { get; init; }
    /// <summary>More settings for every node, as kpu-cloud command-line overrides ("--Cloud:LedgerBatchSize=512").</summary>
    public IReadOnlyList<string> ExtraArguments { get; init; } = [];
    /// <summary>Node 1's NSOC wall port; node N uses the next ones (0: free ports).</summary>
    public int WallPort { get; init; }
    /// <summary>Start an InfluxDB for the nodes' telemetry history (`./kpu cluster` does; the fault tests need none).</summary>
    public bool Influx { get; init; }
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromMinutes(2);
}

/// <summary>One kpu-cloud process of a <see cref="ProcessCluster"/>.</summary>
public sealed record ClusterNode(string Name, string Directory, int BrokerPort, int HttpPort, int SiloPort, int GatewayPort, int WallPort)
{
    public Uri ApiBase => new($"http://127.0.0.1:{HttpPort}/");
    public Uri WallBase => new($"http://127.0.0.1:{WallPort}/nsoc/");
    public string LogPath => Path.Combine(Directory, "node.log");
}

/// <summary>
/// A real multi-node cloud on this machine: its own Redis and PostgreSQL under the data folder, and N kpu-cloud
/// processes — each an Orleans silo, MQTT broker, ingest and HTTP API — clustered through that Redis and writing to
/// that ledger, sharing the PKI, the device registry file and the image store, each with its own ingest identity.
/// `./kpu cluster` runs it; the process-level fault tests kill its nodes with SIGKILL.
/// </summary>
public sealed class ProcessCluster : IAsyncDisposable
{
    private const int SigTerm = 15;
    private readonly ProcessClusterOptions _options;
    private readonly string _cloudDll;
    private readonly ClusterNode[] _nodes;
    private readonly ServiceProcess?[] _processes;

    private ProcessCluster(ProcessClusterOptions options, string cloudDll, SimulationPki pki, LocalRedis redis, LocalPostgres postgres, LocalInflux? influx)
    {
        Influx = influx;
        _options = options;
        _cloudDll = cloudDll;
        Pki = pki;
        Redis = redis;
        Postgres = postgres;
        _nodes = new ClusterNode[options.Nodes];
        _processes = new ServiceProcess?[options.Nodes];
        for (int i = 0; i < options.Nodes; i++)
        {
            static int Port(int first, int i) => first == 0 ? FreePorts.OnLoopback() : first + i;
            string name = InProcessCluster.NodeName(i);
            _nodes[i] = new ClusterNode(name, Path.Combine(options.DataDirectory, name), Port(options.BrokerPort, i), Port(options.HttpPort, i),
                Port(options.SiloPort, i), Port(options.GatewayPort, i), Port(options.WallPort, i));
        }
    }

    public SimulationPki Pki { get; }
    public LocalRedis Redis { get; }
    public LocalPostgres Postgres { get; }
    /// <summary>The nodes' InfluxDB, when <see cref="ProcessClusterOptions.Influx"/> asked for one.</summary>
    public LocalInflux? Influx { get; }
    public IReadOnlyList<ClusterNode> Nodes => _nodes;
    public string RegistryPath => Path.Combine(_options.DataDirectory, "shared", "devices.json");
    public string PkiDirectory => Path.Combine(_options.DataDirectory, "pki");

    /// <summary>The process id of a running node, null for a stopped one.</summary>
    public int? ProcessId(int index) => _processes[index] is { HasExited: false } p ? p.Pid : null;

    public static async Task<ProcessCluster> StartAsync(ProcessClusterOptions options, ElectionDefinition election, CancellationToken cancellationToken = default)
    {
        string cloudDll = options.CloudDll ?? FindCloudDll();
        Directory.CreateDirectory(Path.Combine(options.DataDirectory, "shared", "images"));
        string pkiDirectory = Path.Combine(options.DataDirectory, "pki");
        // The same PKI across runs: devices provisioned by an earlier run stay valid.
        var pki = File.Exists(Path.Combine(pkiDirectory, "simulation-pki.json")) ? SimulationPki.Load(pkiDirectory, election) : SimulationPki.Create(election);
        pki.Save(pkiDirectory);
        var redis = await LocalRedis.StartAsync(Path.Combine(options.DataDirectory, "services"), ct: cancellationToken);
        LocalPostgres? postgres = null;
        try
        {
            postgres = await LocalPostgres.StartAsync(Path.Combine(options.DataDirectory, "services"), ct: cancellationToken);
            var influx = options.Influx ? await LocalInflux.StartAsync(Path.Combine(options.DataDirectory, "services"), ct: cancellationToken) : null;
            var cluster = new ProcessCluster(options, cloudDll, pki, redis, postgres, influx);
            try
            {
                // The first node creates the ledger's schema; the others join its cluster.
                for (int i = 0; i < options.Nodes; i++) await cluster.StartNodeAsync(i, cancellationToken);
            }
            catch
            {
                await cluster.DisposeAsync();
                throw;
            }
            return cluster;
        }
        catch when (postgres is null)
        {
            await redis.DisposeAsync();
            throw;
        }
    }

    /// <summary>The kpu-cloud build next to this one (kpu-sim and the tests reference the cloud project), or in the repository's build output.</summary>
    private static string FindCloudDll()
    {
        string beside = Path.Combine(AppContext.BaseDirectory, "kpu-cloud.dll");
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string built = Path.Combine(dir.FullName, "cloud", "KpuEdge.Cloud", "bin", "Release", "net10.0", "kpu-cloud.dll");
            if (File.Exists(Path.Combine(dir.FullName, "KpuEdge.sln")) && File.Exists(built)) return built;
        }
        if (File.Exists(beside) && File.Exists(Path.Combine(AppContext.BaseDirectory, "kpu-cloud.runtimeconfig.json"))) return beside;
        throw new FileNotFoundException("kpu-cloud.dll not found: build the solution (./kpu build) first.");
    }

    /// <summary>The command-line settings of node <paramref name="index"/>: everything that makes it a node of this cluster.</summary>
    public IReadOnlyList<string> ArgumentsOf(int index)
    {
        var node = _nodes[index];
        return
        [
            $"--Cloud:NodeName={node.Name}",
            "--Cloud:Clustering=Redis",
            $"--Cloud:RedisConnection={Redis.ConnectionString}",
            "--Cloud:ClusterId=kpu-local",
            "--Cloud:Ledger=Postgres",
            $"--Cloud:PostgresConnection={Postgres.ConnectionString}",
            $"--Cloud:BrokerPort={node.BrokerPort}",
            $"--Cloud:HttpUrl=http://127.0.0.1:{node.HttpPort}",
            $"--Nsoc:WallUrl=http://127.0.0.1:{node.WallPort}",
            $"--Nsoc:InfluxUrl={Influx?.Url ?? ""}",
            $"--Cloud:SiloPort={node.SiloPort}",
            $"--Cloud:GatewayPort={node.GatewayPort}",
            $"--Cloud:PkiDirectory={Path.Combine(node.Directory, "pki")}",
            $"--Cloud:RegistryPath={RegistryPath}",
            $"--Cloud:ImageDirectory={Path.Combine(_options.DataDirectory, "shared", "images")}",
            $"--Cloud:PublicDirectory={Path.Combine(_options.DataDirectory, "shared", "public")}",
            $"--Cloud:CrlPath={Path.Combine(node.Directory, "crl.der")}",
            $"--Cloud:OperatorTokenFile={Path.Combine(_options.DataDirectory, "shared", "operator-token")}",
            .. _options.ExtraArguments,
        ];
    }

    /// <summary>Starts (or restarts) node <paramref name="index"/> on its ports and waits until its API answers and its ingest is subscribed.</summary>
    public async Task StartNodeAsync(int index, CancellationToken cancellationToken = default)
    {
        if (_processes[index] is { HasExited: false }) throw new InvalidOperationException($"{_nodes[index].Name} is running.");
        var node = _nodes[index];
        Directory.CreateDirectory(node.Directory);
        Pki.SaveForNode(Path.Combine(node.Directory, "pki"), node.Name);
        long offset = ServiceProcess.LogLength(node.LogPath);
        // Tied to this process's life (setpriv --pdeathsig): a node never outlives the cluster that started it.
        var process = await ServiceProcess.LaunchAsync(node.Name, ["setpriv", "--pdeathsig", "KILL", "--", "dotnet", _cloudDll, .. ArgumentsOf(index)],
            node.Directory, node.LogPath,
            Path.Combine(node.Directory, "node.pid"), SigTerm);
        _processes[index] = process;
        using var http = new HttpClient { BaseAddress = node.ApiBase, Timeout = TimeSpan.FromSeconds(5) };
        await process.WaitUntilReadyAsync(async ct =>
        {
            try { return (await http.GetAsync("api/v1/status", ct)).IsSuccessStatusCode && File.ReadAllText(node.LogPath)[(int)Math.Min(offset, new FileInfo(node.LogPath).Length)..].Contains("Ingest subscribed"); }
            catch (HttpRequestException) { return false; }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested) { return false; }
        }, _options.StartTimeout, offset, cancellationToken);
    }

    /// <summary>Ends node <paramref name="index"/> as a crash would: SIGKILL, no goodbye to the cluster.</summary>
    public async Task KillNodeAsync(int index)
    {
        var process = _processes[index] ?? throw new InvalidOperationException($"{_nodes[index].Name} is not running.");
        _processes[index] = null;
        await process.KillAsync();
    }

    /// <summary>Stops node <paramref name="index"/> cleanly (SIGTERM: it leaves the cluster and hands over its grains).</summary>
    public async Task StopNodeAsync(int index)
    {
        var process = _processes[index];
        _processes[index] = null;
        if (process is null || process.HasExited) return;
        process.Signal(SigTerm);
        if (!await process.WaitForExitAsync(TimeSpan.FromSeconds(60))) await process.KillAsync();
        else process.Forget();
    }

    /// <summary>
    /// Registers devices in the shared registry file every node reads, and returns once every running node's API
    /// knows them (a node imports the file into the shared ledger when it meets a device it does not know).
    /// </summary>
    public async Task RegisterAsync(IReadOnlyCollection<DeviceCredentials> devices, CancellationToken cancellationToken = default)
    {
        var registry = File.Exists(RegistryPath) ? DeviceRegistry.Load(RegistryPath) : new DeviceRegistry();
        foreach (var device in devices) registry.Register(DeviceRecord.FromCertificate(device.SigningCertificate));
        registry.Save(RegistryPath);
        if (devices.Count == 0) return;
        var probe = devices.Last().DeviceId;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < _nodes.Length; i++)
        {
            if (ProcessId(i) is null) continue;
            using var http = new HttpClient { BaseAddress = _nodes[i].ApiBase };
            while (!(await http.GetAsync($"api/v1/devices/{probe}/certificate", cancellationToken)).IsSuccessStatusCode)
            {
                if (clock.Elapsed > TimeSpan.FromSeconds(30)) throw new TimeoutException($"{_nodes[i].Name} has not read {RegistryPath}.");
                await Task.Delay(200, cancellationToken);
            }
        }
    }

    /// <summary>How a device reaches node <paramref name="index"/>'s broker.</summary>
    public BrokerConnection ConnectionFor(DeviceCredentials device, int index) =>
        BrokerConnection.For(device, "127.0.0.1", _nodes[index].BrokerPort, Pki.LogKey);

    public async ValueTask DisposeAsync()
    {
        // All nodes at once (a cluster shutting down), then the servers they use, which are still up for their goodbyes.
        await Task.WhenAll(Enumerable.Range(0, _nodes.Length).Select(StopNodeAsync));
        await Postgres.DisposeAsync();
        await Redis.DisposeAsync();
        if (Influx is not null) await Influx.DisposeAsync();
    }
}
