using System.Text.Json;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;

namespace KpuEdge.Core.Tests;

public class ElectionDefinitionTests
{
    private static readonly RegionTree Tree = RegionTree.LoadEmbedded();
    private static readonly ElectionDefinition Election = ElectionDefinition.Default;
    private static readonly TpsCode Bandung = TpsCode.Parse("3273011001003");
    private static readonly TpsCode JakartaPusat = TpsCode.Parse("3171011001001");

    [Fact]
    public void Default_is_Pemilu_2024_with_three_pairs_and_eighteen_parties()
    {
        Assert.Equal("pemilu-2024", Election.ElectionId);
        Assert.Equal(new DateOnly(2024, 2, 14), Election.Date);
        Assert.Equal([1, 2, 3], Election.PpwpPairs.Select(p => p.Number));
        Assert.Equal(18, Election.Parties.Count);
        Assert.Equal(18, Election.Parties.Select(p => p.Number).Distinct().Count());
        Assert.Contains(Election.Parties, p => p is { Number: 24, Abbreviation: "UMMAT" });
        Assert.All(Election.PpwpPairs, p => Assert.False(string.IsNullOrWhiteSpace(p.Name)));
        Assert.Equal(["31"], Election.ProvincesWithoutDprdKabKota);
    }

    [Fact]
    public void A_Jakarta_TPS_holds_four_contests_without_DPRD_Kab_Kota()
    {
        Assert.True(Tree.Contains(JakartaPusat));
        var contests = Election.ContestsAt(JakartaPusat).ToList();
        Assert.Equal([ContestId.Ppwp, ContestId.Dpr, ContestId.Dpd, ContestId.DprdProvinsi], contests);
        Assert.Null(Election.Ballots(Tree).For(ContestId.DprdKabKota, JakartaPusat));
    }

    [Fact]
    public void A_TPS_outside_Jakarta_holds_all_five_contests()
    {
        Assert.Equal(Contests.All, Election.ContestsAt(Bandung));
        Assert.Equal(5, Election.ContestsAt(TpsCode.Parse("1101082007901")).Count());
    }

    [Fact]
    public void Survives_a_JSON_round_trip()
    {
        string json = Election.ToJson();
        Assert.Contains("\"election_id\": \"pemilu-2024\"", json);
        Assert.DoesNotContain("cached_catalog", json);

        var copy = JsonSerializer.Deserialize<ElectionDefinition>(json, ElectionDefinition.Json);

        Assert.NotNull(copy);
        Assert.Equal(Election.ElectionId, copy.ElectionId);
        Assert.Equal(Election.Name, copy.Name);
        Assert.Equal(Election.Date, copy.Date);
        Assert.Equal(Election.Dpr, copy.Dpr);
        Assert.Equal(Election.DprdProvinsi, copy.DprdProvinsi);
        Assert.Equal(Election.DprdKabKota, copy.DprdKabKota);
        Assert.Equal(Election.DpdCandidatesPerProvince, copy.DpdCandidatesPerProvince);
        Assert.Equal(Election.PpwpPairs, copy.PpwpPairs);
        Assert.Equal(Election.Parties, copy.Parties);
        Assert.Equal(Election.ProvincesWithoutDprdKabKota, copy.ProvincesWithoutDprdKabKota);
        Assert.Equal(json, copy.ToJson());
    }

