using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Simulator.Replay;

namespace KpuEdge.Simulator.Tests.Replay;

public class ReplayFillTests
{
    private static readonly RegionTree Tree = RegionTree.LoadEmbedded();
    private static readonly ElectionDefinition Election = ElectionDefinition.Default;
    private static readonly TpsCode Tps = TpsCode.Parse("3273011001001");

    private static Ballot BallotOf(ContestId contest) => Election.Ballots(Tree).For(contest, Tps)!;

    private static int?[] Votes(Ballot ballot, int[] totals)
    {
        var votes = new int?[ballot.Choices.Max(c => c.Number)];
        for (int i = 0; i < totals.Length; i++) votes[ballot.Choices[i].Number - 1] = totals[i];
        return votes;
    }

    [Fact]
    public void Keeps_every_given_number_and_passes_the_validator_for_seeded_random_rows()
    {
        var random = new Random(20240214);
        for (int round = 0; round < 2_000; round++)
        {
            var contest = Contests.All[random.Next(Contests.All.Count)];
            var ballot = BallotOf(contest);
            int dpt = random.Next(0, 301);
            // Users up to a little beyond the DPT (moved-in voters), within the 999 of a box.
            int pengguna = random.Next(0, Math.Min(dpt + 40, 999) + 1);
            int tidakSah = random.Next(0, pengguna / 10 + 1);
            int sah = pengguna - tidakSah;
            var totals = new int[ballot.Choices.Count];
            for (int v = 0; v < sah; v++) totals[random.Next(totals.Length)]++;
            // Leave a derivable field empty now and then; never both pengguna_total and suara_tidak_sah.
            int empty = random.Next(5);
            var row = new ResultRow(Tps, contest,
                Dpt: empty == 1 ? null : dpt,
                PenggunaTotal: empty == 2 ? null : pengguna,
                SuaraSah: empty == 3 ? null : sah,
                SuaraTidakSah: empty == 4 ? null : tidakSah,
                Votes(ballot, totals));

            Assert.True(ReplayFill.TryComplete(row, ballot, dpt, out var numbers, out _, out string reason), reason);
            var tally = ReplayFill.ToTally(Tps, ballot, numbers);

            Assert.Empty(C1Validator.Validate(tally, ballot));
            Assert.Equal(dpt, tally.Dpt.Total);
            Assert.Equal(pengguna, tally.PenggunaTotal.Total);
            Assert.Equal(sah, tally.SuaraSah);
            Assert.Equal(tidakSah, tally.SuaraTidakSah);
            Assert.Equal(totals, tally.Suara.Select(v => v.Total));
            Assert.Equal(ballot.Choices.Select(c => c.Number), tally.Suara.Select(v => v.Number));
            Assert.Equal(new ReplayNumbers(dpt, pengguna, sah, tidakSah, totals).Votes, numbers.Votes);
            Assert.Equal((dpt, pengguna, sah, tidakSah), (numbers.Dpt, numbers.PenggunaTotal, numbers.SuaraSah, numbers.SuaraTidakSah));
        }
    }

    [Fact]
    public void Users_beyond_the_DPT_count_as_DPTb()
    {
        var ballot = BallotOf(ContestId.Ppwp);
        var row = new ResultRow(Tps, ContestId.Ppwp, 200, 215, 210, 5, Votes(ballot, [70, 100, 40]));

        Assert.True(ReplayFill.TryComplete(row, ballot, 200, out var numbers, out _, out _));
        var tally = ReplayFill.ToTally(Tps, ballot, numbers);

        Assert.Equal(GenderCount.Of(100, 100), tally.Dpt);
        Assert.Equal(GenderCount.Of(100, 100), tally.PenggunaDpt);
        Assert.Equal(GenderCount.Of(8, 7), tally.PenggunaDptb);
        Assert.Equal(default, tally.PenggunaDpk);
        Assert.Equal(GenderCount.Of(108, 107), tally.PenggunaTotal);
        Assert.Empty(C1Validator.Validate(tally, ballot));
    }

    [Fact]
    public void Users_within_the_DPT_count_as_DPT_users_and_odd_counts_give_the_extra_one_to_L()
    {
        var ballot = BallotOf(ContestId.Ppwp);
        var row = new ResultRow(Tps, ContestId.Ppwp, 251, 173, null, 3, Votes(ballot, [50, 100, 20]));

        Assert.True(ReplayFill.TryComplete(row, ballot, 251, out var numbers, out _, out _));
        var tally = ReplayFill.ToTally(Tps, ballot, numbers);

        Assert.Equal(GenderCount.Of(126, 125), tally.Dpt);
        Assert.Equal(GenderCount.Of(87, 86), tally.PenggunaDpt);
        Assert.Equal(default, tally.PenggunaDptb);
        Assert.Equal(default, tally.Disabilitas);
        Assert.Equal(170, tally.SuaraSah);
    }

