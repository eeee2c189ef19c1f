using KpuEdge.Cloud;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Edge.Transport;
using KpuEdge.TestSupport.LocalServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KpuEdge.TestSupport;

/// <summary>
/// A real cluster inside this process: its own Redis (membership) and PostgreSQL (the ledger) started under
/// <c>dataDirectory</c>, and N cloud nodes — each an Orleans silo, MQTT broker, ingest and HTTP API on its own ports,
/// with its own ingest identity — clustered through that Redis and sharing that ledger (with the device registry and
/// the revocation lists in it) and the image store. What the cluster tests and <c>kpu-sim cluster</c> run against.
/// </summary>
public sealed class InProcessCluster : IAsyncDisposable
{
    private readonly string _dataDirectory;
    private readonly RegionTree _tree;
    private readonly ElectionDefinition _election;
    private readonly LogLevel _logLevel;
    private readonly Action<CloudOptions>? _configure;
    private readonly InProcessCloud?[] _nodes;

    private InProcessCluster(string dataDirectory, RegionTree tree, ElectionDefinition election, SimulationPki pki, LocalRedis redis,
        LocalPostgres postgres, int nodes, LogLevel logLevel, Action<CloudOptions>? configure)
    {
        _dataDirectory = dataDirectory;
        _tree = tree;
        _election = election;
        Pki = pki;
        Redis = redis;
        Postgres = postgres;
        _logLevel = logLevel;
        _configure = configure;
        _nodes = new InProcessCloud?[nodes];
    }

    public SimulationPki Pki { get; }
    public LocalRedis Redis { get; }
    public LocalPostgres Postgres { get; }

    /// <summary>The nodes running now (a stopped node is left out).</summary>
    public IReadOnlyList<InProcessCloud> Nodes => _nodes.OfType<InProcessCloud>().ToList();

    public InProcessCloud Node(int index) => _nodes[index] ?? throw new InvalidOperationException($"Node {index} is stopped.");

    public static async Task<InProcessCluster> StartAsync(string dataDirectory, RegionTree tree, ElectionDefinition election, int nodes = 3,
        LogLevel logLevel = LogLevel.Warning, Action<CloudOptions>? configure = null, SimulationPki? pki = null, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(Path.Combine(dataDirectory, "shared"));
        var redis = await LocalRedis.StartAsync(Path.Combine(dataDirectory, "services"), ct: cancellationToken);
        LocalPostgres? postgres = null;
        try
        {
            postgres = await LocalPostgres.StartAsync(Path.Combine(dataDirectory, "services"), ct: cancellationToken);
            var cluster = new InProcessCluster(dataDirectory, tree, election, pki ?? SimulationPki.Create(election), redis, postgres, nodes, logLevel, configure);
            // One at a time: the first creates the ledger's schema and the cluster's membership table.
            for (int i = 0; i < nodes; i++) await cluster.StartNodeAsync(i, cancellationToken);
            return cluster;
        }
        catch
        {
            if (postgres is not null) await postgres.DisposeAsync();
            await redis.DisposeAsync();
            throw;
        }
    }

    public static string NodeName(int index) => $"node-{index + 1}";

    /// <summary>Starts (or restarts) node <paramref name="index"/> with its own ports and data folder.</summary>
    public async Task<InProcessCloud> StartNodeAsync(int index, CancellationToken cancellationToken = default)
    {
        if (_nodes[index] is not null) throw new InvalidOperationException($"Node {index} is running.");
        string name = NodeName(index);
        var node = await InProcessCloud.StartAsync(Path.Combine(_dataDirectory, name), _tree, _election, _logLevel, options =>
        {
            options.NodeName = name;
            options.Clustering = ClusteringMode.Redis;
            options.RedisConnection = Redis.ConnectionString;
            options.ClusterId = "kpu-test";
            options.Ledger = LedgerKind.Postgres;
            options.PostgresConnection = Postgres.ConnectionString;
            options.ImageDirectory = Path.Combine(_dataDirectory, "shared", "images");
            options.PublicDirectory = Path.Combine(_dataDirectory, "shared", "public");
            _configure?.Invoke(options);
        }, Pki, Pki.CloudForNode(name), cancellationToken);
        _nodes[index] = node;
        return node;
    }

    /// <summary>Stops node <paramref name="index"/> (its silo leaves the cluster; its grains move to the others).</summary>
    public async Task StopNodeAsync(int index)
    {
        var node = _nodes[index] ?? throw new InvalidOperationException($"Node {index} is stopped.");
        _nodes[index] = null;
        await node.DisposeAsync();
    }

    /// <summary>Registers devices through one node: they are in the shared ledger's registry, so every node serves them.</summary>
    public Task RegisterAsync(IReadOnlyCollection<DeviceCredentials> devices, CancellationToken cancellationToken = default) =>
        Nodes[0].RegisterAsync(devices, cancellationToken);

    /// <summary>How a device reaches node <paramref name="index"/>'s broker.</summary>
    public BrokerConnection ConnectionFor(DeviceCredentials device, int index) => Node(index).ConnectionFor(device);

    public async ValueTask DisposeAsync()
    {
        // Last to first: the first node's silo holds the most grains; the others hand theirs over as they leave.
        for (int i = _nodes.Length - 1; i >= 0; i--)
        {
            if (_nodes[i] is { } node) await node.DisposeAsync();
            _nodes[i] = null;
        }
        await Postgres.DisposeAsync();
        await Redis.DisposeAsync();
    }
}
