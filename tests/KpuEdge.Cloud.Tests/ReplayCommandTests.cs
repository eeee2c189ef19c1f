using System.Text.Json;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Simulator;
using KpuEdge.Simulator.Replay;
using Spectre.Console;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// `kpu-sim replay` end to end, in process: an election loaded from files, every accepted row signed by its TPS's own
/// device and sent through the real broker(s), the public API's national and per-province totals against the file's.
/// </summary>
public sealed class ReplayCommandTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"kpu-replay-cmd-{Guid.NewGuid():N}");

    public ReplayCommandTests() => Directory.CreateDirectory(_folder);

    private sealed record Run(int ExitCode, string Output)
    {
        public JsonElement Json => JsonDocument.Parse(Output.TrimEnd().Split('\n')[^1]).RootElement;
    }

    private static async Task<Run> ReplayAsync(ReplayCommand.Settings settings)
    {
        var text = new StringWriter();
        // The progress display writes from its own thread.
        var output = TextWriter.Synchronized(text);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No, Out = new AnsiConsoleOutput(output),
        });
        console.Profile.Width = 200;
        int exitCode = await ReplayCommand.RunAsync(settings with { Json = true, Concurrency = 32 }, console, output, CancellationToken.None);
        return new Run(exitCode, text.ToString());
    }

    [Fact]
    public async Task A_file_of_60_TPS_through_one_node_publishes_exactly_the_files_sums_and_lists_each_broken_row_with_its_reason()
    {
        string registry = Path.Combine(_folder, "registry.csv"), results = Path.Combine(_folder, "results.csv");
        var written = ReplayFiles.WriteSynthetic(CloudFixture.Tree, registry, results,
            new SyntheticReplayOptions { Seed = 3, TpsCount = 60, BrokenRows = 11 });

        var run = await ReplayAsync(new ReplayCommand.Settings
        {
            RegistryPath = registry, ResultsPath = results, DataDirectory = Path.Combine(_folder, "data"), Seed = 3,
        });

        Assert.True(run.ExitCode == 0, run.Output);
        var json = run.Json;
        Assert.True(json.GetProperty("ok").GetBoolean());
        Assert.Equal(written.GoodRows, json.GetProperty("forms").GetInt64());
        Assert.Equal(written.GoodRows, json.GetProperty("accepted").GetInt64());
        // Every broken row listed with its line and reason (read across the table's wrapped cells), and counted by reason.
        string listing = System.Text.RegularExpressions.Regex.Replace(run.Output, @"[│\s]+", " ");
        foreach (var broken in written.BrokenRows)
            Assert.True(System.Text.RegularExpressions.Regex.IsMatch(listing, $@"results line {broken.Line}\b"), $"line {broken.Line} ({broken.What}) not listed:\n{run.Output}");
        Assert.All(written.BrokenRows.Select(b => b.Expected.Code()).Distinct(), code => Assert.Contains($" {code} ", listing));
        var refused = json.GetProperty("refused");
        foreach (var kind in written.BrokenRows.GroupBy(b => b.Expected))
            Assert.Equal(kind.Count(), refused.GetProperty(kind.Key.Code()).GetInt32());

        // The file's side is the writer's own sums (a second, independent sum); the API's side equals it, nationally and per province.
        var totals = json.GetProperty("totals");
        foreach (var contest in Contests.All)
        {
            var nasional = totals.GetProperty(contest.Slug()).GetProperty("nasional");
            var expected = written.ExpectedSums.Nasional(contest);
            Assert.Equal(expected.SuaraSah, nasional.GetProperty("file").GetProperty("suara_sah").GetInt64());
            Assert.Equal(expected.SuaraSah, nasional.GetProperty("api").GetProperty("suara_sah").GetInt64());
            Assert.Equal(expected.Forms, nasional.GetProperty("api").GetProperty("tps").GetInt64());
            Assert.True(nasional.GetProperty("equal").GetBoolean());
            foreach (var (province, sums) in written.ExpectedSums.Provinces(contest))
            {
                var view = totals.GetProperty(contest.Slug()).GetProperty("provinces").GetProperty(province.ToString());
                Assert.True(view.GetProperty("equal").GetBoolean());
                Assert.Equal(sums.SuaraTidakSah, view.GetProperty("api").GetProperty("suara_tidak_sah").GetInt64());
                foreach (var (choice, votes) in sums.Votes)
                    Assert.Equal(votes, view.GetProperty("api").GetProperty("votes").GetProperty(choice).GetInt64());
            }
        }
    }

    [Fact]
    public async Task A_synthetic_file_of_30_TPS_through_three_clustered_nodes_publishes_the_files_sums_on_every_node()
    {
        // In batches of 12 devices: provisioned, registered with every node and sent one batch after another, into one report.
        var run = await ReplayAsync(new ReplayCommand.Settings
        {
            SyntheticTps = 30, Nodes = 3, DataDirectory = Path.Combine(_folder, "data"), Seed = 5, BatchSize = 12,
        });

        Assert.True(run.ExitCode == 0, run.Output);
        var json = run.Json;
        Assert.True(json.GetProperty("ok").GetBoolean());
        Assert.Equal(3, json.GetProperty("nodes").GetInt32());
        Assert.True(json.GetProperty("refused").EnumerateObject().Any(), "the synthetic files carry broken rows");
        Assert.Equal(json.GetProperty("forms").GetInt64(), json.GetProperty("accepted").GetInt64());
        // The devices were spread over all three nodes' brokers.
        var spread = run.Output.Split('\n').Single(l => l.Contains("Devices per node's broker", StringComparison.Ordinal));
        var perNode = spread.Split('│', StringSplitOptions.RemoveEmptyEntries)[1].Split('/').Select(n => int.Parse(n.Trim())).ToArray();
        Assert.Equal(3, perNode.Length);
        Assert.All(perNode, n => Assert.True(n > 0));
        Assert.Equal(30, perNode.Sum());
    }

    [Fact]
    public async Task A_registry_whose_codes_and_names_are_not_2024s_gets_its_own_ballots_and_exact_totals()
    {
        // Province 99 with seven kab/kota (two DPR dapil of six), province 98 with one kota of four kecamatan (two DPRD Kab/Kota dapil).
        var builder = new RegionTreeBuilder().AddRegion(RegionCode.Parse("99"), "PROVINSI UJI").AddRegion(RegionCode.Parse("98"), "PROVINSI CONTOH");
        for (int kab = 1; kab <= 7; kab++)
        {
            string k = $"99{kab:D2}";
            builder.AddRegion(RegionCode.Parse(k), $"KABUPATEN UJI {kab}").AddRegion(RegionCode.Parse($"{k}01"), $"KECAMATAN UJI {kab}");
            for (int desa = 1; desa <= 2; desa++)
            {
                var code = RegionCode.Parse($"{k}01{2000 + desa}");
                builder.AddRegion(code, $"DESA \"UJI\", {kab}-{desa}").AddTps(code, [1, 2]);
            }
        }
        builder.AddRegion(RegionCode.Parse("9871"), "KOTA CONTOH");
        for (int kec = 1; kec <= 4; kec++)
        {
            var code = RegionCode.Parse($"9871{kec:D2}1001");
            builder.AddRegion(code.Parent, $"KECAMATAN CONTOH {kec}").AddRegion(code, $"KELURAHAN CONTOH {kec}").AddTps(code, [1]);
        }
        var tree = builder.Build();
        string registry = Path.Combine(_folder, "registry.csv"), results = Path.Combine(_folder, "results.csv");
        var written = ReplayFiles.WriteSynthetic(tree, registry, results, new SyntheticReplayOptions { Seed = 9 });

        var run = await ReplayAsync(new ReplayCommand.Settings
        {
            RegistryPath = registry, ResultsPath = results, DataDirectory = Path.Combine(_folder, "data"), Seed = 9,
        });

        Assert.True(run.ExitCode == 0, run.Output);
        var json = run.Json;
        Assert.True(json.GetProperty("ok").GetBoolean());
        Assert.Equal(32 * 5, json.GetProperty("accepted").GetInt64());
        Assert.Equal(written.GoodRows, json.GetProperty("forms").GetInt64());
        // DPD candidates are keyed by the file's own province codes.
        var dpd = json.GetProperty("totals").GetProperty("dpd").GetProperty("provinces").GetProperty("99").GetProperty("api").GetProperty("votes");
        Assert.Equal(written.ExpectedSums.Province(ContestId.Dpd, RegionCode.Parse("99")).Votes["99-01"], dpd.GetProperty("99-01").GetInt64());
        Assert.Contains("PROVINSI CONTOH", run.Output);
    }

    [Fact]
    public void Totals_differ_in_every_field_and_choice_that_differs_a_choice_missing_on_one_side_counting_as_zero()
    {
        var file = new RegionTotals(3, 600, 500, 490, 10, new Dictionary<string, long> { ["1"] = 200, ["2"] = 290, ["3"] = 0 });
        Assert.Empty(file.Differences(file with { Votes = new Dictionary<string, long> { ["1"] = 200, ["2"] = 290 } }));

        var api = new RegionTotals(2, 600, 501, 490, 10, new Dictionary<string, long> { ["1"] = 200, ["2"] = 289, ["4"] = 1 });
        Assert.Equal(["TPS 2 vs 3", "pengguna_total 501 vs 500", "votes 2 289 vs 290", "votes 4 1 vs 0"], api.Differences(file));
    }

    public void Dispose()
    {
        try { Directory.Delete(_folder, recursive: true); }
        catch (IOException) { /* a file still open on the way down: the OS cleans temp */ }
        catch (UnauthorizedAccessException) { /* files of the database's own account: the OS cleans temp */ }
    }
}
