using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Simulator.Replay;
using static KpuEdge.Simulator.Tests.Replay.ReplayTestFiles;

namespace KpuEdge.Simulator.Tests.Replay;

public class ReplayResultsTests : IDisposable
{
    private const string Bandung1 = "3273011001001", Bandung2 = "3273011001002", Jakarta = "3101011001001";
    private readonly ReplayTestFiles _files = new();

    public void Dispose() => _files.Dispose();

    private ReplayElection Load(params string[] rows)
    {
        _files.Write("registry.csv",
        [
            RegistryHeader,
            $"{Bandung1},250,JAWA BARAT,KOTA BANDUNG,SUKASARI,SUKARASA",
            $"{Bandung2},240,JAWA BARAT,KOTA BANDUNG,SUKASARI,SUKARASA",
            $"{Jakarta},200,DKI JAKARTA,KEPULAUAN SERIBU,KEPULAUAN SERIBU UTARA,PULAU PANGGANG",
        ]);
        _files.Write("results.csv", [ResultsHeader, .. rows]);
        return ReplayElection.Load(_files.RegistryPath, _files.ResultsPath);
    }

    [Fact]
    public void Turns_a_row_into_the_tally_of_that_TPSs_ballot()
    {
        var election = Load(Row(Bandung1, "ppwp", "250", "200", "196", "4", 60, 100, 36));

        Assert.Empty(election.Refused);
        var form = Assert.Single(election.Forms);
        Assert.Equal(2, form.Line);
        Assert.Equal(TpsCode.Parse(Bandung1), form.Tps);
        Assert.Equal(ContestId.Ppwp, form.Contest);
        Assert.Equal([(1, 60), (2, 100), (3, 36)], form.Tally.Suara.Select(v => (v.Number, v.Total)));
        Assert.Equal(196, form.Tally.SuaraSah);
        Assert.Equal(4, form.Tally.SuaraTidakSah);
        Assert.Equal(200, form.Tally.SuaraTotal);
        Assert.Equal(200, form.Tally.PenggunaTotal.Total);
        Assert.Equal(250, form.Tally.Dpt.Total);
        Assert.True(C1Validator.IsValid(form.Tally, election.Election.Ballots(election.Tree).For(ContestId.Ppwp, form.Tps)));
    }

    [Fact]
    public void Party_contests_take_votes_by_ballot_number_so_party_24_is_c24()
    {
        var votes = PartyVotes(10, 20, 30, 40, 5, 1, 2, 8, 0, 3, 0, 6, 1, 9, 4, 7, 5, 2);
        var election = Load(Row(Bandung1, "DPR RI", "", "", "", "7", votes));

        var form = Assert.Single(election.Forms);
        Assert.Equal(153, form.Tally.SuaraSah);
        Assert.Equal(160, form.Tally.PenggunaTotal.Total);
        var ummat = Assert.Single(form.Tally.Suara, v => v.Number == 24);
        Assert.Equal(2, ummat.Total);
        // The file gives a party's total only: it stands as the party's own votes, each listed candidate 0.
        Assert.All(form.Tally.Suara, v => Assert.Equal(v.Total, v.PartyVotes));
        Assert.All(form.Tally.Suara, v => Assert.Equal(new int[8], v.CandidateVotes));
    }

    [Theory]
    [InlineData("ppwp", ContestId.Ppwp)]
    [InlineData("PPWP", ContestId.Ppwp)]
    [InlineData("pilpres", ContestId.Ppwp)]
    [InlineData("Presiden", ContestId.Ppwp)]
    [InlineData("dpd", ContestId.Dpd)]
    [InlineData("DPD RI", ContestId.Dpd)]
    [InlineData("dprd-prov", ContestId.DprdProvinsi)]
    [InlineData("DPRD Provinsi", ContestId.DprdProvinsi)]
    [InlineData("dprd_prov", ContestId.DprdProvinsi)]
    [InlineData("DprdProvinsi", ContestId.DprdProvinsi)]
    [InlineData("dprd-kab", ContestId.DprdKabKota)]
    [InlineData("DPRD Kab/Kota", ContestId.DprdKabKota)]
    [InlineData("dprd kota", ContestId.DprdKabKota)]
    [InlineData("dpr", ContestId.Dpr)]
    public void Accepts_the_documented_contest_spellings(string spelling, ContestId expected)
    {
        Assert.True(ReplayContests.TryParse(spelling, out var contest));
        Assert.Equal(expected, contest);
    }

