using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Edge.Delivery;
using KpuEdge.LinkEmulator;
using Spectre.Console;

namespace KpuEdge.Simulator;

/// <summary>
/// The demo's remote-areas part: TPS devices of Papua, Maluku and Jawa Barat, each over the link its region gets
/// (mostly VSAT in the east), with durable outboxes, the delivery loop and their forms' photos recompressed for the
/// link — through the user-space link emulator to a cloud of their own. Every form counted once, the recap exact,
/// every page stored, checked against its signed hash and served byte for byte.
/// </summary>
public static class SatelliteStep
{
    private static readonly string[] Provinces = ["91", "94", "81", "82", "32"];

    /// <summary>How much faster than real the VSAT links run here, so that the photos' minutes fit in a demo.</summary>
    private const double VsatTimeScale = 8;

    public static async Task<bool> RunAsync(IAnsiConsole console, int devices, string dataDirectory, RegionTree tree, ElectionDefinition election, int seed,
        CancellationToken cancellationToken)
    {
        console.MarkupLine($"[bold]Over the satellite.[/] {devices} TPS devices in Papua, Maluku and Jawa Barat, each over its region's link " +
                           "(link-profiles.json: fibre, 4G, VSAT, a bad VSAT), with durable outboxes and the delivery loop; their form photos are " +
                           "recompressed for the link and follow the numbers in chunks. A cloud of their own, in " + Markup.Escape(dataDirectory) + ".");
        var simulation = new SimulatedElection(tree, election, seed);
        var pool = LinkImagePool.Render(simulation.PickTps(1, ["94"]), tree, election, seed);
        var result = await DeliveryScenario.RunAsync(new DeliveryScenarioOptions
        {
            Devices = devices, Seed = seed, Provinces = Provinces,
            // The first page of each contest's form: enough to watch photos travel without a demo of many minutes.
            Pages = (device, tally) => pool.Pages(device, tally).Take(1).ToList(),
            Links = LinkAssignment.ByRegion(LinkProfileSet.LoadDefault(), seed),
            TimeScale = new Dictionary<string, double> { ["vsat-3t"] = VsatTimeScale, ["vsat-3t-bad"] = VsatTimeScale },
            Delivery = new DeliveryOptions(),
            WorkDirectory = dataDirectory, Tree = tree, Election = election, Timeout = TimeSpan.FromMinutes(10),
            Progress = text => console.MarkupLine($"[grey]{Markup.Escape(text)}[/]"),
        }, cancellationToken);

        var table = new Table().Title("Delivery by link (VSAT figures in emulated time, run ×8)")
            .AddColumn("link").AddColumn(new TableColumn("TPS").RightAligned()).AddColumn(new TableColumn("numbers p50 / p99").RightAligned())
            .AddColumn(new TableColumn("photos p50 / p99").RightAligned()).AddColumn(new TableColumn("connections (resets, cut by outages)").RightAligned());
        foreach (var p in result.Profiles.Values.OrderBy(p => p.Profile, StringComparer.Ordinal))
            table.AddRow(p.Profile, $"{p.Devices}", p.Tallies.ToString(), p.Images.ToString(), $"{p.Connects} ({p.Link.Resets}, {p.Link.CutByOutage})");
        console.Write(table);
        console.MarkupLine($"{result.FormsReceipted} of {result.FormsSigned} forms receipted with verified proofs, the cloud counting {result.CloudAccepted} " +
                           $"({result.CloudDuplicates} resends answered as duplicates); {result.PagesInLedger} of {result.Pages} photos stored, each checked " +
                           $"against the hash its device signed, {result.PagesCheckedOverHttp} fetched back from the API byte for byte; " +
                           $"{result.ChunksSent:N0} chunks sent for {result.ChunksNeeded:N0}.");
        if (result.Exact)
        {
            console.MarkupLine("[green]Every form counted once, the recap equal to what the devices signed, every photo in place.[/]");
            return true;
        }
        foreach (var problem in result.Problems()) console.MarkupLine($"[red]{Markup.Escape(problem)}[/]");
        return false;
    }
}
