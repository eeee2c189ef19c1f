using KpuEdge.Core.Elections;
using KpuEdge.Core.Tally;

namespace KpuEdge.Core.Anomalies;

/// <summary>
/// A published form that looks wrong statistically or arithmetically. A flag is a reason for a person to look, never a
/// change to a number: the form was signed by its device and is counted as signed.
/// </summary>
/// <param name="Rule">Stable code (<see cref="AnomalyRules"/>).</param>
/// <param name="Detail">One sentence in Bahasa Indonesia naming the numbers.</param>
public sealed record Anomaly(string Rule, string Detail);

/// <summary>The stable codes of the anomaly rules (nsoc/rules.md describes each; the public portal shows the same).</summary>
public static class AnomalyRules
{
    /// <summary>The votes of the choices do not add up to the valid votes (suara sah).</summary>
    public const string VotesSumNotSah = "votes_sum_not_sah";
    /// <summary>Valid plus invalid votes is not the total.</summary>
    public const string SahPlusTidakSahNotTotal = "sah_plus_tidak_sah_not_total";
    /// <summary>More voters (DPT + DPTb + DPK) than the DPT plus the 2 % reserve ballots.</summary>
    public const string TurnoutOverDpt = "turnout_over_dpt";
    /// <summary>Every valid vote of a TPS went to one choice on a ballot with several.</summary>
    public const string SingleChoiceAllVotes = "single_choice_all_votes";
    /// <summary>The leading choice's share at a TPS lies far from its share in the surrounding region.</summary>
    public const string PatternOutlier = "pattern_outlier";
}

/// <summary>The bounds of the anomaly rules; the NSOC's rules file sets them, the portal uses the same.</summary>
public sealed record AnomalyThresholds
{
    /// <summary>Voters may exceed the DPT by the reserve ballots, 2 % of the DPT (rounded up).</summary>
    public double DptReservePercent { get; init; } = 2.0;
    /// <summary>A TPS with fewer valid votes is not flagged for giving them all to one choice.</summary>
    public int SingleChoiceMinVotes { get; init; } = 20;
    /// <summary>How far (0–1) the leading choice's share may lie from the region's before the TPS is an outlier.</summary>
    public double PatternShareGap { get; init; } = 0.5;
    /// <summary>Valid votes a TPS needs before its share is compared.</summary>
    public int PatternMinVotes { get; init; } = 100;
    /// <summary>Forms the region needs before it has a pattern.</summary>
    public int PatternMinForms { get; init; } = 30;

    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (DptReservePercent is < 0 or > 100) problems.Add("dpt_reserve_percent must be 0–100.");
        if (SingleChoiceMinVotes < 1) problems.Add("single_choice_min_votes must be at least 1.");
        if (PatternShareGap is <= 0 or > 1) problems.Add("pattern_share_gap must be above 0 and at most 1.");
        if (PatternMinVotes < 1) problems.Add("pattern_min_votes must be at least 1.");
        if (PatternMinForms < 1) problems.Add("pattern_min_forms must be at least 1.");
        return problems;
    }
}

/// <summary>
/// The anomaly rules of published numbers, in one place: the NSOC raises alerts from them as forms arrive, the public
/// portal lists the flagged TPS. Pure functions of a form and, for the pattern rule, of its region's running totals.
/// </summary>
public static class TallyAnomalies
{
    /// <summary>Every rule that flags <paramref name="tally"/>; <paramref name="region"/> (its region's pattern so far) is optional.</summary>
    public static IReadOnlyList<Anomaly> Check(C1Tally tally, AnomalyThresholds thresholds, RegionPattern.Shares? region = null)
    {
        var found = new List<Anomaly>();
        long votes = 0;
        foreach (var choice in tally.Suara) votes += choice.Total;
        if (votes != tally.SuaraSah)
            found.Add(new(AnomalyRules.VotesSumNotSah, $"Jumlah suara pilihan ({votes}) tidak sama dengan suara sah ({tally.SuaraSah})."));
        if (tally.SuaraSah + tally.SuaraTidakSah != tally.SuaraTotal)
            found.Add(new(AnomalyRules.SahPlusTidakSahNotTotal,
                $"Suara sah + tidak sah ({tally.SuaraSah} + {tally.SuaraTidakSah}) tidak sama dengan jumlah suara ({tally.SuaraTotal})."));

        int allowed = tally.Dpt.Total + (int)Math.Ceiling(tally.Dpt.Total * thresholds.DptReservePercent / 100.0);
        int voters = Math.Max(tally.PenggunaTotal.Total, tally.SuaraTotal);
        if (voters > allowed)
            found.Add(new(AnomalyRules.TurnoutOverDpt,
                $"Pengguna hak pilih ({voters}) melebihi DPT + {thresholds.DptReservePercent:0.#}% ({tally.Dpt.Total} → {allowed})."));

        var leader = Leader(tally);
        if (tally.Suara.Count > 1 && tally.SuaraSah >= thresholds.SingleChoiceMinVotes && leader is { } top && top.Total == tally.SuaraSah)
            found.Add(new(AnomalyRules.SingleChoiceAllVotes, $"Semua {tally.SuaraSah} suara sah untuk pilihan nomor {top.Number}."));

        if (region is { } pattern && leader is { } lead && tally.SuaraSah >= thresholds.PatternMinVotes && pattern.Forms >= thresholds.PatternMinForms)
        {
            double share = (double)lead.Total / tally.SuaraSah;
            double regional = pattern.ShareOf(lead.Number);
            if (Math.Abs(share - regional) >= thresholds.PatternShareGap)
                found.Add(new(AnomalyRules.PatternOutlier,
                    $"Pilihan nomor {lead.Number} mendapat {share:P0} di TPS ini, {regional:P0} di wilayahnya ({pattern.Forms} TPS)."));
        }
        return found;
    }

    private static ChoiceVotes? Leader(C1Tally tally)
    {
        ChoiceVotes? top = null;
        foreach (var choice in tally.Suara)
            if (top is null || choice.Total > top.Total) top = choice;
        return top;
    }
}

/// <summary>
/// Running vote shares of one contest in each region, for the pattern rule: fed every form it checks, the totals of the
/// region (by default the kab/kota) so far. Thread-safe; a corrected form is counted again (a pattern, not a recap).
/// </summary>
public sealed class RegionPattern
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Region, ContestId Contest), Accumulator> _regions = new();

    /// <summary>The region's shares before this form, then adds the form to them.</summary>
    public Shares Observe(string region, C1Tally tally)
    {
        lock (_lock)
        {
            if (!_regions.TryGetValue((region, tally.Contest), out var acc)) _regions[(region, tally.Contest)] = acc = new Accumulator();
            var before = new Shares(acc.Forms, acc.Valid, new Dictionary<int, long>(acc.ByChoice));
            acc.Forms++;
            acc.Valid += tally.SuaraSah;
            foreach (var choice in tally.Suara)
                acc.ByChoice[choice.Number] = acc.ByChoice.GetValueOrDefault(choice.Number) + choice.Total;
            return before;
        }
    }

    private sealed class Accumulator
    {
        public int Forms;
        public long Valid;
        public readonly Dictionary<int, long> ByChoice = new();
    }

    /// <summary>What a region had counted: forms, valid votes, votes per choice number.</summary>
    public readonly record struct Shares(int Forms, long Valid, IReadOnlyDictionary<int, long> ByChoice)
    {
        public double ShareOf(int choice) => Valid == 0 ? 0 : (double)ByChoice.GetValueOrDefault(choice) / Valid;
    }
}
