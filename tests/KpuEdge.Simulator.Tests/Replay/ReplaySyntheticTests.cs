using System.Diagnostics;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Simulator.Replay;
using Xunit.Abstractions;

namespace KpuEdge.Simulator.Tests.Replay;

public class ReplaySyntheticTests(ITestOutputHelper output) : IDisposable
{
    private static readonly RegionTree Tree = RegionTree.LoadEmbedded();
    private static readonly ElectionDefinition Election = ElectionDefinition.Default;
    private readonly ReplayTestFiles _files = new();

    public void Dispose() => _files.Dispose();

    private SyntheticReplay Write(SyntheticReplayOptions options) =>
        ReplayFiles.WriteSynthetic(Tree, _files.RegistryPath, _files.ResultsPath, options);

    [Fact]
    public void Synthetic_files_load_back_with_the_same_sums_nationally_and_per_province()
    {
        var written = Write(new SyntheticReplayOptions { Seed = 7, TpsCount = 1_500, EmptyFieldShare = 0.2 });
        var election = ReplayElection.Load(_files.RegistryPath, _files.ResultsPath);

        Assert.Empty(election.Refused);
        Assert.Equal(1_500, election.Registry.TpsCount);
        Assert.Equal(written.ResultRows, election.ResultRows);
        Assert.Equal(written.GoodRows, election.Forms.Count);
        // Spread over the nation: every province has TPS, and Jakarta's have four contests.
        Assert.Equal(38, election.Tree.Nasional.Children.Count);
        Assert.All(election.Forms.Where(f => f.Tps.Value.StartsWith("31")), f => Assert.NotEqual(ContestId.DprdKabKota, f.Contest));

        foreach (var contest in Contests.All)
        {
            AssertSame(written.ExpectedSums.Nasional(contest), election.FileSums.Nasional(contest));
            foreach (var province in Tree.Nasional.Children)
                AssertSame(written.ExpectedSums.Province(contest, province), election.FileSums.Province(contest, province));
        }

        // And independently of the writer's own sums: PPWP in Jawa Barat straight from SyntheticTally.
        var ballots = Election.Ballots(Tree);
        var jabar = RegionCode.Parse("32");
        var tallies = election.Registry.Tps.Where(t => jabar.Contains(t.Tps.Region))
            .Select(t => SyntheticTally.ForTps(t.Tps, ballots, Election, 7).Single(x => x.Contest == ContestId.Ppwp)).ToList();
        var sums = election.FileSums.Province(ContestId.Ppwp, jabar);
        Assert.Equal(tallies.Count, sums.Forms);
        Assert.Equal(tallies.Sum(t => (long)t.SuaraSah), sums.SuaraSah);
        Assert.Equal(tallies.Sum(t => (long)t.SuaraTidakSah), sums.SuaraTidakSah);
        Assert.Equal(tallies.Sum(t => (long)t.PenggunaTotal.Total), sums.PenggunaTotal);
        Assert.Equal(tallies.Sum(t => (long)t.Dpt.Total), sums.Dpt);
        for (int pair = 1; pair <= 3; pair++)
            Assert.Equal(tallies.Sum(t => (long)t.Suara[pair - 1].Total), sums.Votes[pair.ToString()]);

        // The accepted tallies carry the file's numbers.
        var first = election.Forms[0];
        var original = SyntheticTally.ForTps(first.Tps, ballots, Election, 7).Single(t => t.Contest == first.Contest);
        Assert.Equal(original.Suara.Select(v => v.Total), first.Tally.Suara.Select(v => v.Total));
        Assert.Equal(original.SuaraSah, first.Tally.SuaraSah);
        Assert.Equal(original.PenggunaTotal.Total, first.Tally.PenggunaTotal.Total);
    }

    private static void AssertSame(ReplayTotals expected, ReplayTotals actual)
    {
        Assert.Equal(expected.Forms, actual.Forms);
        Assert.Equal(expected.Dpt, actual.Dpt);
        Assert.Equal(expected.PenggunaTotal, actual.PenggunaTotal);
        Assert.Equal(expected.SuaraSah, actual.SuaraSah);
        Assert.Equal(expected.SuaraTidakSah, actual.SuaraTidakSah);
        Assert.Equal(expected.Votes.OrderBy(kv => kv.Key), actual.Votes.OrderBy(kv => kv.Key));
    }

