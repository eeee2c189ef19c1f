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
/// <param name="Value">On a form taken without a human, the value of the likeliest reading that keeps every rule; else
/// the value read (each box's likeliest digit, a filled bubble's word included).</param>
/// <param name="Suggestion">On a form for a human, the value of the likeliest reading that keeps every rule, where it
/// differs from what was read; proposed, never applied without a human.</param>
public sealed record FieldDecision(
    string Key, string Label, int Page, int Value, double Confidence, IReadOnlyList<string> Flags, int? Suggestion,
    int HandwritingValue, int? BubbleValue)
{
    /// <summary>What the operator screen shows pre-filled: the reading the rules suggest, else the value read.</summary>
    public int Proposed => Suggestion ?? Value;

    /// <summary>An unsure digit the rules settled as read: the readings with another digit there hold almost none of
    /// the probability of the readings that keep every rule.</summary>
    public bool ConfirmedByRules { get; init; }

    /// <summary>Taken without a human with a value other than the one read: the likeliest reading that keeps every
    /// rule, holding almost all of their probability, has another digit here (<see cref="FormDecider"/>);
    /// <see cref="HandwritingValue"/> keeps what was read.</summary>
    public bool RepairedByRules { get; init; }

    /// <summary>Its bubbles disagreed with confident handwriting that keeps every rule, while the bubbles' value
    /// breaks one: the handwriting was taken without a human.</summary>
    public bool BubblesOverruledByRules { get; init; }

    public bool AutoAccepted => Flags.Count == 0;
}

/// <summary>A whole contest's form, read and decided: auto-accepted only when no field is flagged and every rule holds.</summary>
public sealed record FormScan(
    ContestId Contest, TpsCode Tps, IReadOnlyList<FieldDecision> Fields, C1Tally Tally, IReadOnlyList<Violation> Violations,
    IReadOnlyList<PageRead> Pages)
{
    public bool AutoAccepted => Violations.Count == 0 && Fields.All(f => f.AutoAccepted);

    public IEnumerable<FieldDecision> Flagged => Fields.Where(f => !f.AutoAccepted);
}

/// <summary>
/// Turns page readings into field decisions, deciding on the whole form at once. Every box gets a probability for each
/// digit: the classifier's calibrated one, floored (<see cref="Settings.Floor"/>: a confident reading is still wrong
/// now and then, more often than the far tail of its probabilities says), and a filled bubble's word
/// (<see cref="Settings.BubbleMiss"/>). Of all readings of the form that keep every sum of the C.Hasil rules,
/// <see cref="ConsistentReadings"/> finds the likeliest and its share of them all. The form is taken without a human
/// only when that reading keeps every rule (<see cref="C1Validator"/>, inequalities included), holds at least
/// <see cref="Settings.RequiredShare"/> of the consistent readings' probability, nothing on the form asks for a human
/// by itself (an empty field, misaligned digits, two bubbles in a column), and every filled bubble agrees with it —
/// or disagrees only under confident handwriting that the rules side with (a stray mark). Otherwise the fields to look
/// at are flagged with why, and the likeliest consistent reading is proposed for them.
/// </summary>
public static class FormDecider
{
    /// <summary>How the form is decided.</summary>
    /// <param name="ConfidentThreshold">A digit read with at least this probability is confident (the classifier's):
    /// below it the field is shown as unsure when the form goes to a human.</param>
    public sealed record Settings(double ConfidentThreshold)
    {
        /// <summary>The share of the consistent readings' probability the best one must hold to be taken without a human;
        /// measured on forms the classifier never trained on, filled with training digits and read out of fold
        /// (`kpu-digit-training --tuning-forms`, Data/README.md), never on the held-out digits.</summary>
        public double RequiredShare { get; init; } = 0.999;

        /// <summary>The least probability any digit of a written box keeps, and each digit of a blank box (a digit the
        /// blank test missed).</summary>
        public double Floor { get; init; } = 1e-5;

        /// <summary>
        /// How likely, against a form written consistently and misread, is the paper itself breaking a rule exactly as
        /// read (a KPPS's slip in a sum). Weighs against mending a reading that breaks a rule: a mend is taken without
        /// a human only when the mended digit was doubted enough (its probability at least ~1,000 times this against
        /// the digit read), never a digit read with near certainty, which is likelier a slip on paper than a misread.
        /// </summary>
        public double PaperSlip { get; init; } = 1e-5;

