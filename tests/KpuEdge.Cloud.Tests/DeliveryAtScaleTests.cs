using System.Diagnostics;
using KpuEdge.Edge.Delivery;
using KpuEdge.LinkEmulator;
using KpuEdge.Simulator;
using Xunit.Abstractions;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// A thousand TPS devices in Papua and Maluku at the close of counting, each with its durable outbox and delivery loop,
/// five forms and a photographed page per form, over a satellite-like link that resets a fifth of its connections
/// mid-stream and goes down for a while: every tally and every image arrives, nothing is counted twice, the recap is
/// exactly what the devices signed — in bounded time.
/// </summary>
public sealed class DeliveryAtScaleTests(ITestOutputHelper output)
{
    /// <summary>
    /// vsat-3t's rates (32 kbit/s up, 64 down, per connection), its round trip shortened from 600 to 120 ms so the test
    /// stays quick, one connection in five reset once it has carried 1–40 KB, and an outage 15–25 s after the start.
    /// </summary>
    private static readonly LinkProfile ShortVsat = new()
    {
        Name = "test-vsat-at-scale",
        Latency = TimeSpan.FromMilliseconds(60), Jitter = TimeSpan.FromMilliseconds(20),
        UpBytesPerSecond = 4_000, DownBytesPerSecond = 8_000,
        Resets = new LinkResets { FractionOfConnections = 0.2, AfterBytesMin = 1_000, AfterBytesMax = 40_000 },
        Outages = [new LinkOutage(TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(25))],
    };

    [Fact]
    public async Task A_thousand_devices_deliver_every_tally_and_image_once_through_resets_and_an_outage()
    {
        var watch = Stopwatch.StartNew();
        var result = await DeliveryScenario.RunAsync(new DeliveryScenarioOptions
        {
            Devices = 1_000,
            Seed = 77,
            // Papua and Maluku: no Jakarta TPS, so every device has all five contests.
            Provinces = ["91", "94", "81", "82"],
            // One page of 3–6 KB per contest, in 2 KB chunks: every image travels as several chunks.
            Pages = ScenarioPages.Synthetic(pagesPerContest: 1, minBytes: 3_000, maxBytes: 6_000, seed: 77),
            Delivery = new DeliveryOptions
            {
                ImageChunkBytes = 2_048, BackoffBase = TimeSpan.FromMilliseconds(200), BackoffMax = TimeSpan.FromSeconds(3),
                ResendAfter = TimeSpan.FromSeconds(20), KeepAlive = TimeSpan.FromSeconds(10), ConnectTimeout = TimeSpan.FromSeconds(30),
            },
            Links = LinkAssignment.AllOn(ShortVsat),
            Tree = CloudFixture.Tree,
            Election = CloudFixture.Election,
            // Bounded, generously: on a loaded machine (the other test assemblies run alongside) the handshakes alone take minutes.
            Timeout = TimeSpan.FromMinutes(12),
            ImagesCheckedOverHttp = 300,
            Progress = output.WriteLine,
        });
        watch.Stop();

        var link = result.Profiles[ShortVsat.Name].Link;
        output.WriteLine($"{watch.Elapsed.TotalSeconds:F0} s in all, {result.Elapsed.TotalSeconds:F0} s delivering; {result.Connects} connections " +
                         $"({link.Resets} reset mid-stream, {link.CutByOutage} cut and {link.RefusedDuringOutage} refused by the outage); " +
                         $"{result.CloudDuplicates} resends answered as duplicates; {result.ChunksSent} chunks sent for {result.ChunksNeeded} " +
                         $"({result.PageRestarts} pages restarted after the cloud went quiet); " +
                         $"tallies p50 / p99 {result.Profiles[ShortVsat.Name].Tallies}, images {result.Profiles[ShortVsat.Name].Images}.");

        Assert.False(result.TimedOut, string.Join("; ", result.Problems()));
        Assert.Equal(5_000, result.FormsSigned);
        Assert.Equal(5_000, result.FormsReceipted);
        Assert.Equal(0, result.FormsRejected);
        // Resends whose receipts were lost reach the cloud again: answered as duplicates, counted once.
        Assert.Equal(5_000, result.CloudAccepted);
        Assert.Equal(0, result.CloudRejected);
        Assert.Empty(result.RecapProblems);
        Assert.Equal(5_000, result.Pages);
        Assert.Equal(5_000, result.PagesStoredPerDevices);
        Assert.Equal(5_000, result.PagesInLedger);
        Assert.Equal(300, result.PagesCheckedOverHttp);
        Assert.Empty(result.ImageProblems);
        Assert.True(result.Exact);
        // The link did bite: connections died mid-stream and in the outage, and devices came back.
        Assert.True(link.Resets >= 100, $"only {link.Resets} resets");
        Assert.True(link.CutByOutage + link.RefusedDuringOutage > 0, "the outage cut nothing");
        Assert.True(result.Connects > 1_000, $"{result.Connects} connections for 1,000 devices");
        // Resuming resends at most what was in flight at each drop (or when the cloud went quiet about a page for the resend
        // interval, as it may on a loaded machine), never whole images again.
        Assert.InRange(result.ChunksSent, result.ChunksNeeded,
            result.ChunksNeeded + (result.Connects + result.PageRestarts) * new DeliveryOptions().ImageChunksInFlight);
    }
}
