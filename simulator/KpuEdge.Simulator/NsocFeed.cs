using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using KpuEdge.TestSupport;
using Spectre.Console;

namespace KpuEdge.Simulator;

/// <summary>`kpu-sim nsoc --broker host:port`: a fleet's health reports, with faults, to a running cloud until Ctrl+C.</summary>
public static class NsocFeed
{
    public static async Task<int> RunAsync(int tpsCount, string[] provinces, int seed, string broker, string registryPath, string pkiDirectory, CancellationToken cancellationToken)
    {
        var tree = RegionTree.LoadEmbedded();
        var election = ElectionDefinition.Default;
        var simulation = new SimulatedElection(tree, election, seed);
        var pki = SimulationPki.Load(pkiDirectory, election);
        var devices = simulation.Provision(simulation.PickTps(tpsCount, provinces), pki.Pki);
        var registry = DeviceRegistry.Load(registryPath, pki.Pki.Trust, DateTimeOffset.UtcNow);
        foreach (var device in devices) registry.Register(DeviceRecord.FromCertificate(device.Credentials.SigningCertificate));
        if (Path.GetDirectoryName(Path.GetFullPath(registryPath)) is { } dir) Directory.CreateDirectory(dir);
        registry.Save(registryPath);
        int colon = broker.LastIndexOf(':');
        var target = new SimulationTarget(broker[..colon], int.Parse(broker[(colon + 1)..]), pki.LogKey);
        await using var fleet = new FleetTelemetry(devices, target, seed);
        await fleet.ConnectAsync(cancellationToken);
        AnsiConsole.MarkupLine($"{devices.Count:N0} devices connected to {Markup.Escape(broker)} (registered in {Markup.Escape(registryPath)}); " +
                               $"{fleet.Silent} will go silent, {fleet.LowBattery} start on a low battery, one case opens, one clock is 5 min off. Ctrl+C to stop.");
        await fleet.RoundAsync(cancellationToken);
        await fleet.ForgedCertificateAttemptsAsync(election, pki.Pki.Trust, NsocStep.ForgedAttempts, cancellationToken);
        await NsocStep.KeepReportingAsync(fleet, TimeSpan.FromSeconds(30), cancellationToken);
        return 0;
    }
}