        /// <summary>How much less likely a digit is when a filled bubble under its box says another.</summary>
        public double BubbleMiss { get; init; } = 0.01;

        public ConsistentReadings.Limits Limits { get; init; } = new();

        /// <summary>Shares the tuning tool measures at.</summary>
        public static IReadOnlyList<double> ShareGrid { get; } = [0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999];
    }

    /// <summary>Flags that ask for a human whatever the digits say.</summary>
    private static readonly string[] Blocking = [FieldFlags.Empty, FieldFlags.Misaligned, FieldFlags.BubbleAmbiguous];

    /// <summary>Fields whose bubbles may be overruled by the rules at once, at most (each subset of them is tried).</summary>
    private const int MaxOverruled = 4;

    public static FormScan Decide(Ballot ballot, TpsCode tps, FormLayout layout, IReadOnlyList<PageRead> pages, Settings settings)
    {
        var seen = pages.Select(p => p.Tag.Page).ToHashSet();
        var missing = layout.Pages.Select(p => p.Number).Where(n => !seen.Contains(n)).ToArray();
        if (missing.Length > 0)
            throw new ScanException(ScanErrors.MissingPage, $"Halaman {string.Join(", ", missing)} dari {layout.Pages.Count} belum dipindai.");

        var byKey = pages.SelectMany(p => p.Fields).GroupBy(f => f.Key).ToDictionary(g => g.Key, g => g.Last());
        var reads = layout.AllFields.Select(f => byKey[f.Key]).ToArray();
        var index = reads.Select((r, i) => (r.Key, i)).ToDictionary(p => p.Key, p => p.i, StringComparer.Ordinal);

        var boxes = new List<ConsistentReadings.Box>();
        for (int f = 0; f < reads.Length; f++)
            for (int i = 0; i < reads[f].Boxes.Count; i++)
                boxes.Add(new ConsistentReadings.Box(f, Place(reads[f], i), Probabilities(reads[f].Boxes[i], settings)));
        var equations = TallyEquations.For(ballot)
            .Select(eq => (IReadOnlyList<(int, int)>)eq.Terms.Select(t => (index[t.Key], t.Coefficient)).ToArray()).ToArray();
        var search = ConsistentReadings.Search(boxes, reads.Length, equations, settings.Limits);

        var likeliest = boxes.Select(b => Array.IndexOf(b.Probabilities, b.Probabilities.Max())).ToArray();
        var readValues = Values(reads, boxes, likeliest);
        var bestValues = search.Best is { } best ? Values(reads, boxes, best) : null;
        var bestTally = bestValues is null ? null : TallyFields.FromValues(ballot, tps, bestValues);
        var fieldFlags = reads.Select(r => PlainFlags(r)).ToArray();

        var readTally = TallyFields.FromValues(ballot, tps, readValues);
        var violations = C1Validator.Validate(readTally, ballot);
        // The heaviest reading that breaks a rule, as the paper might: the one read, or one digit off a consistent one.
        double heaviestBroken = violations.Count > 0 ? 1 : boxes.Max(b => SecondRatio(b.Probabilities));
        double share = search.Best is null ? 0 : search.BestWeight / (search.Total + search.Unexplored + settings.PaperSlip * heaviestBroken);
        bool accepted = bestTally is not null && C1Validator.IsValid(bestTally, ballot) && share >= settings.RequiredShare
                        && !fieldFlags.Any(flags => flags.Intersect(Blocking).Any());
        IReadOnlyList<string> overruled = [];
        if (accepted)
        {
            var disagreeing = reads.Where(r => BubblesDisagree(r, bestValues![r.Key])).Select(r => r.Key).ToArray();
            if (disagreeing.Length > 0)
            {
                overruled = BubblesOverruled(ballot, tps, bestValues!, byKey, disagreeing, settings.ConfidentThreshold) ?? [];
                accepted = overruled.Count > 0;
            }
        }

        FieldDecision Base(FieldRead r, int value, IReadOnlyList<string> flags, int? suggestion) =>
            new(r.Key, r.Label, r.Page, value, HandwritingConfidence(r), flags, suggestion, HandwritingValue(r), BubbleValue(r));

        if (accepted)
        {
            var decided = reads.Select((r, f) =>
            {
                int value = bestValues![r.Key];
                bool unsure = FieldBoxes(boxes, f).Any(b => b.Probabilities.Max() < settings.ConfidentThreshold);
                return Base(r, value, [], null) with
                {
                    RepairedByRules = value != readValues[r.Key],
                    ConfirmedByRules = value == readValues[r.Key] && unsure,
                    BubblesOverruledByRules = overruled.Contains(r.Key),
                };
            }).ToArray();
            return new FormScan(ballot.Contest, tps, decided, bestTally!, [], pages);
        }

        // To a human: what asks for one by itself, unsure digits, the fields of broken rules, and wherever the likeliest
        // consistent reading differs from what was read (proposed, never applied).
        var flags = reads.Select((r, f) =>
        {
            var list = fieldFlags[f].ToList();
            if (FieldBoxes(boxes, f).Any(b => b.Probabilities.Max() < settings.ConfidentThreshold)) list.Add(FieldFlags.LowConfidence);
            list.AddRange(violations.Where(v => v.Field == r.Key).Select(v => FieldFlags.RulePrefix + v.Rule));
            return list;
        }).ToArray();
        for (int f = 0; f < reads.Length; f++)
        {
            if (bestValues is null || bestValues[reads[f].Key] == readValues[reads[f].Key] || flags[f].Count > 0) continue;
            flags[f].Add(violations.Count > 0 ? FieldFlags.RulePrefix + violations[0].Rule : FieldFlags.LowConfidence);
        }
        if (flags.All(l => l.Count == 0))
        {
            // Nothing stands out, yet other readings keep the rules too: the least sure field goes to the human.
            int f = Enumerable.Range(0, reads.Length).MaxBy(f => FieldBoxes(boxes, f).Max(b => 1 - b.Probabilities.Max()));
            flags[f].Add(FieldFlags.LowConfidence);
        }
        var fields = reads.Select((r, f) =>
        {
            int? suggestion = bestValues is not null && bestValues[r.Key] != readValues[r.Key] ? bestValues[r.Key] : null;
            return Base(r, readValues[r.Key], flags[f].Distinct().ToArray(), suggestion);
        }).ToArray();
        return new FormScan(ballot.Contest, tps, fields, readTally, violations, pages);
    }

