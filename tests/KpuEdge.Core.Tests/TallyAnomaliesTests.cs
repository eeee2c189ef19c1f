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
    public void A_TPS_whose_turnout_lies_far_from_its_regions_is_flagged()
    {
        var pattern = new RegionPattern();
        for (int i = 0; i < 30; i++) pattern.Observe("3273", Plain(dpt: 250, voters: 200)); // 80 % turnout
        var shares = pattern.Observe("3273", Plain());
        Assert.Equal(0.8, shares.Turnout, 3);
        Assert.Contains(AnomalyRules.TurnoutOutlier, Rules(Plain([30, 40, 20], dpt: 250, voters: 100), shares)); // 40 %
        Assert.DoesNotContain(AnomalyRules.TurnoutOutlier, Rules(Plain([60, 100, 20], dpt: 250, voters: 190), shares));
        Assert.DoesNotContain(AnomalyRules.TurnoutOutlier, Rules(Plain([10, 10, 5], dpt: 60, voters: 30), shares)); // too small a DPT
    }

    [Fact]
    public void A_PPK_correction_is_far_when_it_moves_a_number_by_the_minimum_and_the_share()
    {
        var device = Plain([58, 120, 30]);
        Assert.Null(TallyAnomalies.CheckCorrection(device, Plain([68, 110, 30]), Defaults)); // 10 votes < 10 % of 208
        var far = TallyAnomalies.CheckCorrection(device, Plain([948, 120, 30], voters: 1104), Defaults);
        Assert.NotNull(far);
        Assert.Equal(AnomalyRules.PpkCorrectionFar, far.Rule);
        Assert.Contains("948", far.Detail);
        Assert.Contains("58", far.Detail);
    }

    [Fact]
    public void Photos_are_missing_only_after_the_grace_and_only_while_pages_are_missing()
    {
        var grace = TimeSpan.FromMinutes(Defaults.PhotosGraceMinutes);
        Assert.Null(TallyAnomalies.CheckPhotos(0, 0, grace - TimeSpan.FromSeconds(1), Defaults));
        Assert.Equal(AnomalyRules.PhotosMissing, TallyAnomalies.CheckPhotos(0, 0, grace, Defaults)?.Rule);
        Assert.Equal(AnomalyRules.PhotosMissing, TallyAnomalies.CheckPhotos(2, 3, grace * 2, Defaults)?.Rule);
        Assert.Null(TallyAnomalies.CheckPhotos(3, 3, grace * 2, Defaults));
    }

    [Fact]
    public void Thresholds_out_of_range_are_named()
    {
        var problems = new AnomalyThresholds { PatternShareGap = 0, SingleChoiceMinVotes = 0, DptReservePercent = -1 }.Problems();
        Assert.Equal(3, problems.Count);
        Assert.Empty(Defaults.Problems());
    }
}
