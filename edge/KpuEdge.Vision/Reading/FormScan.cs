using System.Security.Cryptography;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Vision.Forms;

namespace KpuEdge.Vision.Reading;

/// <summary>Why a field needs a human. Stable codes; the operator screen explains them in Bahasa Indonesia.</summary>
public static class FieldFlags
{
    public const string LowConfidence = "low_confidence";
    public const string BubbleDisagreement = "bubble_disagreement";
    public const string BubbleAmbiguous = "bubble_ambiguous";
    public const string Empty = "empty";
    public const string Misaligned = "misaligned";
    /// <summary>Prefix: the field takes part in a broken consistency rule ("rule:votes_sum_equals_suara_sah").</summary>
    public const string RulePrefix = "rule:";
}

/// <summary>The decision on one field: the value read, how sure, and what a human must look at.</summary>
/// <param name="Value">The value read from the handwriting (with bubbles where the handwriting was unsure).</param>
/// <param name="Suggestion">A value that would make every rule hold by changing one digit; proposed, never applied without a human.</param>
public sealed record FieldDecision(
    string Key, string Label, int Page, int Value, double Confidence, IReadOnlyList<string> Flags, int? Suggestion,
    int HandwritingValue, int? BubbleValue)
{
    /// <summary>What the operator screen shows pre-filled: the repair the rules suggest, else the value read.</summary>
    public int Proposed => Suggestion ?? Value;

    /// <summary>An unsure digit that the consistency rules pin down: any other digit there would break a rule.</summary>
    public bool ConfirmedByRules { get; init; }

    /// <summary>Changed by a single-digit change that makes every broken rule hold — the only one on the form, or by far
    /// the likeliest — taken without a human (<see cref="FormDecider"/>); <see cref="HandwritingValue"/> keeps what
    /// was read.</summary>
    public bool RepairedByRules { get; init; }

    /// <summary>Its bubbles disagreed with confident handwriting that keeps every rule, while the bubbles' value
    /// breaks one: the handwriting was taken without a human.</summary>
    public bool BubblesOverruledByRules { get; init; }

    public bool AutoAccepted => Flags.Count == 0;
}

/// <summary>A whole contest's form, read and decided: auto-accepted only when every field is sure and every rule holds.</summary>
public sealed record FormScan(
    ContestId Contest, TpsCode Tps, IReadOnlyList<FieldDecision> Fields, C1Tally Tally, IReadOnlyList<Violation> Violations,
    IReadOnlyList<PageRead> Pages)
{
    public bool AutoAccepted => Violations.Count == 0 && Fields.All(f => f.AutoAccepted);

    public IEnumerable<FieldDecision> Flagged => Fields.Where(f => !f.AutoAccepted);
}