    [Fact]
    public void Each_deliberately_broken_row_is_refused_for_its_own_reason_on_its_line_while_the_rest_load()
    {
        var written = Write(new SyntheticReplayOptions { Seed = 3, TpsCount = 400, BrokenRows = 22 });
        var election = ReplayElection.Load(_files.RegistryPath, _files.ResultsPath);

        Assert.Equal(22, written.BrokenRows.Count);
        Assert.Equal(Enum.GetValues<ReplayRefusal>().Except([ReplayRefusal.DuplicateTps, ReplayRefusal.NameConflict]).Order(),
            written.BrokenRows.Select(b => b.Expected).Distinct().Order());
        Assert.Equal(written.BrokenRows.Select(b => (b.Line, b.Expected)), election.Refused.Select(r => (r.Line, r.Refusal)));
        Assert.All(election.Refused, r => Assert.False(string.IsNullOrWhiteSpace(r.Reason)));
        Assert.Equal(written.GoodRows, election.Forms.Count);
        foreach (var contest in Contests.All) AssertSame(written.ExpectedSums.Nasional(contest), election.FileSums.Nasional(contest));
    }

    [Fact]
    public void The_same_seed_writes_the_same_files()
    {
        Write(new SyntheticReplayOptions { Seed = 11, Region = RegionCode.Parse("3273"), TpsCount = 50, BrokenRows = 4 });
        var registry = File.ReadAllBytes(_files.RegistryPath);
        var results = File.ReadAllBytes(_files.ResultsPath);
        Write(new SyntheticReplayOptions { Seed = 11, Region = RegionCode.Parse("3273"), TpsCount = 50, BrokenRows = 4 });
        Assert.Equal(registry, File.ReadAllBytes(_files.RegistryPath));
        Assert.Equal(results, File.ReadAllBytes(_files.ResultsPath));
        Write(new SyntheticReplayOptions { Seed = 12, Region = RegionCode.Parse("3273"), TpsCount = 50, BrokenRows = 4 });
        Assert.NotEqual(results, File.ReadAllBytes(_files.ResultsPath));
    }

    [Fact]
    public void A_whole_province_with_names_that_need_quotes_loads_every_TPS()
    {
        // Sumatera Utara has "LUBUK PAKAM I,II": the registry quotes it and the loader reads it back.
        var written = Write(new SyntheticReplayOptions { Region = RegionCode.Parse("1207") });
        Assert.Contains("\"LUBUK PAKAM I,II\"", File.ReadAllText(_files.RegistryPath));
        var election = ReplayElection.Load(_files.RegistryPath, _files.ResultsPath);

        Assert.Empty(election.Refused);
        Assert.Equal(Tree.TpsCountOf(RegionCode.Parse("1207")), election.Registry.TpsCount);
        Assert.Equal(written.TpsCount, election.Registry.TpsCount);
        Assert.Equal("LUBUK PAKAM I,II", election.Tree.NameOf(RegionCode.Parse("1207281007")));
        Assert.Equal(Tree.TpsCountOf(RegionCode.Parse("1207")) * 5, election.Forms.Count);
    }

    [Fact]
    public void A_large_file_of_200_thousand_rows_loads_without_error()
    {
        var watch = Stopwatch.StartNew();
        var written = Write(new SyntheticReplayOptions { Seed = 5, TpsCount = 40_400, BrokenRows = 11 });
        var writeTime = watch.Elapsed;
        Assert.True(written.ResultRows >= 200_000, $"{written.ResultRows} rows");

        // Streaming: nothing kept but the sums.
        var registry = ReplayRegistry.Load(_files.RegistryPath);
        var sums = new ReplayFileSums();
        long forms = 0, refused = 0;
        watch.Restart();
        foreach (var outcome in ReplayResults.Read(_files.ResultsPath, registry, Election, sums))
        {
            if (outcome is ReplayForm) forms++;
            else refused++;
        }
        var readTime = watch.Elapsed;

        Assert.Equal(written.GoodRows, forms);
        Assert.Equal(11, refused);
        Assert.Equal(written.ExpectedSums.Nasional(ContestId.Dpr).SuaraSah, sums.Nasional(ContestId.Dpr).SuaraSah);
        output.WriteLine($"wrote {written.ResultRows:N0} rows ({new FileInfo(_files.ResultsPath).Length / 1e6:F1} MB) in {writeTime.TotalSeconds:F1} s; " +
                         $"read, filled and validated them in {readTime.TotalSeconds:F1} s = {written.ResultRows / readTime.TotalSeconds:N0} rows/s");
    }
}