    /// <summary>The second likeliest digit's probability against the likeliest's.</summary>
    private static double SecondRatio(double[] p)
    {
        var sorted = p.OrderDescending().ToArray();
        return sorted[1] / sorted[0];
    }

    private static int Place(FieldRead read, int box) => (int)Math.Pow(10, read.Boxes.Count - 1 - box);

    private static IEnumerable<ConsistentReadings.Box> FieldBoxes(List<ConsistentReadings.Box> boxes, int field) => boxes.Where(b => b.Field == field);

    private static Dictionary<string, int> Values(FieldRead[] reads, List<ConsistentReadings.Box> boxes, int[] digits)
    {
        var values = reads.ToDictionary(r => r.Key, _ => 0, StringComparer.Ordinal);
        for (int k = 0; k < boxes.Count; k++) values[reads[boxes[k].Field].Key] += digits[k] * boxes[k].Place;
        return values;
    }

    /// <summary>A box's probability for each digit: the classifier's ranking (uniform for what it calls no digit at all),
    /// or a blank box's 0; floored; times <see cref="Settings.BubbleMiss"/> for each digit a filled bubble denies.</summary>
    private static double[] Probabilities(BoxReading box, Settings settings)
    {
        var p = new double[10];
        if (box.Handwriting is { Confidence: 0 }) Array.Fill(p, 0.1);
        else if (box.Handwriting is { } hw) foreach (var (digit, score) in hw.Ranked) p[digit] = score;
        else p[0] = 1;
        for (int d = 0; d < 10; d++) p[d] = Math.Max(p[d], settings.Floor);
        if (box.Bubble is >= 0 and var bubble)
            for (int d = 0; d < 10; d++) if (d != bubble) p[d] *= settings.BubbleMiss;
        double sum = p.Sum();
        for (int d = 0; d < 10; d++) p[d] /= sum;
        return p;
    }