/// <summary>
/// Turns page readings into field decisions. The form's consistency rules are the checksum: a reading is accepted
/// without a human only when every digit is confident — sure by itself, settled by a filled bubble, or pinned by the
/// rules (every other digit in its place would break one) — the bubbles agree where filled, and the whole tally is
/// consistent. When a rule breaks, it looks for the one-digit change that would repair every rule and proposes it.
/// </summary>
public static class FormDecider
{
    public static FormScan Decide(Ballot ballot, TpsCode tps, FormLayout layout, IReadOnlyList<PageRead> pages, double confidentThreshold)
    {
        var seen = pages.Select(p => p.Tag.Page).ToHashSet();
        var missing = layout.Pages.Select(p => p.Number).Where(n => !seen.Contains(n)).ToArray();
        if (missing.Length > 0)
            throw new ScanException(ScanErrors.MissingPage, $"Halaman {string.Join(", ", missing)} dari {layout.Pages.Count} belum dipindai.");

        var reads = pages.SelectMany(p => p.Fields).GroupBy(f => f.Key).ToDictionary(g => g.Key, g => g.Last());
        var decisions = new Dictionary<string, FieldDecision>(StringComparer.Ordinal);
        var unsure = new Dictionary<string, int[]>(StringComparer.Ordinal);
        foreach (var field in layout.AllFields)
            (decisions[field.Key], unsure[field.Key]) = DecideField(reads[field.Key], confidentThreshold);

        var values = decisions.ToDictionary(d => d.Key, d => d.Value.Value, StringComparer.Ordinal);
        var tally = TallyFields.FromValues(ballot, tps, values);
        var violations = C1Validator.Validate(tally, ballot);
        if (violations.Count > 0 && AutoRepair(ballot, tps, values, reads, decisions, unsure, confidentThreshold) is { } fix)
        {
            values[fix.Key] = fix.Value;
            unsure[fix.Key] = [];
            decisions[fix.Key] = decisions[fix.Key] with { Value = fix.Value, RepairedByRules = true, Flags = [] };
            tally = TallyFields.FromValues(ballot, tps, values);
            violations = C1Validator.Validate(tally, ballot);
        }
        // The rules are the checksum: an unsure digit is confirmed when every other digit in its place would break a
        // rule that holds now, so no single misread there could have produced what was read. Fields a broken rule
        // names are never confirmed this way.
        var broken = violations.Select(v => (v.Field, v.Rule)).ToHashSet();
        var named = violations.Select(v => v.Field).ToHashSet(StringComparer.Ordinal);
        foreach (var (key, boxes) in unsure)
        {
            var d = decisions[key];
            if (boxes.Length == 0 || named.Contains(key) || d.Flags.Any(f => f != FieldFlags.LowConfidence)) continue;
            if (boxes.All(box => PinnedByRules(ballot, tps, values, key, box, broken)))
                decisions[key] = d with { Flags = [], Confidence = Math.Max(d.Confidence, confidentThreshold), ConfirmedByRules = true };
        }
        if (violations.Count == 0 && BubblesOverruled(ballot, tps, values, reads, decisions, confidentThreshold) is { } overruled)
        {
            foreach (var key in overruled) decisions[key] = decisions[key] with { Flags = [], BubblesOverruledByRules = true };
        }
        if (violations.Count > 0)
        {
            var repair = FindOneDigitRepair(ballot, tps, values, reads) is { } one ? [one] : FindTwoDigitRepair(ballot, tps, values, reads);
            foreach (var v in violations)
            {
                if (!decisions.TryGetValue(v.Field, out var d)) continue;
                decisions[v.Field] = d with { Flags = [.. d.Flags, FieldFlags.RulePrefix + v.Rule] };
            }
            foreach (var (key, suggested) in repair)
            {
                var d = decisions[key];
                var flags = d.Flags.Any(f => f.StartsWith(FieldFlags.RulePrefix, StringComparison.Ordinal)) ? d.Flags
                    : [.. d.Flags, FieldFlags.RulePrefix + violations[0].Rule];
                decisions[key] = d with { Suggestion = suggested, Flags = flags };
            }
        }
        var ordered = layout.AllFields.Select(f => decisions[f.Key]).ToArray();
        return new FormScan(ballot.Contest, tps, ordered, tally, violations, pages);
    }

    private static (FieldDecision Decision, int[] UnsureBoxes) DecideField(FieldRead read, double threshold)
    {
        var flags = new List<string>();
        var unsure = new List<int>();
        int handwriting = 0, value = 0;
        int? bubbleValue = 0;
        double confidence = 1;
        bool seenInk = false, gap = false;
        for (int i = 0; i < read.Boxes.Count; i++)
        {
            var box = read.Boxes[i];
            int place = (int)Math.Pow(10, read.Boxes.Count - 1 - i);
            int written = box.Handwriting?.Digit ?? 0;
            int digit = written;
            if (box.Handwriting is { } hw)
            {
                seenInk = true;
                confidence = Math.Min(confidence, hw.Confidence);
                if (hw.Confidence < threshold)
                {
                    // An unsure digit that a filled bubble confirms as one of its two best readings is settled by the bubble.
                    if (box.Bubble is >= 0 and var b && hw.Ranked.Take(2).Any(r => r.Digit == b)) digit = b;
                    else
                    {
                        flags.Add(FieldFlags.LowConfidence);
                        unsure.Add(i);
                    }
                }
            }
            else if (seenInk && i < read.Boxes.Count)
            {
                gap = true; // ink, then a blank box: "5 _ 8" or a left-aligned "58 _"
            }

            if (box.Bubble == -1)
            {
                flags.Add(FieldFlags.BubbleAmbiguous);
                bubbleValue = null;
            }
            else if (box.Bubble is { } bubble)
            {
                if (bubble != digit) flags.Add(FieldFlags.BubbleDisagreement);
                if (bubbleValue is not null) bubbleValue += bubble * place;
            }
            else if (box.Handwriting is not null)
            {
                bubbleValue = null; // handwriting without a bubble: the bubbles were not used (or not for this digit)
            }
            handwriting += written * place;
            value += digit * place;
        }
        if (!seenInk) flags.Add(FieldFlags.Empty);
        if (gap) flags.Add(FieldFlags.Misaligned);
        bool anyBubble = read.Boxes.Any(b => b.Bubble is not null);
        return (new FieldDecision(read.Key, read.Label, read.Page, value, confidence, flags.Distinct().ToArray(), null,
            handwriting, anyBubble ? bubbleValue : null), unsure.ToArray());
    }