    [Theory]
    [InlineData("pilkada")]
    [InlineData("")]
    [InlineData("dprd")]
    [InlineData("gubernur")]
    [InlineData("dprd-kabupaten-kota-dan-lain-lain")]
    public void Refuses_other_contest_spellings(string spelling) => Assert.False(ReplayContests.TryParse(spelling, out _));

    [Fact]
    public void A_Jakarta_TPS_has_no_DPRD_Kab_Kota_contest()
    {
        var parties = PartyVotes(new int[18]);
        parties[0] = "150";
        var election = Load(
            Row(Jakarta, "dprd-prov", "200", "150", "150", "0", parties),
            Row(Jakarta, "dprd-kab", "200", "150", "150", "0", parties));

        Assert.Equal(ContestId.DprdProvinsi, Assert.Single(election.Forms).Contest);
        var refused = Assert.Single(election.Refused);
        Assert.Equal(ReplayRefusal.ContestNotHeld, refused.Refusal);
        Assert.Equal(3, refused.Line);
        Assert.Equal(ContestId.DprdKabKota, refused.Contest);
        Assert.Contains("province 31, DKI JAKARTA", refused.Reason);
    }

    [Fact]
    public void Refuses_each_bad_row_with_its_reason_and_lists_it_while_the_rest_load()
    {
        var election = Load(
            Row(Bandung1, "ppwp", "250", "200", "196", "4", 60, 100, 36),          // 2: good
            Row(Bandung1, "ppwp", "250", "200", "196", "4", 61, 100, 35),          // 3: same TPS and contest again
            Row("3273011001009", "ppwp", "250", "200", "196", "4", 60, 100, 36),   // 4: not in the registry
            Row("32730110010", "ppwp", "250", "200", "196", "4", 60, 100, 36),     // 5: not a TPS code
            Row(Bandung2, "pilkada", "240", "200", "196", "4", 60, 100, 36),       // 6: not a contest
            Row(Bandung2, "ppwp", "241", "200", "196", "4", 60, 100, 36),          // 7: dpt differs from the registry's
            Row(Bandung2, "dpd", "240", "200", "196", "4", 60, 100, 36),           // 8: DPD lists 12: c4 … c12 missing
            Row(Bandung2, "dpr", "240", "200", "x", "4", 60, 100, 36),             // 9: not a number
            Row(Bandung2, "dprd-kab", "240", "", "", "", PartyVotes(new int[18])), // 10: neither pengguna nor tidak sah
            $"{Bandung2},dprd-prov,240,200,196,4",                                 // 11: too few fields
            Row("3273011001001", "dpd", "250", "200", "196", "4", [.. Enumerable.Repeat(16, 12), 4]), // 12: c13 not on the ballot
            Row(Jakarta, "ppwp", "", "200", "197", "3", 60, 100, 36),              // 13: Σ votes ≠ suara sah
            Row(Jakarta, "PPWP", "", "200", "196", "4", 60, 100, 36),              // 14: duplicate of the refused line 13
            Row(Bandung1, "dprd-prov", "", "1001", "", "1", PartyVotes([1000, .. new int[17]])), // 15: beyond 999
            Row(Bandung1, "dprd-kab", "250", "200", "", "", [.. PartyVotes(new int[18])[..17], "", "", "", "", "", "", "201"])); // 16: sah beyond pengguna

        Assert.Equal(15, election.ResultRows);
        Assert.Equal(2, Assert.Single(election.Forms).Line);
        var refused = election.Refused.ToDictionary(r => r.Line);
        Assert.Equal(Enumerable.Range(3, 14).Select(n => (long)n), refused.Keys.Order());
        Assert.All(refused.Values, r => Assert.Equal(ReplayFile.Results, r.File));

        Assert.Equal(ReplayRefusal.DuplicateForm, refused[3].Refusal);
        Assert.Contains("line 2", refused[3].Reason);
        Assert.Equal(ReplayRefusal.UnknownTps, refused[4].Refusal);
        Assert.Equal(TpsCode.Parse("3273011001009"), refused[4].Tps);
        Assert.Equal(ReplayRefusal.BadTpsCode, refused[5].Refusal);
        Assert.Null(refused[5].Tps);
        Assert.Contains("'32730110010'", refused[5].Reason);
        Assert.Equal(ReplayRefusal.UnknownContest, refused[6].Refusal);
        Assert.Contains("'pilkada'", refused[6].Reason);
        Assert.Equal(ReplayRefusal.DptDiffers, refused[7].Refusal);
        Assert.Equal("dpt 241 differs from the registry's 240.", refused[7].Reason);
        Assert.Equal(ReplayRefusal.MissingVotes, refused[8].Refusal);
        Assert.Contains("c4 is empty", refused[8].Reason);
        Assert.Equal(ReplayRefusal.Malformed, refused[9].Refusal);
        Assert.Equal("suara_sah 'x' is not a whole number.", refused[9].Reason);
        Assert.Equal(ReplayRefusal.MissingField, refused[10].Refusal);
        Assert.Equal(ReplayRefusal.Malformed, refused[11].Refusal);
        Assert.Contains("6 fields, the header has 30", refused[11].Reason);
        Assert.Equal(ReplayRefusal.ExtraChoice, refused[12].Refusal);
        Assert.Contains("c13 = 4, but number 13 is not on the dpd ballot here (1–12)", refused[12].Reason);
        Assert.Equal(ReplayRefusal.BrokenRule, refused[13].Refusal);
        Assert.Equal(C1Validator.Rules.VotesSumIsSah, Assert.Single(refused[13].Violations).Rule);
        Assert.Contains(C1Validator.Rules.VotesSumIsSah, refused[13].Reason);
        Assert.Equal(ReplayRefusal.DuplicateForm, refused[14].Refusal);
        Assert.Contains("line 13", refused[14].Reason);
        Assert.Equal(ReplayRefusal.BrokenRule, refused[15].Refusal);
        Assert.Contains(refused[15].Violations, v => v.Rule == C1Validator.Rules.Range && v.Field == "pengguna_total.total");
        Assert.Equal(ReplayRefusal.BrokenRule, refused[16].Refusal);
        Assert.Contains("201", refused[16].Reason);
        Assert.Contains(C1Validator.Rules.SuaraTotalIsPengguna, refused[16].Reason);

        // Only the accepted row counts in the file's sums.
        var ppwp = election.FileSums.Nasional(ContestId.Ppwp);
        Assert.Equal(1, ppwp.Forms);
        Assert.Equal(60, ppwp.Votes["1"]);
        Assert.Equal(0, election.FileSums.Nasional(ContestId.Dpd).Forms);
    }

