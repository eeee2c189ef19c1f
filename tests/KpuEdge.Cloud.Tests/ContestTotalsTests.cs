using KpuEdge.Cloud.Recap;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;

namespace KpuEdge.Cloud.Tests;

/// <summary>The recap's sums: votes beside one shared array of choice keys per ballot, added by key across ballots.</summary>
public sealed class ContestTotalsTests
{
    private static readonly BallotCatalog Ballots = CloudFixture.Ballots;
    private static readonly TpsCode Aceh1 = CloudFixture.Tree.TpsIn(RegionCode.Parse("11")).First();
    private static readonly TpsCode Aceh2 = CloudFixture.Tree.TpsIn(RegionCode.Parse("11")).Skip(1).First();
    private static readonly TpsCode Papua = CloudFixture.Tree.TpsIn(RegionCode.Parse("94")).First();

    private static C1Tally Tally(TpsCode tps, ContestId contest, int seed) =>
        SyntheticTally.ForTps(tps, Ballots, CloudFixture.Election, seed).Single(t => t.Contest == contest);

    private static ContestTotals Totals(TpsCode tps, ContestId contest, int seed) =>
        ContestTotals.FromTally(Tally(tps, contest, seed), Ballots.For(contest, tps)!);

    [Fact]
    public void Every_tps_of_one_ballot_shares_one_array_of_keys()
    {
        var a = Totals(Aceh1, ContestId.Ppwp, 1);
        var b = Totals(Papua, ContestId.Ppwp, 2);
        Assert.Same(a.Keys, b.Keys);
        Assert.Equal(CloudFixture.Election.PpwpPairs.Select(p => p.Number.ToString()), a.Keys);
        // A copy of the keys (as another node's snapshot brings) becomes the shared array again.
        var copy = ContestTotals.FromTally(Tally(Aceh1, ContestId.Ppwp, 1), Ballots.For(ContestId.Ppwp, Aceh1)! with { });
        Assert.Equal(a.Keys, copy.Keys);
        copy.ShareKeys();
        Assert.Same(a.Keys, copy.Keys);
    }

    [Fact]
    public void Sums_are_the_tallies_added_choice_by_choice()
    {
        var t1 = Tally(Aceh1, ContestId.Ppwp, 1);
        var t2 = Tally(Aceh2, ContestId.Ppwp, 2);
        var sum = new ContestTotals();
        sum.Add(Totals(Aceh1, ContestId.Ppwp, 1));
        sum.Add(Totals(Aceh2, ContestId.Ppwp, 2));
        foreach (var pair in CloudFixture.Election.PpwpPairs)
        {
            long want = t1.Suara.Where(s => s.Number == pair.Number).Sum(s => (long)s.Total) + t2.Suara.Where(s => s.Number == pair.Number).Sum(s => (long)s.Total);
            Assert.Equal(want, sum.VotesFor(pair.Number.ToString()));
        }
        Assert.Equal(t1.SuaraSah + t2.SuaraSah, sum.SuaraSah);
        Assert.Equal(2, sum.TpsReported);
        Assert.Equal(0, sum.VotesFor("no such choice"));
        // Adding into a sum never changes what was added.
        var one = Totals(Aceh1, ContestId.Ppwp, 1);
        var before = one.Chart();
        var acc = new ContestTotals();
        acc.Add(one);
        acc.Add(one);
        Assert.Equal(before, one.Chart());
        Assert.Equal(2 * before.Values.Sum(), acc.Chart().Values.Sum());
    }

    [Fact]
    public void Different_ballots_add_by_key_into_one_chart()
    {
        // DPD candidates differ by province: the national sum lists both provinces' candidates, each with its votes.
        var aceh = Totals(Aceh1, ContestId.Dpd, 1);
        var papua = Totals(Papua, ContestId.Dpd, 2);
        Assert.Empty(aceh.Keys.Intersect(papua.Keys));
        var nation = new ContestTotals();
        nation.Add(aceh);
        nation.Add(papua);
        nation.Add(Totals(Aceh2, ContestId.Dpd, 3));
        Assert.Equal(aceh.Keys.Count + papua.Keys.Count, nation.Keys.Count);
        var aceh2 = Totals(Aceh2, ContestId.Dpd, 3);
        foreach (var key in aceh.Keys) Assert.Equal(aceh.VotesFor(key) + aceh2.VotesFor(key), nation.VotesFor(key));
        foreach (var key in papua.Keys) Assert.Equal(papua.VotesFor(key), nation.VotesFor(key));
        Assert.Equal(3, nation.TpsReported);
    }
}
