using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using Rules = KpuEdge.Core.Tally.C1Validator.Rules;

namespace KpuEdge.Core.Tests;

public class C1ValidatorTests
{
    private static readonly RegionTree Tree = RegionTree.LoadEmbedded();
    private static readonly ElectionDefinition Election = ElectionDefinition.Default;
    private static readonly TpsCode Tps = TpsCode.Parse("3273011001003");

    private static C1Tally Synthetic(ContestId contest, int seed = 7) =>
        SyntheticTally.ForTps(Tps, Election.Ballots(Tree), Election, seed).Single(t => t.Contest == contest);

    private static Ballot BallotOf(ContestId contest) => Election.Ballots(Tree).For(contest, Tps)!;

    /// <summary>A PPWP form as a KPPS would fill it: 214 voters, pair 1 got 58 votes.</summary>
    private static C1Tally Handmade() => new()
    {
        Contest = ContestId.Ppwp,
        Tps = Tps,
        Dpt = GenderCount.Of(120, 130),
        PenggunaDpt = GenderCount.Of(100, 110),
        PenggunaDptb = GenderCount.Of(2, 1),
        PenggunaDpk = GenderCount.Of(1, 0),
        PenggunaTotal = GenderCount.Of(103, 111),
        Disabilitas = GenderCount.Of(1, 1),
        Surat = new BallotPapers(Diterima: 255, Digunakan: 214, Rusak: 1, Sisa: 40),
        Suara = [new ChoiceVotes(1, 58), new ChoiceVotes(2, 120), new ChoiceVotes(3, 30)],
        SuaraSah = 208,
        SuaraTidakSah = 6,
        SuaraTotal = 214,
    };

    /// <summary>Asserts the tally breaks exactly these rules (checked against its ballot) and names them in words.</summary>
    private static void AssertBreaksExactly(C1Tally tally, params (string Field, string Rule)[] expected)
    {
        var violations = C1Validator.Validate(tally, BallotOf(tally.Contest));
        Assert.All(violations, v => Assert.False(string.IsNullOrWhiteSpace(v.Message)));
        Assert.Equal(expected.Order(), violations.Select(v => (v.Field, v.Rule)).Order());
        Assert.False(C1Validator.IsValid(tally, BallotOf(tally.Contest)));
    }

    /// <summary>Asserts the tally breaks this rule on this field (and possibly others it drags along).</summary>
    private static void AssertBreaks(C1Tally tally, string field, string rule)
    {
        var violations = C1Validator.Validate(tally, BallotOf(tally.Contest));
        Assert.Contains(violations, v => v.Field == field && v.Rule == rule);
        Assert.All(violations, v => Assert.False(string.IsNullOrWhiteSpace(v.Message)));
    }

    private static void AssertValid(C1Tally tally)
    {
        var violations = C1Validator.Validate(tally, BallotOf(tally.Contest));
        Assert.True(violations.Count == 0, string.Join("\n", violations));
    }