    [Fact]
    public void Refuses_a_row_whose_sah_and_tidak_sah_do_not_make_pengguna_total_naming_the_rule()
    {
        var election = Load(Row(Bandung1, "ppwp", "250", "205", "196", "4", 60, 100, 36));

        Assert.Empty(election.Forms);
        var refused = Assert.Single(election.Refused);
        Assert.Equal(ReplayRefusal.BrokenRule, refused.Refusal);
        Assert.Contains(refused.Violations, v => v.Rule == C1Validator.Rules.SuaraTotalIsPengguna);
        Assert.Equal(2, refused.Line);
    }

    [Fact]
    public void Reads_quoted_numbers_and_CRLF_line_ends()
    {
        _files.Write("registry.csv", [RegistryHeader, $"{Bandung1},250,JAWA BARAT,KOTA BANDUNG,SUKASARI,\"SUKA\"\"RASA, I\""], newline: "\r\n");
        _files.Write("results.csv",
        [
            ResultsHeader,
            $"\"{Bandung1}\",\"ppwp\",\"250\",\"200\",\"196\",\"4\",\"60\",\"100\",\"36\"" + new string(',', 21),
            Row(Bandung1, "\"dpd\"", "250", "196", "192", "4", [.. Enumerable.Repeat(16, 12)]),
        ], newline: "\r\n");

        var election = ReplayElection.Load(_files.RegistryPath, _files.ResultsPath);

        Assert.Empty(election.Refused);
        Assert.Equal([ContestId.Ppwp, ContestId.Dpd], election.Forms.Select(f => f.Contest));
        Assert.Equal([2L, 3L], election.Forms.Select(f => f.Line));
        Assert.Equal("SUKA\"RASA, I", election.Tree.NameOf(RegionCode.Parse("3273011001")));
    }

    [Fact]
    public void Skips_blank_lines_and_names_an_unclosed_quote_as_the_likely_cause_of_a_short_row()
    {
        _files.Write("registry.csv", [RegistryHeader, "", $"{Bandung1},250,JAWA BARAT,KOTA BANDUNG,SUKASARI,SUKARASA", ""]);
        _files.Write("results.csv",
        [
            ResultsHeader,
            "",
            Row(Bandung1, "ppwp", "250", "200", "196", "4", 60, 100, 36),
            Row(Bandung1, "\"dpd", "250", "196", "192", "4", [.. Enumerable.Repeat(16, 12)]),
            Row(Bandung1, "dpr", "250", "196", "192", "4", PartyVotes(new int[18])),
        ]);

        var election = ReplayElection.Load(_files.RegistryPath, _files.ResultsPath);

        Assert.Equal(1, election.Registry.Rows);
        Assert.Equal(3, Assert.Single(election.Forms).Line);
        Assert.Equal(2, election.ResultRows);
        var refused = Assert.Single(election.Refused);
        Assert.Equal((4L, ReplayRefusal.Malformed), (refused.Line, refused.Refusal));
        Assert.Contains("an unclosed quote?", refused.Reason);
    }

