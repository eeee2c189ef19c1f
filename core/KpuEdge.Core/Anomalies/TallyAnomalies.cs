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
    /// <summary>A TPS's turnout (voters / DPT) lies far from its region's.</summary>
    public const string TurnoutOutlier = "turnout_outlier";
    /// <summary>The PPK's correction at the plenary moves a number far from what the TPS device signed.</summary>
    public const string PpkCorrectionFar = "ppk_correction_far";
    /// <summary>The form's photo pages have not arrived long after its numbers did.</summary>
    public const string PhotosMissing = "photos_missing";

    /// <summary>Every rule, in the order the portal lists them.</summary>
    public static readonly IReadOnlyList<string> All =
        [VotesSumNotSah, SahPlusTidakSahNotTotal, TurnoutOverDpt, SingleChoiceAllVotes, PatternOutlier, TurnoutOutlier, PpkCorrectionFar, PhotosMissing];
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
    /// <summary>How far (0–1) a TPS's turnout may lie from its region's before it is an outlier.</summary>
    public double TurnoutGap { get; init; } = 0.3;
    /// <summary>The DPT a TPS needs before its turnout is compared.</summary>
    public int TurnoutMinDpt { get; init; } = 100;
    /// <summary>A PPK correction is far when it moves a number by at least this many votes …</summary>
    public int CorrectionMinVotes { get; init; } = 10;
    /// <summary>… and by at least this share (percent) of the device's valid votes.</summary>
    public double CorrectionSharePercent { get; init; } = 10.0;
    /// <summary>How long after its numbers a form's photo pages may take before they are missing.</summary>
    public int PhotosGraceMinutes { get; init; } = 60;

    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (DptReservePercent is < 0 or > 100) problems.Add("dpt_reserve_percent must be 0–100.");
        if (SingleChoiceMinVotes < 1) problems.Add("single_choice_min_votes must be at least 1.");
        if (PatternShareGap is <= 0 or > 1) problems.Add("pattern_share_gap must be above 0 and at most 1.");
        if (PatternMinVotes < 1) problems.Add("pattern_min_votes must be at least 1.");
        if (PatternMinForms < 1) problems.Add("pattern_min_forms must be at least 1.");
        if (TurnoutGap is <= 0 or > 1) problems.Add("turnout_gap must be above 0 and at most 1.");
        if (TurnoutMinDpt < 1) problems.Add("turnout_min_dpt must be at least 1.");
        if (CorrectionMinVotes < 1) problems.Add("correction_min_votes must be at least 1.");
        if (CorrectionSharePercent is < 0 or > 100) problems.Add("correction_share_percent must be 0–100.");
        if (PhotosGraceMinutes < 1) problems.Add("photos_grace_minutes must be at least 1.");
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
        if (region is { } area && area.Forms >= thresholds.PatternMinForms && area.Dpt > 0 && tally.Dpt.Total >= thresholds.TurnoutMinDpt)
        {
            double turnout = (double)tally.PenggunaTotal.Total / tally.Dpt.Total;
            if (Math.Abs(turnout - area.Turnout) >= thresholds.TurnoutGap)
                found.Add(new(AnomalyRules.TurnoutOutlier,
                    $"Partisipasi {turnout:P0} di TPS ini, {area.Turnout:P0} di wilayahnya ({area.Forms} TPS)."));
        }
        return found;
    }

    /// <summary>
    /// A PPK's correction far from the device's form: some choice, or the valid, invalid or total votes, moved by at least
    /// <see cref="AnomalyThresholds.CorrectionMinVotes"/> and <see cref="AnomalyThresholds.CorrectionSharePercent"/> of the
    /// device's valid votes. Null when it is near (a plenary fixing a misread digit or two is what it is for).
    /// </summary>
    public static Anomaly? CheckCorrection(C1Tally device, C1Tally ppk, AnomalyThresholds thresholds)
    {
        var choices = device.Suara.Concat(ppk.Suara).Select(c => c.Number).Distinct()
            .Select(n => ($"pilihan nomor {n}", device.Suara.FirstOrDefault(c => c.Number == n)?.Total ?? 0, ppk.Suara.FirstOrDefault(c => c.Number == n)?.Total ?? 0));
        (string What, int From, int To)[] sums =
        [
            ("suara sah", device.SuaraSah, ppk.SuaraSah), ("suara tidak sah", device.SuaraTidakSah, ppk.SuaraTidakSah),
            ("jumlah suara", device.SuaraTotal, ppk.SuaraTotal),
        ];
        double bound = Math.Max(thresholds.CorrectionMinVotes, device.SuaraSah * thresholds.CorrectionSharePercent / 100.0);
        // The choice that moved most names the correction (the sums move with it); a sum only when no choice moved far.
        foreach (var moves in (IEnumerable<(string What, int From, int To)>[])[choices, sums])
        {
            var largest = moves.MaxBy(m => Math.Abs(m.To - m.From));
            int moved = Math.Abs(largest.To - largest.From);
            if (largest.What is not null && moved >= bound)
                return new(AnomalyRules.PpkCorrectionFar, $"Koreksi PPK mengubah {largest.What} dari {largest.From} menjadi {largest.To} ({moved} suara).");
        }
        return null;
    }

    /// <summary>Photo pages still missing <see cref="AnomalyThresholds.PhotosGraceMinutes"/> after the form's numbers arrived.</summary>
    public static Anomaly? CheckPhotos(int pagesStored, int pagesExpected, TimeSpan sinceNumbers, AnomalyThresholds thresholds)
    {
        if (sinceNumbers < TimeSpan.FromMinutes(thresholds.PhotosGraceMinutes) || (pagesExpected > 0 && pagesStored >= pagesExpected)) return null;
        return new(AnomalyRules.PhotosMissing, pagesExpected > 0
            ? $"Baru {pagesStored} dari {pagesExpected} halaman foto diterima, {sinceNumbers.TotalMinutes:0} menit setelah angkanya."
            : $"Belum ada foto formulir, {sinceNumbers.TotalMinutes:0} menit setelah angkanya.");
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
            var before = new Shares(acc.Forms, acc.Valid, new Dictionary<int, long>(acc.ByChoice), acc.Dpt, acc.Voters);
            acc.Forms++;
            acc.Valid += tally.SuaraSah;
            acc.Dpt += tally.Dpt.Total;
            acc.Voters += tally.PenggunaTotal.Total;
            foreach (var choice in tally.Suara)
                acc.ByChoice[choice.Number] = acc.ByChoice.GetValueOrDefault(choice.Number) + choice.Total;
            return before;
        }
    }

    private sealed class Accumulator
    {
        public int Forms;
        public long Valid, Dpt, Voters;
        public readonly Dictionary<int, long> ByChoice = new();
    }

    /// <summary>What a region had counted: forms, valid votes, votes per choice number, registered voters and voters.</summary>
    public readonly record struct Shares(int Forms, long Valid, IReadOnlyDictionary<int, long> ByChoice, long Dpt = 0, long Voters = 0)
    {
        public double ShareOf(int choice) => Valid == 0 ? 0 : (double)ByChoice.GetValueOrDefault(choice) / Valid;

        /// <summary>Voters over registered voters (0 without a DPT).</summary>
        public double Turnout => Dpt == 0 ? 0 : (double)Voters / Dpt;
    }
}