    private static C1Tally WithCount(C1Tally t, string name, Func<GenderCount, GenderCount> change) => name switch
    {
        "dpt" => t with { Dpt = change(t.Dpt) },
        "pengguna_dpt" => t with { PenggunaDpt = change(t.PenggunaDpt) },
        "pengguna_dptb" => t with { PenggunaDptb = change(t.PenggunaDptb) },
        "pengguna_dpk" => t with { PenggunaDpk = change(t.PenggunaDpk) },
        "pengguna_total" => t with { PenggunaTotal = change(t.PenggunaTotal) },
        "disabilitas" => t with { Disabilitas = change(t.Disabilitas) },
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    private static C1Tally WithChoice(C1Tally t, int number, Func<ChoiceVotes, ChoiceVotes> change) =>
        t with { Suara = t.Suara.Select(c => c.Number == number ? change(c) : c).ToArray() };

    // --- valid tallies -------------------------------------------------------------------------

    [Fact]
    public void Accepts_a_handmade_form_that_keeps_every_rule()
    {
        AssertValid(Handmade());
        Assert.Empty(C1Validator.Validate(Handmade()));
    }

    [Fact]
    public void Accepts_synthetic_tallies_of_every_kab_kota_and_seed()
    {
        var catalog = Election.Ballots(Tree);
        int checkedTallies = 0;
        foreach (var prov in Tree.Nasional.Children)
        foreach (var kab in Tree[prov].Children)
        {
            foreach (var tps in new[] { Tree.TpsIn(kab).First(), Tree.TpsIn(kab).Last() })
            foreach (int seed in new[] { 1, 2, 3 })
            {
                var tallies = SyntheticTally.ForTps(tps, catalog, Election, seed);
                Assert.Equal(Election.ContestsAt(tps), tallies.Select(t => t.Contest));
                foreach (var tally in tallies)
                {
                    var violations = C1Validator.Validate(tally, catalog.For(tally.Contest, tps));
                    Assert.True(violations.Count == 0, $"{tps} {tally.Contest} seed {seed}: {string.Join("; ", violations)}");
                    checkedTallies++;
                }
            }
        }
        Assert.True(checkedTallies > 514 * 2 * 3 * 4);
    }

    [Fact]
    public void Synthetic_tallies_are_reproducible_per_seed_and_differ_between_seeds()
    {
        var catalog = Election.Ballots(Tree);
        var a = SyntheticTally.ForTps(Tps, catalog, Election, 11).Select(t => t.ToJson());
        var b = SyntheticTally.ForTps(Tps, catalog, Election, 11).Select(t => t.ToJson());
        var c = SyntheticTally.ForTps(Tps, catalog, Election, 12).Select(t => t.ToJson());
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Theory]
    [InlineData(ContestId.Ppwp)]
    [InlineData(ContestId.Dpr)]
    [InlineData(ContestId.Dpd)]
    [InlineData(ContestId.DprdProvinsi)]
    [InlineData(ContestId.DprdKabKota)]
    public void Accepts_the_synthetic_tally_of_each_contest_used_below(ContestId contest)
    {
        AssertValid(Synthetic(contest));
    }

    // --- every value a whole number 0–999 -------------------------------------------------------

    [Fact]
    public void Accepts_999_the_largest_number_three_boxes_can_hold()
    {
        var full = Handmade() with
        {
            Dpt = GenderCount.Of(499, 500),
            PenggunaDpt = GenderCount.Of(499, 500),
            PenggunaDptb = GenderCount.Of(0, 0),
            PenggunaDpk = GenderCount.Of(0, 0),
            PenggunaTotal = GenderCount.Of(499, 500),
            Disabilitas = GenderCount.Of(0, 0),
            Surat = new BallotPapers(999, 999, 0, 0),
            Suara = [new ChoiceVotes(1, 999), new ChoiceVotes(2, 0), new ChoiceVotes(3, 0)],
            SuaraSah = 999,
            SuaraTidakSah = 0,
            SuaraTotal = 999,
        };
        AssertValid(full);

        var t = Synthetic(ContestId.Ppwp);
        AssertValid(t with { Surat = new BallotPapers(999, t.Surat.Digunakan, t.Surat.Rusak, 999 - t.Surat.Digunakan - t.Surat.Rusak) });
    }

    [Fact]
    public void Rejects_1000_ballots_received()
    {
        var t = Synthetic(ContestId.Ppwp);
        AssertBreaksExactly(
            t with { Surat = new BallotPapers(1000, t.Surat.Digunakan, t.Surat.Rusak, 1000 - t.Surat.Digunakan - t.Surat.Rusak) },
            ("surat.diterima", Rules.Range));
    }

    [Fact]
    public void Rejects_a_negative_count_of_damaged_ballots()
    {
        var t = Synthetic(ContestId.Ppwp);
        AssertBreaksExactly(t with { Surat = t.Surat with { Rusak = -1, Sisa = t.Surat.Sisa + t.Surat.Rusak + 1 } }, ("surat.rusak", Rules.Range));
    }

    [Fact]
    public void Rejects_a_negative_number_of_disabled_voters()
    {
        AssertBreaksExactly(Handmade() with { Disabilitas = new GenderCount(-1, 2, 1) }, ("disabilitas.l", Rules.Range));
    }

    [Fact]
    public void Rejects_a_negative_candidate_vote_even_when_the_party_total_adds_up()
    {
        var t = Synthetic(ContestId.Dpr);
        var party = t.Suara[0];
        var broken = WithChoice(t, party.Number, c => c with
        {
            PartyVotes = c.PartyVotes + c.CandidateVotes[0] + 1,
            CandidateVotes = [-1, .. c.CandidateVotes[1..]],
        });
        AssertBreaksExactly(broken, ($"suara[{party.Number}].calon[1]", Rules.Range));
    }

    [Theory]
    [InlineData("dpt")]
    [InlineData("pengguna_dpt")]
    [InlineData("pengguna_dptb")]
    [InlineData("pengguna_dpk")]
    [InlineData("pengguna_total")]
    [InlineData("disabilitas")]
    public void Rejects_a_voter_count_out_of_range(string name)
    {
        var t = Synthetic(ContestId.Ppwp);
        AssertBreaks(WithCount(t, name, c => c with { L = -1 }), $"{name}.l", Rules.Range);
        AssertBreaks(WithCount(t, name, c => c with { P = 1000 }), $"{name}.p", Rules.Range);
        AssertBreaks(WithCount(t, name, c => c with { Total = 1000 }), $"{name}.total", Rules.Range);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(1000)]
    public void Rejects_votes_out_of_range(int value)
    {
        var t = Synthetic(ContestId.Ppwp);
        AssertBreaks(WithChoice(t, 2, c => c with { Total = value }), "suara[2].total", Rules.Range);
        AssertBreaks(t with { SuaraSah = value }, "suara_sah", Rules.Range);
        AssertBreaks(t with { SuaraTidakSah = value }, "suara_tidak_sah", Rules.Range);
        AssertBreaks(t with { SuaraTotal = value }, "suara_total", Rules.Range);
        var dpr = Synthetic(ContestId.Dpr);
        AssertBreaks(WithChoice(dpr, 3, c => c with { PartyVotes = value }), "suara[3].partai", Rules.Range);
    }

    // --- every total = L + P ------------------------------------------------------------------

    [Theory]
    [InlineData("dpt")]
    [InlineData("pengguna_dpt")]
    [InlineData("pengguna_dptb")]
    [InlineData("pengguna_dpk")]
    [InlineData("pengguna_total")]
    [InlineData("disabilitas")]
    public void Rejects_a_total_that_is_not_L_plus_P(string name)
    {
        var t = Synthetic(ContestId.Ppwp);
        AssertBreaks(WithCount(t, name, c => c with { Total = c.Total + 1 }), $"{name}.total", Rules.TotalIsLPlusP);
        AssertBreaks(WithCount(t, name, c => c with { L = c.L + 1 }), $"{name}.total", Rules.TotalIsLPlusP);
    }

    [Fact]
    public void Rejects_a_DPT_total_that_is_not_L_plus_P_and_nothing_else()
    {
        AssertBreaksExactly(Handmade() with { Dpt = new GenderCount(120, 130, 251) }, ("dpt.total", Rules.TotalIsLPlusP));
    }

    // --- pengguna_total = pengguna_dpt + pengguna_dptb + pengguna_dpk ---------------------------

    [Fact]
    public void Rejects_pengguna_L_and_P_that_do_not_add_up_even_when_the_total_does()
    {
        var t = Handmade();
        AssertBreaksExactly(t with { PenggunaTotal = new GenderCount(104, 110, 214) },
            ("pengguna_total.l", Rules.PenggunaTotalIsSum), ("pengguna_total.p", Rules.PenggunaTotalIsSum));
    }

    [Fact]
    public void Rejects_a_pengguna_total_that_is_not_dpt_plus_dptb_plus_dpk()
    {
        var t = Synthetic(ContestId.Ppwp);
        AssertBreaks(t with { PenggunaDpk = GenderCount.Of(t.PenggunaDpk.L + 1, t.PenggunaDpk.P) }, "pengguna_total.l", Rules.PenggunaTotalIsSum);
        AssertBreaks(t with { PenggunaDpk = GenderCount.Of(t.PenggunaDpk.L + 1, t.PenggunaDpk.P) }, "pengguna_total.total", Rules.PenggunaTotalIsSum);
        AssertBreaks(t with { PenggunaDptb = GenderCount.Of(t.PenggunaDptb.L, t.PenggunaDptb.P + 1) }, "pengguna_total.p", Rules.PenggunaTotalIsSum);
        AssertBreaks(t with { PenggunaTotal = t.PenggunaTotal with { Total = t.PenggunaTotal.Total - 1 } }, "pengguna_total.total", Rules.PenggunaTotalIsSum);
    }

    // --- pengguna_dpt ≤ dpt ---------------------------------------------------------------------

    [Fact]
    public void Rejects_more_male_DPT_voters_than_registered()
    {
        var t = Handmade();
        AssertBreaksExactly(t with { Dpt = GenderCount.Of(99, 130) }, ("pengguna_dpt.l", Rules.PenggunaDptWithinDpt));
    }

    [Fact]
    public void Rejects_more_female_DPT_voters_than_registered()
    {
        var t = Handmade();
        AssertBreaksExactly(t with { Dpt = GenderCount.Of(120, 109) }, ("pengguna_dpt.p", Rules.PenggunaDptWithinDpt));
    }

    [Fact]
    public void Accepts_a_turnout_of_every_registered_voter()
    {
        var t = Handmade();
        AssertValid(t with { Dpt = GenderCount.Of(100, 110) });
    }

    // --- pengguna_total ≤ ballots received -------------------------------------------------------

    [Fact]
    public void Rejects_more_voters_than_ballots_received()
    {
        var t = Handmade(); // 214 voters
        AssertBreaks(t with { Surat = new BallotPapers(213, 214, 0, -1) }, "pengguna_total.total", Rules.PenggunaWithinReceived);
        AssertBreaks(t with { Surat = new BallotPapers(213, 214, 0, 0) }, "pengguna_total.total", Rules.PenggunaWithinReceived);
    }

    [Fact]
    public void Accepts_exactly_as_many_voters_as_ballots_received()
    {
        AssertValid(Handmade() with { Surat = new BallotPapers(214, 214, 0, 0) });
    }

    // --- disabilitas ≤ pengguna -----------------------------------------------------------------

    [Fact]
    public void Rejects_more_disabled_voters_than_voters()
    {
        var t = Handmade(); // 214 voters: 103 L, 111 P
        AssertBreaksExactly(t with { Disabilitas = GenderCount.Of(104, 111) }, ("disabilitas.total", Rules.DisabilitasWithinPengguna));
        AssertValid(t with { Disabilitas = GenderCount.Of(103, 111) });
    }

    // --- ballots received = used + damaged + unused ---------------------------------------------

    [Fact]
    public void Rejects_ballot_papers_that_do_not_balance()
    {
        var t = Synthetic(ContestId.Dpd);
        AssertBreaksExactly(t with { Surat = t.Surat with { Sisa = t.Surat.Sisa + 1 } }, ("surat.diterima", Rules.BallotsBalance));
        AssertBreaksExactly(t with { Surat = t.Surat with { Diterima = t.Surat.Diterima - 1 } }, ("surat.diterima", Rules.BallotsBalance));
    }

    // --- suara_total = sah + tidak sah = pengguna_total = ballots used ---------------------------

    [Fact]
    public void Rejects_a_suara_total_that_is_not_sah_plus_tidak_sah()
    {
        var t = Handmade();
        AssertBreaksExactly(t with { SuaraTidakSah = 7 }, ("suara_total", Rules.SuaraTotalIsSahPlusTidakSah));
    }

    [Fact]
    public void Rejects_a_suara_total_that_is_not_the_number_of_voters()
    {
        var t = Handmade();
        AssertBreaksExactly(
            t with { PenggunaDpk = GenderCount.Of(2, 0), PenggunaTotal = GenderCount.Of(104, 111) },
            ("suara_total", Rules.SuaraTotalIsPengguna));
    }

    [Fact]
    public void Rejects_a_suara_total_that_is_not_the_number_of_ballots_used()
    {
        var t = Handmade();
        AssertBreaksExactly(t with { Surat = new BallotPapers(255, 215, 1, 39) }, ("suara_total", Rules.SuaraTotalIsBallotsUsed));
    }

    [Fact]
    public void Rejects_a_suara_total_off_by_one_on_every_rule_it_takes_part_in()
    {
        AssertBreaksExactly(Handmade() with { SuaraTotal = 215 },
            ("suara_total", Rules.SuaraTotalIsSahPlusTidakSah),
            ("suara_total", Rules.SuaraTotalIsPengguna),
            ("suara_total", Rules.SuaraTotalIsBallotsUsed));
    }

    // --- Σ votes = suara_sah --------------------------------------------------------------------

    [Fact]
    public void Rejects_a_tally_whose_votes_exceed_suara_sah()
    {
        // The 2024 Sirekap misread: 58 votes read as 948.
        var misread = WithChoice(Handmade(), 1, c => c with { Total = 948 });
        AssertBreaksExactly(misread, ("suara_sah", Rules.VotesSumIsSah));
        Assert.Contains("1098", C1Validator.Validate(misread).Single().Message);
    }

    [Fact]
    public void Rejects_a_tally_whose_votes_fall_short_of_suara_sah()
    {
        AssertBreaksExactly(WithChoice(Handmade(), 3, c => c with { Total = 29 }), ("suara_sah", Rules.VotesSumIsSah));
    }

    [Theory]
    [InlineData(ContestId.Dpr)]
    [InlineData(ContestId.Dpd)]
    [InlineData(ContestId.DprdProvinsi)]
    [InlineData(ContestId.DprdKabKota)]
    public void Rejects_votes_that_do_not_sum_to_suara_sah_in_every_contest(ContestId contest)
    {
        var t = Synthetic(contest);
        AssertBreaksExactly(t with { SuaraSah = t.SuaraSah + 1, SuaraTidakSah = t.SuaraTidakSah - 1 }, ("suara_sah", Rules.VotesSumIsSah));
    }

    // --- party total = party votes + candidate votes ---------------------------------------------

    [Theory]
    [InlineData(ContestId.Dpr)]
    [InlineData(ContestId.DprdProvinsi)]
    [InlineData(ContestId.DprdKabKota)]
    public void Rejects_a_party_total_that_is_not_party_plus_candidate_votes(ContestId contest)
    {
        var t = Synthetic(contest);
        int number = t.Suara[4].Number;
        AssertBreaksExactly(WithChoice(t, number, c => c with { PartyVotes = c.PartyVotes + 1 }), ($"suara[{number}].total", Rules.PartyTotalIsSum));
        AssertBreaksExactly(
            WithChoice(t, number, c => c with { CandidateVotes = [.. c.CandidateVotes[..^1], c.CandidateVotes[^1] + 1] }),
            ($"suara[{number}].total", Rules.PartyTotalIsSum));
    }

    [Fact]
    public void Accepts_votes_moved_between_a_party_and_its_candidates_when_the_total_still_adds_up()
    {
        var t = Synthetic(ContestId.Dpr);
        int number = t.Suara[0].Number;
        AssertValid(WithChoice(t, number, c => c with
        {
            PartyVotes = c.PartyVotes + c.CandidateVotes[0],
            CandidateVotes = [0, .. c.CandidateVotes[1..]],
        }));
    }

    // --- ballot structure -----------------------------------------------------------------------

    [Fact]
    public void Rejects_a_tally_missing_a_choice_of_the_ballot()
    {
        var t = Handmade(); // pair 3's 30 votes moved to pair 1, pair 3 left out
        AssertBreaksExactly(t with { Suara = [new ChoiceVotes(1, 88), new ChoiceVotes(2, 120)] }, ("suara[3]", Rules.BallotStructure));
    }

    [Fact]
    public void Rejects_a_choice_number_that_is_not_on_the_ballot()
    {
        var t = Handmade();
        AssertBreaksExactly(t with { Suara = [.. t.Suara, new ChoiceVotes(4, 0)] }, ("suara[4]", Rules.BallotStructure));
        AssertBreaksExactly(t with { Suara = [t.Suara[0], t.Suara[1], new ChoiceVotes(5, 30)] },
            ("suara[5]", Rules.BallotStructure), ("suara[3]", Rules.BallotStructure));
    }

    [Fact]
    public void Rejects_a_choice_written_twice()
    {
        var t = Handmade();
        AssertBreaksExactly(t with { Suara = [.. t.Suara, new ChoiceVotes(2, 0)] }, ("suara[2]", Rules.BallotStructure));
    }

    [Theory]
    [InlineData(ContestId.Dpr)]
    [InlineData(ContestId.DprdKabKota)]
    public void Rejects_a_party_with_the_wrong_number_of_candidates(ContestId contest)
    {
        var t = Synthetic(contest);
        int number = t.Suara[1].Number;
        AssertBreaksExactly(WithChoice(t, number, c => c with { CandidateVotes = [.. c.CandidateVotes, 0] }), ($"suara[{number}].calon", Rules.BallotStructure));
        AssertBreaksExactly(
            WithChoice(t, number, c => c with { PartyVotes = c.PartyVotes + c.CandidateVotes[^1], CandidateVotes = c.CandidateVotes[..^1] }),
            ($"suara[{number}].calon", Rules.BallotStructure));
    }

    [Fact]
    public void Rejects_party_or_candidate_votes_on_a_presidential_pair()
    {
        var t = Handmade();
        AssertBreaksExactly(WithChoice(t, 2, c => c with { PartyVotes = 5 }), ("suara[2]", Rules.BallotStructure));
        AssertBreaksExactly(WithChoice(t, 2, c => c with { CandidateVotes = [120] }), ("suara[2]", Rules.BallotStructure), ("suara[2].calon", Rules.BallotStructure));
        // Without a ballot the shape of a PPWP choice is still checked.
        Assert.Contains(C1Validator.Validate(WithChoice(t, 2, c => c with { PartyVotes = 5 })), v => v is { Field: "suara[2]", Rule: Rules.BallotStructure });
    }

    [Fact]
    public void Rejects_party_votes_on_a_DPD_candidate()
    {
        var t = Synthetic(ContestId.Dpd);
        AssertBreaksExactly(WithChoice(t, 1, c => c with { PartyVotes = 1 }), ("suara[1]", Rules.BallotStructure));
    }

    [Fact]
    public void Rejects_a_tally_checked_against_the_ballot_of_another_contest()
    {
        var violations = C1Validator.Validate(Handmade(), BallotOf(ContestId.Dpr));
        var violation = Assert.Single(violations);
        Assert.Equal(("contest", Rules.BallotStructure), (violation.Field, violation.Rule));
    }

    [Fact]
    public void Rule_codes_are_stable()
    {
        Assert.Equal("value_range", Rules.Range);
        Assert.Equal("total_equals_l_plus_p", Rules.TotalIsLPlusP);
        Assert.Equal("votes_sum_equals_suara_sah", Rules.VotesSumIsSah);
        Assert.Equal("ballot_structure", Rules.BallotStructure);
        Assert.Equal(999, C1Validator.MaxValue);
    }
}