    [Fact]
    public void A_header_naming_a_column_twice_fails_the_whole_file()
    {
        _files.Write("registry.csv", [RegistryHeader, $"{Bandung1},250,JAWA BARAT,KOTA BANDUNG,SUKASARI,SUKARASA"]);
        _files.Write("results.csv", ["tps_code,contest,dpt,pengguna_total,suara_sah,suara_tidak_sah,c1,c2,c2,c3"]);
        var error = Assert.Throws<InvalidDataException>(() => ReplayElection.Load(_files.RegistryPath, _files.ResultsPath));
        Assert.Contains("results.csv", error.Message);
        Assert.Contains("'c2'", error.Message);
    }

    [Fact]
    public void A_header_without_vote_columns_or_with_an_unknown_column_fails_the_whole_file()
    {
        _files.Write("registry.csv", [RegistryHeader, $"{Bandung1},250,JAWA BARAT,KOTA BANDUNG,SUKASARI,SUKARASA"]);
        _files.Write("results.csv", ["tps_code,contest,dpt,pengguna_total,suara_sah,suara_tidak_sah"]);
        Assert.Contains("no vote column", Assert.Throws<InvalidDataException>(() => ReplayElection.Load(_files.RegistryPath, _files.ResultsPath)).Message);
        _files.Write("results.csv", ["tps_code,contest,dpt,pengguna_total,suara_sah,suara_tidak_sah,c1,c2,c3,remarks"]);
        Assert.Contains("unexpected column 'remarks'", Assert.Throws<InvalidDataException>(() => ReplayElection.Load(_files.RegistryPath, _files.ResultsPath)).Message);
        _files.Write("results.csv", ["tps_code,contest,dpt,suara_sah,suara_tidak_sah,c1,c2,c3"]);
        Assert.Contains("lacks column 'pengguna_total'", Assert.Throws<InvalidDataException>(() => ReplayElection.Load(_files.RegistryPath, _files.ResultsPath)).Message);
    }

    [Fact]
    public void A_file_with_only_the_pairs_columns_takes_PPWP_and_refuses_contests_with_more_choices()
    {
        _files.Write("registry.csv", [RegistryHeader, $"{Bandung1},250,JAWA BARAT,KOTA BANDUNG,SUKASARI,SUKARASA"]);
        _files.Write("results.csv",
        [
            "tps_code,contest,dpt,pengguna_total,suara_sah,suara_tidak_sah,c1,c2,c3",
            $"{Bandung1},ppwp,250,200,196,4,60,100,36",
            $"{Bandung1},dpd,250,200,196,4,60,100,36",
        ]);
        var election = ReplayElection.Load(_files.RegistryPath, _files.ResultsPath);
        Assert.Single(election.Forms);
        Assert.Equal(ReplayRefusal.MissingVotes, Assert.Single(election.Refused).Refusal);
    }

    [Fact]
    public void The_results_of_a_refused_registry_row_are_refused_as_unknown_TPS()
    {
        _files.Write("registry.csv",
        [
            RegistryHeader,
            $"{Bandung1},250,JAWA BARAT,KOTA BANDUNG,SUKASARI,SUKARASA",
            $"{Bandung2},240,JAWA BARAT,KOTA BANDUNG,SUKASARI,SUKARASA LAIN",
        ]);
        _files.Write("results.csv", [ResultsHeader, Row(Bandung2, "ppwp", "240", "200", "196", "4", 60, 100, 36)]);

        var election = ReplayElection.Load(_files.RegistryPath, _files.ResultsPath);

        Assert.Empty(election.Forms);
        Assert.Equal([(ReplayFile.Registry, ReplayRefusal.NameConflict), (ReplayFile.Results, ReplayRefusal.UnknownTps)],
            election.Refused.Select(r => (r.File, r.Refusal)));
        Assert.Equal($"TPS {Bandung2} is not in the registry: its row on line 3 was refused.", election.Refused[1].Reason);
    }
}