    [Fact]
    public void Loads_a_definition_from_a_file()
    {
        var dir = Directory.CreateTempSubdirectory("kpuedge-core-tests-");
        try
        {
            string path = Path.Combine(dir.FullName, "election.json");
            File.WriteAllText(path, Election.ToJson());
            var loaded = ElectionDefinition.Load(path);
            Assert.Equal(Election.ToJson(), loaded.ToJson());
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData(ContestId.Ppwp, "", 3, 0)]
    [InlineData(ContestId.Dpr, "3204", 18, 8)] // KOTA BANDUNG is the 21st kab/kota of Jawa Barat: 20 / 6 + 1 = 4
    [InlineData(ContestId.Dpd, "32", 12, 0)]
    [InlineData(ContestId.DprdProvinsi, "3211", 18, 8)] // 20 / 2 + 1 = 11
    [InlineData(ContestId.DprdKabKota, "327301", 18, 6)] // SUKASARI is the first kecamatan
    public void Gives_the_ballot_of_each_contest_with_its_dapil_and_candidates(ContestId contest, string dapil, int choices, int candidatesPerChoice)
    {
        var ballot = Election.Ballots(Tree).For(contest, Bandung);

        Assert.NotNull(ballot);
        Assert.Equal(contest, ballot.Contest);
        Assert.Equal(dapil, ballot.Dapil);
        Assert.Equal(choices, ballot.Choices.Count);
        Assert.All(ballot.Choices, c => Assert.Equal(candidatesPerChoice, c.CandidateCount));
        Assert.Equal(choices, ballot.Choices.Select(c => c.Number).Distinct().Count());
        Assert.Equal(choices, ballot.Choices.Select(c => c.Key).Distinct().Count());
        Assert.All(ballot.Choices, c => Assert.Same(c, ballot.Choice(c.Number)));
        Assert.Null(ballot.Choice(99));
    }

    [Fact]
    public void Party_ballots_list_as_many_candidates_as_their_dapil_rule()
    {
        var catalog = Election.Ballots(Tree);
        Assert.All(catalog.For(ContestId.Dpr, Bandung)!.Choices, c => Assert.Equal(Election.Dpr.CandidatesPerParty, c.CandidateCount));
        Assert.All(catalog.For(ContestId.DprdProvinsi, Bandung)!.Choices, c => Assert.Equal(Election.DprdProvinsi.CandidatesPerParty, c.CandidateCount));
        Assert.All(catalog.For(ContestId.DprdKabKota, Bandung)!.Choices, c => Assert.Equal(Election.DprdKabKota.CandidatesPerParty, c.CandidateCount));
        Assert.Equal(Election.Parties.Select(p => p.Number), catalog.For(ContestId.Dpr, Bandung)!.Choices.Select(c => c.Number));
    }

    [Fact]
    public void DPD_candidates_are_keyed_by_their_province()
    {
        var ballot = Election.Ballots(Tree).For(ContestId.Dpd, Bandung)!;
        Assert.Equal("32-01", ballot.Choices[0].Key);
        Assert.Equal("32-12", ballot.Choices[^1].Key);
        var aceh = Election.Ballots(Tree).For(ContestId.Dpd, TpsCode.Parse("1101082007901"))!;
        Assert.Equal("11", aceh.Dapil);
        Assert.Empty(ballot.Choices.Select(c => c.Key).Intersect(aceh.Choices.Select(c => c.Key)));
    }

    [Fact]
    public void Two_TPS_of_the_same_kab_kota_share_the_DPR_ballot()
    {
        var catalog = Election.Ballots(Tree);
        var otherKecamatan = Tree.TpsIn(RegionCode.Parse("327330")).First();
        Assert.Equal(RegionCode.Parse("3273"), otherKecamatan.Region.AncestorAt(RegionLevel.KabKota));

        var a = catalog.For(ContestId.Dpr, Bandung);
        var b = catalog.For(ContestId.Dpr, otherKecamatan);

        Assert.NotNull(a);
        Assert.Same(a, b);
        Assert.Same(catalog.For(ContestId.Ppwp, Bandung), catalog.For(ContestId.Ppwp, JakartaPusat));
    }

    [Fact]
    public void DPRD_Kab_Kota_dapil_groups_consecutive_kecamatan()
    {
        var catalog = Election.Ballots(Tree);
        var kecamatan = Tree[RegionCode.Parse("3273")].Children;
        var per = Election.DprdKabKota.RegionsPerDapil;
        var sameDapil = Tree.TpsIn(kecamatan[per - 1]).First();
        var nextDapil = Tree.TpsIn(kecamatan[per]).First();

        Assert.Same(catalog.For(ContestId.DprdKabKota, Bandung), catalog.For(ContestId.DprdKabKota, sameDapil));
        Assert.Equal("327302", catalog.For(ContestId.DprdKabKota, nextDapil)!.Dapil);
    }

    [Fact]
    public void The_ballot_catalog_is_built_once_per_tree()
    {
        Assert.Same(Election.Ballots(Tree), Election.Ballots(Tree));
    }

    [Fact]
    public void A_modified_copy_of_a_definition_uses_its_own_dapil_rules()
    {
        Election.Ballots(Tree);
        var copy = Election with { Dpr = new DapilRule(RegionsPerDapil: 6, CandidatesPerParty: 3) };

        var ballot = copy.Ballots(Tree).For(ContestId.Dpr, Bandung)!;

        Assert.All(ballot.Choices, c => Assert.Equal(3, c.CandidateCount));
    }
}
