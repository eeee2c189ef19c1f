using KpuEdge.Core.Elections;
using KpuEdge.TestSupport;
using Spectre.Console;

namespace KpuEdge.Simulator;

/// <summary>
/// `kpu-sim cluster` (`./kpu cluster`): a real multi-node cloud on this machine — Redis, PostgreSQL and N kpu-cloud
/// processes — left running until Ctrl+C, for load runs, the demo against a cluster, and trying failures by hand.
/// </summary>
public static class ClusterCommand
{
    public sealed record Settings(int Nodes, string DataDirectory, int BrokerPort, int HttpPort, int SiloPort, int GatewayPort, int WallPort = 8090);

    public static async Task<int> RunAsync(Settings settings, CancellationToken cancellationToken)
    {
        var console = AnsiConsole.Console;
        console.MarkupLine($"Starting Redis, PostgreSQL, InfluxDB and {settings.Nodes} kpu-cloud nodes under [bold]{Markup.Escape(Path.GetFullPath(settings.DataDirectory))}[/] …");
        await using var cluster = await ProcessCluster.StartAsync(new ProcessClusterOptions
        {
            DataDirectory = Path.GetFullPath(settings.DataDirectory),
            Nodes = settings.Nodes,
            BrokerPort = settings.BrokerPort,
            HttpPort = settings.HttpPort,
            SiloPort = settings.SiloPort,
            GatewayPort = settings.GatewayPort,
            WallPort = settings.WallPort,
            Influx = true,
        }, ElectionDefinition.Default, cancellationToken);

        var table = new Table().AddColumns("node", "pid", "MQTT (TLS)", "API", "NSOC wall", "silo / gateway", "log");
        for (int i = 0; i < cluster.Nodes.Count; i++)
        {
            var node = cluster.Nodes[i];
            table.AddRow(node.Name, cluster.ProcessId(i)?.ToString() ?? "-", $"127.0.0.1:{node.BrokerPort}", node.ApiBase.ToString(), node.WallBase.ToString(),
                $"{node.SiloPort} / {node.GatewayPort}", Markup.Escape(node.LogPath));
        }
        console.Write(table);
        console.MarkupLine($"Membership: Redis {cluster.Redis.ConnectionString} · ledger: PostgreSQL {Markup.Escape(cluster.Postgres.ConnectionString)}");
        string adminPassword = Path.Combine(settings.DataDirectory, "shared", "nsoc-admin-password");
        console.MarkupLine($"NSOC: any node's wall, login [bold]admin[/] with the password in {Markup.Escape(Path.GetFullPath(adminPassword))}; " +
                           $"telemetry in InfluxDB {cluster.Influx?.Url}; a living fleet: [bold]./kpu nsoc --broker 127.0.0.1:{cluster.Nodes[0].BrokerPort} " +
                           $"--registry {Markup.Escape(cluster.RegistryPath)} --pki {Markup.Escape(cluster.PkiDirectory)}[/]");
        console.MarkupLine($"PKI (for `kpu-sim demo --broker`): {Markup.Escape(cluster.PkiDirectory)} · device registry: {Markup.Escape(cluster.RegistryPath)}");
        console.MarkupLine($"Send an election to node 1: [bold]./kpu demo --broker 127.0.0.1:{cluster.Nodes[0].BrokerPort} --api {cluster.Nodes[0].ApiBase} " +
                           $"--registry {Markup.Escape(cluster.RegistryPath)} --pki {Markup.Escape(cluster.PkiDirectory)}[/]");
        console.MarkupLine("To add a node: run kpu-cloud with the arguments in cloud/README.md (\"Cluster\"), a new NodeName and free ports.");
        console.MarkupLine("[grey]Ctrl+C stops the nodes, PostgreSQL and Redis (their data stays).[/]");
        try { await Task.Delay(Timeout.Infinite, cancellationToken); }
        catch (OperationCanceledException) { }
        console.MarkupLine("Stopping …");
        return 0;
    }
}
