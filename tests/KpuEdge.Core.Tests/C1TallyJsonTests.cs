using System.Text.Json;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;

namespace KpuEdge.Core.Tests;

public class C1TallyJsonTests
{
    private static readonly RegionTree Tree = RegionTree.LoadEmbedded();
    private static readonly ElectionDefinition Election = ElectionDefinition.Default;
    private static readonly TpsCode Tps = TpsCode.Parse("3273011001003");

    private static C1Tally Synthetic(ContestId contest) =>
        SyntheticTally.ForTps(Tps, Election.Ballots(Tree), Election, 5).Single(t => t.Contest == contest);

    [Theory]
    [InlineData(ContestId.Ppwp)]
    [InlineData(ContestId.Dpr)]
    [InlineData(ContestId.Dpd)]
    [InlineData(ContestId.DprdProvinsi)]
    [InlineData(ContestId.DprdKabKota)]
    public void Survives_a_JSON_round_trip(ContestId contest)
    {
        var tally = Synthetic(contest);

        var copy = C1Tally.FromJson(tally.ToJson());

        Assert.Equal(tally.Contest, copy.Contest);
        Assert.Equal(tally.Tps, copy.Tps);
        Assert.Equal(tally.Dpt, copy.Dpt);
        Assert.Equal(tally.PenggunaDpt, copy.PenggunaDpt);
        Assert.Equal(tally.PenggunaDptb, copy.PenggunaDptb);
        Assert.Equal(tally.PenggunaDpk, copy.PenggunaDpk);
        Assert.Equal(tally.PenggunaTotal, copy.PenggunaTotal);
        Assert.Equal(tally.Disabilitas, copy.Disabilitas);
        Assert.Equal(tally.Surat, copy.Surat);
        Assert.Equal(tally.SuaraSah, copy.SuaraSah);
        Assert.Equal(tally.SuaraTidakSah, copy.SuaraTidakSah);
        Assert.Equal(tally.SuaraTotal, copy.SuaraTotal);
        Assert.Equal(tally.Suara.Count, copy.Suara.Count);
        for (int i = 0; i < tally.Suara.Count; i++)
        {
            Assert.Equal(tally.Suara[i].Number, copy.Suara[i].Number);
            Assert.Equal(tally.Suara[i].Total, copy.Suara[i].Total);
            Assert.Equal(tally.Suara[i].PartyVotes, copy.Suara[i].PartyVotes);
            Assert.Equal(tally.Suara[i].CandidateVotes, copy.Suara[i].CandidateVotes);
        }
        Assert.Equal(tally.ToJson(), copy.ToJson());
        Assert.True(C1Validator.IsValid(copy, Election.Ballots(Tree).For(contest, Tps)));
    }

    [Fact]
    public void Writes_snake_case_names_the_contest_slug_and_the_TPS_code_as_a_string()
    {
        string json = Synthetic(ContestId.DprdProvinsi).ToJson();
        Assert.Contains("\"contest\": \"dprd-prov\"", json);
        Assert.Contains("\"tps\": \"3273011001003\"", json);
        Assert.Contains("\"pengguna_dptb\"", json);
        Assert.Contains("\"suara_tidak_sah\"", json);
        Assert.Contains("\"candidate_votes\"", json);
    }

    [Theory]
    [InlineData("\"3273011001000\"")]
    [InlineData("\"327301100100\"")]
    [InlineData("\"32730110010A3\"")]
    [InlineData("\"3273011001\"")]
    [InlineData("\"\"")]
    [InlineData("null")]
    [InlineData("3273011001003")]
    public void Rejects_a_malformed_TPS_code(string tpsJson)
    {
        string json = Synthetic(ContestId.Ppwp).ToJson().Replace("\"3273011001003\"", tpsJson);
        Assert.Throws<JsonException>(() => C1Tally.FromJson(json));
    }

    [Fact]
    public void Rejects_an_unknown_contest()
    {
        string json = Synthetic(ContestId.Ppwp).ToJson().Replace("\"contest\": \"ppwp\"", "\"contest\": \"pilkada\"");
        Assert.Throws<JsonException>(() => C1Tally.FromJson(json));
    }

    [Fact]
    public void Rejects_JSON_null()
    {
        Assert.Throws<JsonException>(() => C1Tally.FromJson("null"));
    }
}