    [Theory]
    [InlineData(250, 200, 255)]  // DPT + 2% spare: 250 + 5
    [InlineData(251, 200, 257)]  // the spare rounded up: ⌈5.02⌉ = 6
    [InlineData(0, 0, 0)]
    [InlineData(100, 130, 130)]  // more users than DPT + spare: received covers them
    [InlineData(990, 990, 999)]  // the spare stops at the box's 999
    public void Ballot_papers_received_are_DPT_plus_two_percent_or_the_users_if_more(int dpt, int pengguna, int expectedReceived)
    {
        var ballot = BallotOf(ContestId.Ppwp);
        var row = new ResultRow(Tps, ContestId.Ppwp, dpt, pengguna, null, 0, Votes(ballot, [pengguna, 0, 0]));

        Assert.True(ReplayFill.TryComplete(row, ballot, dpt, out var numbers, out _, out _));
        var tally = ReplayFill.ToTally(Tps, ballot, numbers);

        Assert.Equal(new BallotPapers(expectedReceived, pengguna, 0, expectedReceived - pengguna), tally.Surat);
        Assert.Empty(C1Validator.Validate(tally, ballot));
    }

    [Fact]
    public void Derives_an_empty_sah_pengguna_or_tidak_sah_from_the_others()
    {
        var ballot = BallotOf(ContestId.Ppwp);
        var votes = Votes(ballot, [60, 100, 36]);
        ReplayNumbers Complete(int? pengguna, int? sah, int? tidakSah)
        {
            Assert.True(ReplayFill.TryComplete(new ResultRow(Tps, ContestId.Ppwp, null, pengguna, sah, tidakSah, votes), ballot, 250, out var numbers, out _, out string reason), reason);
            return numbers;
        }

        Assert.Equal((250, 200, 196, 4), Tuple(Complete(200, null, 4)));
        Assert.Equal((250, 200, 196, 4), Tuple(Complete(null, 196, 4)));
        Assert.Equal((250, 200, 196, 4), Tuple(Complete(200, 196, null)));
        Assert.Equal((250, 200, 196, 4), Tuple(Complete(200, null, null)));
        Assert.Equal((250, 196, 196, 0), Tuple(Complete(null, null, 0)));
        static (int, int, int, int) Tuple(ReplayNumbers n) => (n.Dpt, n.PenggunaTotal, n.SuaraSah, n.SuaraTidakSah);
    }

    [Fact]
    public void Never_changes_a_given_sum_that_disagrees_the_validator_refuses_it_instead()
    {
        var ballot = BallotOf(ContestId.Ppwp);
        var row = new ResultRow(Tps, ContestId.Ppwp, 250, 200, 190, 10, Votes(ballot, [60, 100, 36]));

        Assert.True(ReplayFill.TryComplete(row, ballot, 250, out var numbers, out _, out _));
        var tally = ReplayFill.ToTally(Tps, ballot, numbers);

        Assert.Equal(190, tally.SuaraSah);
        Assert.Equal([60, 100, 36], tally.Suara.Select(v => v.Total));
        Assert.Equal(C1Validator.Rules.VotesSumIsSah, Assert.Single(C1Validator.Validate(tally, ballot)).Rule);
    }

    [Fact]
    public void Refuses_rather_than_invents()
    {
        var ballot = BallotOf(ContestId.Ppwp);
        bool Try(ResultRow row, out ReplayRefusal refusal) => ReplayFill.TryComplete(row, ballot, 250, out _, out refusal, out _);

        Assert.False(Try(new ResultRow(Tps, ContestId.Ppwp, 250, 200, 196, 4, [60, 100]), out var missing));
        Assert.Equal(ReplayRefusal.MissingVotes, missing);
        Assert.False(Try(new ResultRow(Tps, ContestId.Ppwp, 250, 200, 196, 4, [60, 100, null]), out missing));
        Assert.Equal(ReplayRefusal.MissingVotes, missing);
        Assert.False(Try(new ResultRow(Tps, ContestId.Ppwp, 250, 200, 196, 4, [60, 100, 36, 0]), out var extra));
        Assert.Equal(ReplayRefusal.ExtraChoice, extra);
        Assert.False(Try(new ResultRow(Tps, ContestId.Ppwp, 249, 200, 196, 4, [60, 100, 36]), out var dpt));
        Assert.Equal(ReplayRefusal.DptDiffers, dpt);
        Assert.False(Try(new ResultRow(Tps, ContestId.Ppwp, 250, null, 196, null, [60, 100, 36]), out var field));
        Assert.Equal(ReplayRefusal.MissingField, field);
        Assert.False(Try(new ResultRow(Tps, ContestId.Ppwp, 250, 190, null, null, [60, 100, 36]), out var below));
        Assert.Equal(ReplayRefusal.BrokenRule, below);
        // An empty cell for a number that is not on the ballot is no vote at all.
        Assert.True(Try(new ResultRow(Tps, ContestId.Ppwp, 250, 200, 196, 4, [60, 100, 36, null, null]), out _));
    }
}
