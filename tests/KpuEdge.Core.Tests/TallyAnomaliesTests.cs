using KpuEdge.Core.Anomalies;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;

namespace KpuEdge.Core.Tests;

/// <summary>The anomaly rules the NSOC raises and the public portal will list: each flags what it names, and nothing else.</summary>
public class TallyAnomaliesTests
{
    private static readonly TpsCode Tps = TpsCode.Parse("3273011001003");
    private static readonly AnomalyThresholds Defaults = new();

    /// <summary>A plain PPWP form: 250 on the DPT, 214 voters, pairs 58 / 120 / 30.</summary>
    private static C1Tally Plain(int[]? votes = null, int dpt = 250, int voters = 214)
    {
        votes ??= [58, 120, 30];
        int sah = votes.Sum();
        return new C1Tally
        {
            Contest = ContestId.Ppwp, Tps = Tps,
            Dpt = GenderCount.Of(dpt / 2, dpt - dpt / 2),
            PenggunaDpt = GenderCount.Of(voters / 2, voters - voters / 2),
            PenggunaDptb = GenderCount.Of(0, 0), PenggunaDpk = GenderCount.Of(0, 0),
            PenggunaTotal = GenderCount.Of(voters / 2, voters - voters / 2),
            Disabilitas = GenderCount.Of(0, 0),
            Surat = new BallotPapers(voters + 10, voters, 0, 10),
            Suara = votes.Select((v, i) => new ChoiceVotes(i + 1, v)).ToArray(),
            SuaraSah = sah, SuaraTidakSah = voters - sah, SuaraTotal = voters,
        };
    }

    private static string[] Rules(C1Tally tally, RegionPattern.Shares? region = null) =>
        TallyAnomalies.Check(tally, Defaults, region).Select(a => a.Rule).ToArray();

    [Fact]
    public void A_plain_form_is_not_flagged() => Assert.Empty(Rules(Plain()));

    [Fact]
    public void Sums_that_do_not_add_up_are_flagged_with_the_numbers()
    {
        var anomalies = TallyAnomalies.Check(Plain() with { SuaraSah = 200 }, Defaults);
        Assert.Contains(anomalies, a => a.Rule == AnomalyRules.VotesSumNotSah && a.Detail.Contains("208") && a.Detail.Contains("200"));
        Assert.Contains(anomalies, a => a.Rule == AnomalyRules.SahPlusTidakSahNotTotal);
    }

    [Theory]
    [InlineData(250, 255, false)] // 255 ≤ 250 + 5 (2 %, rounded up)
    [InlineData(250, 256, true)]
    [InlineData(100, 102, false)]
    [InlineData(100, 103, true)]
    public void Voters_beyond_the_DPT_and_its_two_percent_reserve_are_flagged(int dpt, int voters, bool flagged)
    {
        var tally = Plain([40, 50, voters - 90 - 6], dpt, voters);
        Assert.Equal(flagged, Rules(tally).Contains(AnomalyRules.TurnoutOverDpt));
    }

    [Fact]
    public void Every_valid_vote_to_one_choice_is_flagged_from_the_minimum_count()
    {
        Assert.Contains(AnomalyRules.SingleChoiceAllVotes, Rules(Plain([0, 180, 0], voters: 186)));
        Assert.DoesNotContain(AnomalyRules.SingleChoiceAllVotes, Rules(Plain([0, 19, 0], voters: 20)));  // too few to mean anything
        Assert.DoesNotContain(AnomalyRules.SingleChoiceAllVotes, Rules(Plain([1, 179, 0], voters: 186)));
    }

    [Fact]
    public void A_TPS_far_from_its_regions_pattern_is_flagged_once_the_region_has_one()
    {
        var pattern = new RegionPattern();
        // Thirty TPS of the kab/kota where pair 2 takes 30 %.
        for (int i = 0; i < 30; i++) pattern.Observe("3273", Plain([100, 60, 40], voters: 206));
        var shares = pattern.Observe("3273", Plain([5, 195, 4], voters: 210)); // pair 2 at 96 % here
        Assert.Equal(30, shares.Forms);
        Assert.Contains(AnomalyRules.PatternOutlier, Rules(Plain([5, 195, 4], voters: 210), shares));
        Assert.DoesNotContain(AnomalyRules.PatternOutlier, Rules(Plain([70, 110, 20], voters: 206), shares));

        // With fewer forms than the pattern needs, or too few votes at the TPS, no flag.
        var young = new RegionPattern();
        for (int i = 0; i < 5; i++) young.Observe("3273", Plain([60, 100, 40], voters: 206));
        Assert.DoesNotContain(AnomalyRules.PatternOutlier, Rules(Plain([5, 195, 4], voters: 210), young.Observe("3273", Plain())));
        Assert.DoesNotContain(AnomalyRules.PatternOutlier, Rules(Plain([1, 60, 1], voters: 66), shares));
    }

    [Fact]
    public void Thresholds_out_of_range_are_named()
    {
        var problems = new AnomalyThresholds { PatternShareGap = 0, SingleChoiceMinVotes = 0, DptReservePercent = -1 }.Problems();
        Assert.Equal(3, problems.Count);
        Assert.Empty(Defaults.Problems());
    }
}
