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
        if (violations.Count > 0 && AutoRepair(ballot, tps, values, reads, decisions) is { } fix)
        {
            values[fix.Key] = fix.Value;
            unsure[fix.Key] = unsure[fix.Key].Where(b => b != fix.Box).ToArray();
            decisions[fix.Key] = decisions[fix.Key] with
            {
                Value = fix.Value, RepairedByRules = true,
                Flags = unsure[fix.Key].Length > 0 ? [FieldFlags.LowConfidence] : [],
            };
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
        if (violations.Count == 0)
        {
            foreach (var (key, d) in decisions.ToArray())
                if (d.Flags.Count > 0 && d.Flags.All(f => f == FieldFlags.BubbleDisagreement) && BubblesOverruled(ballot, tps, values, reads[key], confidentThreshold))
                    decisions[key] = d with { Flags = [], BubblesOverruledByRules = true };
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
    /// together (a row summed one way only, L + P = total, or Σ votes = suara sah, can be mended at any of its fields;
    /// the classifier then says which digit it doubted). Two misreads that one other change mends together are what
    /// it could get wrong. Only doubt the rules can settle is taken: no field may carry any flag but low confidence,
    /// except that the changed field's bubbles may disagree with what was read if they agree with the mend, and no mend
    /// goes against a filled bubble. The
    /// remaining unsure digits must still be pinned by the rules afterwards (<see cref="PinnedByRules"/>), else the
    /// form goes to the KPPS as before.
    /// </summary>
    private static (string Key, int Box, int Value)? AutoRepair(Ballot ballot, TpsCode tps, Dictionary<string, int> values,
        IReadOnlyDictionary<string, FieldRead> reads, Dictionary<string, FieldDecision> decisions)
    {
        foreach (var d in decisions.Values)
            if (d.Flags.Any(f => f is not (FieldFlags.LowConfidence or FieldFlags.BubbleDisagreement))) return null;
        var candidates = new List<(string Key, int Box, int Value, double Weight)>();
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
                    values[key] = current + (d - digit) * place;
                    bool valid = C1Validator.IsValid(TallyFields.FromValues(ballot, tps, values), ballot);
                    values[key] = current;
                    if (!valid) continue;
                    double then = ranked?.FirstOrDefault(r => r.Digit == d).Score ?? 0.001;
                    candidates.Add((key, i, current + (d - digit) * place, then / Math.Max(now, 1e-12)));
                }
            }
        }
        if (candidates.Count == 0) return null;
        var best = candidates.MaxBy(c => c.Weight);
        double others = candidates.Sum(c => c.Weight) - best.Weight;
        if (candidates.Count > 1 && best.Weight < AutoRepairOdds * others) return null; // a human decides between them
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

    /// <summary>
    /// Bubbles that disagree with confident handwriting are overruled by the rules when the handwriting keeps every
    /// rule and the bubbles' value would break one: a stray or careless mark, not a misread (a misread handwritten
    /// digit would itself break a rule, as the bubbles' value does). Returns whether it overrules them.
    /// </summary>
    private static bool BubblesOverruled(Ballot ballot, TpsCode tps, Dictionary<string, int> values, FieldRead read, double threshold)
    {
        int current = values[read.Key], bubbled = current;
        for (int i = 0; i < read.Boxes.Count; i++)
        {
            int place = (int)Math.Pow(10, read.Boxes.Count - 1 - i);
            int digit = current / place % 10;
            if (read.Boxes[i].Bubble is not (>= 0 and var b) || b == digit) continue;
            if (read.Boxes[i].Handwriting is not { } hw || hw.Confidence < threshold) return false;
            bubbled += (b - digit) * place;
        }
        if (bubbled == current) return false;
        values[read.Key] = bubbled;
        bool bubblesKeepTheRules = C1Validator.IsValid(TallyFields.FromValues(ballot, tps, values), ballot);
        values[read.Key] = current;
        return !bubblesKeepTheRules;
    }

    /// <summary>The single-digit change (best by the classifier's own ranking) after which every rule holds, if any.</summary>
    private static (string Key, int Value)? FindOneDigitRepair(Ballot ballot, TpsCode tps, Dictionary<string, int> values, IReadOnlyDictionary<string, FieldRead> reads)
    {
        (string Key, int Value, double Score)? best = null;
        foreach (var (key, read) in reads)
        {
            int current = values[key];
            for (int i = 0; i < read.Boxes.Count; i++)
            {
                int place = (int)Math.Pow(10, read.Boxes.Count - 1 - i);
                int currentDigit = current / place % 10;
                var ranked = read.Boxes[i].Handwriting?.Ranked;
                for (int d = 0; d <= 9; d++)
                {
                    if (d == currentDigit) continue;
                    double score = ranked?.FirstOrDefault(r => r.Digit == d).Score ?? 0.001;
                    if (best is { } b && score <= b.Score) continue;
                    int candidate = current + (d - currentDigit) * place;
                    values[key] = candidate;
                    if (C1Validator.IsValid(TallyFields.FromValues(ballot, tps, values), ballot)) best = (key, candidate, score);
                    values[key] = current;
                }
            }
        }
        return best is { } found ? (found.Key, found.Value) : null;
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
