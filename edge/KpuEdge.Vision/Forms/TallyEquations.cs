using KpuEdge.Core.Elections;

namespace KpuEdge.Vision.Forms;

/// <summary>One of the C.Hasil sums as a linear equation over field values: Σ coefficient · value = 0.</summary>
public sealed record TallyEquation(string Rule, IReadOnlyList<(string Key, int Coefficient)> Terms);

/// <summary>
/// The equalities among <see cref="Core.Tally.C1Validator"/>'s rules, written as linear equations over the form's
/// fields (<see cref="TallyFields"/> keys), so that the reader can search readings that keep them without building a
/// tally for each. The validator stays the judge: a reading is taken only once it has checked every rule,
/// inequalities included; a test holds the two to the same sums.
/// </summary>
public static class TallyEquations
{
    public static IReadOnlyList<TallyEquation> For(Ballot ballot)
    {
        var equations = new List<TallyEquation>();
        void Add(string rule, params (string Key, int Coefficient)[] terms) => equations.Add(new TallyEquation(rule, terms));

        foreach (var count in new[] { "dpt", "pengguna_dpt", "pengguna_dptb", "pengguna_dpk", "pengguna_total", "disabilitas" })
            Add(Core.Tally.C1Validator.Rules.TotalIsLPlusP, ($"{count}.l", 1), ($"{count}.p", 1), ($"{count}.total", -1));
        foreach (var part in new[] { "l", "p", "total" })
            Add(Core.Tally.C1Validator.Rules.PenggunaTotalIsSum, ($"pengguna_dpt.{part}", 1), ($"pengguna_dptb.{part}", 1), ($"pengguna_dpk.{part}", 1), ($"pengguna_total.{part}", -1));
        Add(Core.Tally.C1Validator.Rules.BallotsBalance, ("surat.digunakan", 1), ("surat.rusak", 1), ("surat.sisa", 1), ("surat.diterima", -1));
        Add(Core.Tally.C1Validator.Rules.SuaraTotalIsSahPlusTidakSah, ("suara_sah", 1), ("suara_tidak_sah", 1), ("suara_total", -1));
        Add(Core.Tally.C1Validator.Rules.SuaraTotalIsPengguna, ("pengguna_total.total", 1), ("suara_total", -1));
        Add(Core.Tally.C1Validator.Rules.SuaraTotalIsBallotsUsed, ("surat.digunakan", 1), ("suara_total", -1));
        foreach (var choice in ballot.Choices.Where(c => c.CandidateCount > 0))
        {
            var terms = new List<(string, int)> { ($"suara[{choice.Number}].partai", 1) };
            for (int c = 1; c <= choice.CandidateCount; c++) terms.Add(($"suara[{choice.Number}].calon[{c}]", 1));
            terms.Add(($"suara[{choice.Number}].total", -1));
            Add(Core.Tally.C1Validator.Rules.PartyTotalIsSum, [.. terms]);
        }
        Add(Core.Tally.C1Validator.Rules.VotesSumIsSah, [.. ballot.Choices.Select(c => ($"suara[{c.Number}].total", 1)), ("suara_sah", -1)]);
        return equations;
    }
}