    private static bool PinnedByRules(Ballot ballot, TpsCode tps, Dictionary<string, int> values, string key, int box,
        HashSet<(string Field, string Rule)> alreadyBroken)
    {
        int current = values[key];
        int place = (int)Math.Pow(10, FormLayout.DigitsPerField - 1 - box);
        int currentDigit = current / place % 10;
        try
        {
            for (int d = 0; d <= 9; d++)
            {
                if (d == currentDigit) continue;
                values[key] = current + (d - currentDigit) * place;
                var trial = C1Validator.Validate(TallyFields.FromValues(ballot, tps, values), ballot);
                if (trial.All(v => alreadyBroken.Contains((v.Field, v.Rule)))) return false;
            }
            return true;
        }
        finally
        {
            values[key] = current;
        }
    }

    /// <summary>How many times likelier than every other mend together the one taken without a human must be: its
    /// posterior, if the classifier's probabilities are calibrated and one digit was misread, at least 99.9% — the
    /// 0.1% the digit threshold allows a confident reading to be wrong.</summary>
    internal const double AutoRepairOdds = 1000;

    /// <summary>
    /// The repair taken without a human. The form breaks a rule; every single-digit change anywhere on it — every box,
    /// blank ones included, to every other digit — that makes every rule hold is a candidate mend, and its weight is
    /// how much likelier the classifier found the new digit than the one it read (p(new) / p(read); a blank box
    /// 0.001). The mend is taken when it is the only candidate — the rules alone pin the misread: the voter counts form
    /// a grid whose rows and columns are summed, so one misread cell breaks its row and its column and only its own
    /// digit mends both — or when its weight is at least <see cref="AutoRepairOdds"/> times that of all the others
    /// together, its digit was one the classifier was unsure of and the new digit its runner-up there (a row summed one way only, L + P = total, or
    /// Σ votes = suara sah, can be mended at any of its fields; the classifier then says which digit it doubted — its
    /// probabilities are calibrated where it doubts, not in the far tails of a confident reading, so a choice between
    /// digits it was sure of is left to the KPPS). Two misreads that one other change mends together are what
    /// it could get wrong. Only doubt the rules can settle is taken: no field may carry any flag but low confidence,
    /// except that the changed field's bubbles may disagree with what was read if they agree with the mend, and no mend
    /// goes against a filled bubble; and at most one digit on the whole form may be unsure — the one mended.
    /// </summary>
    private static (string Key, int Box, int Value)? AutoRepair(Ballot ballot, TpsCode tps, Dictionary<string, int> values,
        IReadOnlyDictionary<string, FieldRead> reads, Dictionary<string, FieldDecision> decisions, Dictionary<string, int[]> unsure, double threshold)
    {
        // At most one doubtful digit on the whole form, and the mend must be there if there is one: the rules are one
        // checksum, spent on the mend; they cannot also vouch for other unsure digits (two unsure misreads and a
        // mend of a third digit can add up to a consistent, wrong form).
        var doubtful = unsure.SelectMany(u => u.Value.Select(box => (u.Key, Box: box))).ToArray();
        if (doubtful.Length > 1) return null;
        foreach (var d in decisions.Values)
            if (d.Flags.Any(f => f is not (FieldFlags.LowConfidence or FieldFlags.BubbleDisagreement))) return null;
        var candidates = new List<(string Key, int Box, int Value, double Weight, bool Doubted)>();
        ForEachMend(ballot, tps, values, reads, _ => true, m => candidates.Add((m.Key, m.Box, m.Value,
            m.NewScore / Math.Max(m.ReadScore, 1e-12), reads[m.Key].Boxes[m.Box].Handwriting is { } hw && hw.Confidence < threshold)));
        if (candidates.Count == 0) return null;
        var best = candidates.MaxBy(c => c.Weight);
        double others = candidates.Sum(c => c.Weight) - best.Weight;
        // Between several mends the classifier decides only where it said it was unsure: its probabilities are
        // calibrated where readings are doubtful or confident, not in the far tails of a confident reading.
        if (candidates.Count > 1 && (!best.Doubted || best.Weight < AutoRepairOdds * others || !IsRunnerUp(reads, best.Key, best.Box, best.Value)))
            return null; // a human decides between them
        if (doubtful.Length == 1 && doubtful[0] != (best.Key, best.Box)) return null;
        int bestPlace = (int)Math.Pow(10, reads[best.Key].Boxes.Count - 1 - best.Box);
        if (reads[best.Key].Boxes[best.Box].Bubble is >= 0 and var filled && filled != best.Value / bestPlace % 10) return null; // never against a filled bubble
        foreach (var d in decisions.Values)
        {
            if (!d.Flags.Contains(FieldFlags.BubbleDisagreement)) continue;
            if (d.Key != best.Key) return null;
            var boxes = reads[best.Key].Boxes;
            for (int i = 0; i < boxes.Count; i++)
            {
                int place = (int)Math.Pow(10, boxes.Count - 1 - i);
                if (boxes[i].Bubble is >= 0 and var b && b != best.Value / place % 10) return null;
            }
        }
        return (best.Key, best.Box, best.Value);
    }