    /// <summary>What asks for a human whatever the digits: several bubbles in a column, bubbles that disagree with the
    /// handwriting, a field without ink, ink then a blank box.</summary>
    private static List<string> PlainFlags(FieldRead read)
    {
        var flags = new List<string>();
        bool seenInk = false;
        for (int i = 0; i < read.Boxes.Count; i++)
        {
            var box = read.Boxes[i];
            if (box.Handwriting is not null) seenInk = true;
            else if (seenInk) flags.Add(FieldFlags.Misaligned); // ink, then a blank box: "5 _ 8" or a left-aligned "58 _"
            if (box.Bubble == -1) flags.Add(FieldFlags.BubbleAmbiguous);
            else if (box.Bubble is { } bubble && bubble != (box.Handwriting?.Digit ?? 0)) flags.Add(FieldFlags.BubbleDisagreement);
        }
        if (!seenInk) flags.Add(FieldFlags.Empty);
        return flags.Distinct().ToList();
    }

    private static bool BubblesDisagree(FieldRead read, int value)
    {
        for (int i = 0; i < read.Boxes.Count; i++)
            if (read.Boxes[i].Bubble is >= 0 and var b && b != value / Place(read, i) % 10) return true;
        return false;
    }

    private static double HandwritingConfidence(FieldRead read) =>
        read.Boxes.Where(b => b.Handwriting is not null).Select(b => b.Handwriting!.Confidence).DefaultIfEmpty(1).Min();

    private static int HandwritingValue(FieldRead read) =>
        Enumerable.Range(0, read.Boxes.Count).Sum(i => (read.Boxes[i].Handwriting?.Digit ?? 0) * Place(read, i));

    /// <summary>The value the bubbles say, when every written box has exactly one filled bubble; else null.</summary>
    private static int? BubbleValue(FieldRead read)
    {
        if (read.Boxes.All(b => b.Bubble is null)) return null;
        int value = 0;
        for (int i = 0; i < read.Boxes.Count; i++)
        {
            var box = read.Boxes[i];
            if (box.Bubble == -1) return null;
            if (box.Bubble is { } b) value += b * Place(read, i);
            else if (box.Handwriting is not null) return null; // handwriting without a bubble: the bubbles were not used for it
        }
        return value;
    }

    /// <summary>
    /// Bubbles that disagree with the reading taken are overruled by the rules only under confident handwriting of
    /// that very digit, and only when the bubbles' values break a rule — every disagreeing field's alone and in every
    /// combination with the others' (two misread fields can agree with each other, as 2 + 0 = 2 where the bubbles said
    /// 1 + 0 = 1): a stray or careless mark, not a misread. Returns the fields overruled, or null when they may not be.
    /// </summary>
    private static IReadOnlyList<string>? BubblesOverruled(Ballot ballot, TpsCode tps, Dictionary<string, int> values,
        IReadOnlyDictionary<string, FieldRead> reads, IReadOnlyList<string> disagreeing, double threshold)
    {
        if (disagreeing.Count > MaxOverruled) return null;
        var bubbled = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var key in disagreeing)
        {
            var read = reads[key];
            int current = values[key], value = current;
            for (int i = 0; i < read.Boxes.Count; i++)
            {
                int place = Place(read, i), digit = current / place % 10;
                if (read.Boxes[i].Bubble is not (>= 0 and var b) || b == digit) continue;
                if (read.Boxes[i].Handwriting is not { } hw || hw.Confidence < threshold || hw.Digit != digit) return null;
                value += (b - digit) * place;
            }
            bubbled[key] = value;
        }
        var keys = bubbled.Keys.ToArray();
        var trial = new Dictionary<string, int>(values, StringComparer.Ordinal);
        for (int subset = 1; subset < 1 << keys.Length; subset++)
        {
            for (int i = 0; i < keys.Length; i++) trial[keys[i]] = (subset >> i & 1) != 0 ? bubbled[keys[i]] : values[keys[i]];
            if (C1Validator.IsValid(TallyFields.FromValues(ballot, tps, trial), ballot)) return null;
        }
        return keys;
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
