using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;

namespace KpuEdge.Core.Tests;

public sealed class TallySumTests
{
    private static readonly RegionTree Tree = RegionTree.LoadEmbedded();
    private static readonly ElectionDefinition Election = ElectionDefinition.Default;

    private static IReadOnlyList<C1Tally> DprOfDesa() =>
        Tree.TpsIn(RegionCode.Parse("3273011001")).Select(t => SyntheticTally.ForTps(t, Election.Ballots(Tree), Election, 3).Single(x => x.Contest == ContestId.Dpr)).ToList();

    [Fact]
    public void A_sum_adds_every_field_choices_by_number_and_candidates_by_place()
    {
        var forms = DprOfDesa();
        var sum = TallySum.Of(ContestId.Dpr, forms);
        Assert.Equal(forms.Count, sum.Forms);
        Assert.Equal(forms.Sum(f => f.SuaraSah), sum.SuaraSah);
        Assert.Equal(forms.Sum(f => f.PenggunaTotal.P), sum.PenggunaTotal.P);
        Assert.Equal(forms.Sum(f => f.Surat.Rusak), sum.Surat.Rusak);
        var first = forms[0].Suara[0];
        Assert.Equal(forms.Sum(f => f.Suara.Single(c => c.Number == first.Number).CandidateVotes[1]), sum.Suara.Single(c => c.Number == first.Number).CandidateVotes[1]);
        Assert.Empty(sum.Differences(TallySum.Of(ContestId.Dpr, forms.Reverse())));
    }

    [Fact]
    public void Differences_name_each_field_that_disagrees()
    {
        var forms = DprOfDesa();
        var sum = TallySum.Of(ContestId.Dpr, forms);
        var changed = forms.Select((f, i) => i != 0 ? f : f with
        {
            Suara = [.. f.Suara.Select((c, k) => k != 2 ? c : c with { CandidateVotes = [.. c.CandidateVotes.Select((v, j) => j == 0 ? v + 5 : v)] })],
            SuaraSah = f.SuaraSah + 5,
        });
        Assert.Equal(["suara.3.caleg.1", "suara_sah"], sum.Differences(TallySum.Of(ContestId.Dpr, changed)));
        Assert.Throws<ArgumentException>(() => TallySum.Of(ContestId.Ppwp, forms));
    }
}