    /// <summary>Whether the mend's digit is the classifier's runner-up for that box.</summary>
    private static bool IsRunnerUp(IReadOnlyDictionary<string, FieldRead> reads, string key, int box, int value)
    {
        var read = reads[key];
        int place = (int)Math.Pow(10, read.Boxes.Count - 1 - box);
        return read.Boxes[box].Handwriting is { Ranked.Count: > 1 } hw && hw.Ranked[1].Digit == value / place % 10;
    }

    /// <summary>
    /// Bubbles that disagree with confident handwriting are overruled by the rules when the handwriting keeps every
    /// rule and the bubbles' values break one — every field's bubbles alone and in every combination with the others'
    /// (two misread fields can agree with each other, as 2 + 0 = 2 where the bubbles said 1 + 0 = 1): a stray or
    /// careless mark, not a misread. Returns the fields overruled, or null when none may be (a field with another flag,
    /// a doubted digit under a disagreeing bubble, more than four such fields, or bubbles that keep the rules).
    /// </summary>
    private static IReadOnlyList<string>? BubblesOverruled(Ballot ballot, TpsCode tps, Dictionary<string, int> values,
        IReadOnlyDictionary<string, FieldRead> reads, Dictionary<string, FieldDecision> decisions, double threshold)
    {
        var disagreeing = decisions.Values.Where(d => d.Flags.Contains(FieldFlags.BubbleDisagreement)).ToArray();
        if (disagreeing.Length is 0 or > 4 || disagreeing.Any(d => d.Flags.Any(f => f != FieldFlags.BubbleDisagreement))) return null;
        var bubbled = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var d in disagreeing)
        {
            var read = reads[d.Key];
            int current = values[d.Key], value = current;
            for (int i = 0; i < read.Boxes.Count; i++)
            {
                int place = (int)Math.Pow(10, read.Boxes.Count - 1 - i);
                int digit = current / place % 10;
                if (read.Boxes[i].Bubble is not (>= 0 and var b) || b == digit) continue;
                if (read.Boxes[i].Handwriting is not { } hw || hw.Confidence < threshold) return null;
                value += (b - digit) * place;
            }
            if (value == current) return null;
            bubbled[d.Key] = value;
        }
        var keys = bubbled.Keys.ToArray();
        for (int subset = 1; subset < 1 << keys.Length; subset++)
        {
            var saved = keys.ToDictionary(k => k, k => values[k]);
            for (int i = 0; i < keys.Length; i++) if ((subset >> i & 1) != 0) values[keys[i]] = bubbled[keys[i]];
            bool bubblesKeepTheRules = C1Validator.IsValid(TallyFields.FromValues(ballot, tps, values), ballot);
            foreach (var (k, v) in saved) values[k] = v;
            if (bubblesKeepTheRules) return null;
        }
        return keys;
    }

    /// <summary>The single-digit change (best by the classifier's own ranking) after which every rule holds, if any.</summary>
    private static (string Key, int Value)? FindOneDigitRepair(Ballot ballot, TpsCode tps, Dictionary<string, int> values, IReadOnlyDictionary<string, FieldRead> reads)
    {
        Mend? best = null;
        ForEachMend(ballot, tps, values, reads, m => best is not { } b || m.NewScore > b.NewScore, m => best = m);
        return best is { } found ? (found.Key, found.Value) : null;
    }

    /// <summary>A single-digit change: box <see cref="Box"/> of field <see cref="Key"/> to another digit, giving
    /// <see cref="Value"/>; the classifier's probability of the new digit and of the one read (a blank box: 0.001 and 1).</summary>
    private readonly record struct Mend(string Key, int Box, int Value, double NewScore, double ReadScore);

    /// <summary>Every single-digit change on the form — every box, blank ones included, to every other digit — that
    /// <paramref name="worthTrying"/> lets through and after which every rule holds, handed to <paramref name="found"/>.</summary>
    private static void ForEachMend(Ballot ballot, TpsCode tps, Dictionary<string, int> values, IReadOnlyDictionary<string, FieldRead> reads,
        Func<Mend, bool> worthTrying, Action<Mend> found)
    {
        foreach (var (key, read) in reads)
        {
            int current = values[key];
            for (int i = 0; i < read.Boxes.Count; i++)
            {
                int place = (int)Math.Pow(10, read.Boxes.Count - 1 - i);
                int digit = current / place % 10;
                var ranked = read.Boxes[i].Handwriting?.Ranked;
                double now = ranked?.FirstOrDefault(r => r.Digit == digit).Score ?? 1;
                for (int d = 0; d <= 9; d++)
                {
                    if (d == digit) continue;
                    var mend = new Mend(key, i, current + (d - digit) * place, ranked?.FirstOrDefault(r => r.Digit == d).Score ?? 0.001, now);
                    if (!worthTrying(mend)) continue;
                    values[key] = mend.Value;
                    bool valid = C1Validator.IsValid(TallyFields.FromValues(ballot, tps, values), ballot);
                    values[key] = current;
                    if (valid) found(mend);
                }
            }
        }
    }

    /// <summary>
    /// When no single digit repairs the form: the pair of changes among the classifier's less certain digits (each
    /// to one of its three best readings, the 40 most plausible) after which every rule holds, best by the product
    /// of the readings' scores.
    /// </summary>
    private static IReadOnlyList<(string Key, int Value)> FindTwoDigitRepair(
        Ballot ballot, TpsCode tps, Dictionary<string, int> values, IReadOnlyDictionary<string, FieldRead> reads)
    {
        const double Certain = 0.999;
        var options = new List<(string Key, int Place, int From, int To, double Score)>();
        foreach (var (key, read) in reads)
        {
            for (int i = 0; i < read.Boxes.Count; i++)
            {
                if (read.Boxes[i].Handwriting is not { } hw || hw.Confidence >= Certain) continue;
                int place = (int)Math.Pow(10, read.Boxes.Count - 1 - i);
                foreach (var (digit, score) in hw.Ranked.Take(3))
                    if (digit != hw.Digit) options.Add((key, place, hw.Digit, digit, score));
            }
        }
        // The most plausible alternatives only: a long form has hundreds, and pairs grow with their square.
        options = options.OrderByDescending(o => o.Score).Take(40).ToList();
        (int A, int B, double Score)? best = null;
        for (int a = 0; a < options.Count; a++)
        for (int b = a + 1; b < options.Count; b++)
        {
            var (ka, pa, fa, ta, sa) = options[a];
            var (kb, pb, fb, tb, sb) = options[b];
            if (ka == kb && pa == pb) continue;
            double score = sa * sb;
            if (best is { } bb && score <= bb.Score) continue;
            int va = values[ka], vb = values[kb];
            values[ka] = va + (ta - fa) * pa;
            values[kb] = values[kb] + (tb - fb) * pb;
            if (C1Validator.IsValid(TallyFields.FromValues(ballot, tps, values), ballot)) best = (a, b, score);
            values[ka] = va;
            values[kb] = vb;
        }
        if (best is not { } found) return [];
        var (k1, p1, f1, t1, _) = options[found.A];
        var (k2, p2, f2, t2, _) = options[found.B];
        var repaired = new Dictionary<string, int>(StringComparer.Ordinal) { [k1] = values[k1] + (t1 - f1) * p1 };
        repaired[k2] = repaired.GetValueOrDefault(k2, values[k2]) + (t2 - f2) * p2;
        return repaired.Select(p => (p.Key, p.Value)).ToArray();
    }

    /// <summary>
    /// The image hash bound into the signed submission: SHA-256 of the photo for a one-page form; for several pages,
    /// SHA-256 over the pages' SHA-256 hashes in page order.
    /// </summary>
    public static byte[] ImageHash(IReadOnlyList<byte[]> pageImages)
    {
        if (pageImages.Count == 1) return SHA256.HashData(pageImages[0]);
        var hashes = pageImages.SelectMany(SHA256.HashData).ToArray();
        return SHA256.HashData(hashes);
    }
}
