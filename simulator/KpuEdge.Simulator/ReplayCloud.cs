using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.TestSupport;
using Microsoft.Extensions.Logging;

namespace KpuEdge.Simulator;

/// <summary>
/// The cloud a replay sends to, started in process over the replay's own region tree: one node (SQLite ledger), or a
/// cluster of N nodes (Orleans membership in Redis, one PostgreSQL ledger; both servers started under the folder) whose
/// brokers the devices are spread over.
/// </summary>
public sealed class ReplayCloud : IAsyncDisposable
{
    private readonly InProcessCloud? _single;
    private readonly InProcessCluster? _cluster;
    private readonly SimulationPki _pki;
    private bool _disposed;

    private ReplayCloud(InProcessCloud? single, InProcessCluster? cluster, SimulationPki pki)
    {
        _single = single;
        _cluster = cluster;
        _pki = pki;
    }

    public static async Task<ReplayCloud> StartAsync(string directory, int nodes, RegionTree tree, ElectionDefinition election, SimulationPki pki,
        CancellationToken cancellationToken)
    {
        if (nodes == 1)
            return new ReplayCloud(await InProcessCloud.StartAsync(directory, tree, election, LogLevel.Error, pki: pki, cancellationToken: cancellationToken), null, pki);
        return new ReplayCloud(null, await InProcessCluster.StartAsync(directory, tree, election, nodes, LogLevel.Error, pki: pki, cancellationToken: cancellationToken), pki);
    }

    public IReadOnlyList<InProcessCloud> Nodes => _single is not null ? [_single] : _cluster!.Nodes;

    public IReadOnlyList<Uri> ApiBases => Nodes.Select(n => n.ApiBase).ToArray();

    /// <summary>Every node's broker; a device sends to one of them.</summary>
    public SimulationTarget Target => new(Nodes.Select(n => (n.BrokerHost, n.BrokerPort)).ToArray(), _pki.LogKey);

    public string Describe() => _single is { } node
        ? $"one node — Orleans silo, MQTT broker on {node.BrokerHost}:{node.BrokerPort} (TLS, client certificates required), SQLite ledger and " +
          $"transparency log {node.Options.LedgerPath}, API {node.ApiBase}"
        : $"{Nodes.Count} nodes clustered through Redis on port {_cluster!.Redis.Port} with one PostgreSQL ledger on port {_cluster.Postgres.Port} — " +
          string.Join("; ", Nodes.Select(n => $"{n.Options.NodeName}: broker {n.BrokerHost}:{n.BrokerPort}, API {n.ApiBase}"));

    /// <summary>Registers the devices' signing certificates with the cloud before they send.</summary>
    public async Task RegisterAsync(IReadOnlyList<SimulatedDevice> devices, CancellationToken cancellationToken)
    {
        // Through one node: the registry is in the ledger, which every node of a cluster shares.
        await Nodes[0].RegisterAsync(devices.Select(d => d.Credentials), cancellationToken);
    }

    /// <summary>Every node pushes what its grains hold up to the nation.</summary>
    public async Task SettleAsync()
    {
        foreach (var node in Nodes) await node.Recap.SettleAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        if (_single is not null) await _single.DisposeAsync();
        if (_cluster is not null) await _cluster.DisposeAsync();
    }
}
