using System.Diagnostics;
using System.Text.Json;
using KpuEdge.Core.Benchmarks;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Simulator.Forms;
using KpuEdge.Vision.Digits;
using KpuEdge.Vision.Forms;
using KpuEdge.Vision.Reading;

namespace KpuEdge.Edge.Commands;

/// <summary>
/// `kpu-edge bench-read`: reads N synthetic photographed forms, filled with handwritten digits the classifier never
/// saw, and measures how often the reader is right, how often it asks a human, and how often it is wrong unflagged.
/// </summary>
public static class BenchReadCommand
{
    public sealed record Settings(int Forms, int Seed, string? DigitsDirectory, string Contest, double BubbleShare, bool Json, string? Output, string Classifier = "cnn");

    public sealed record Figures(
        double DigitAccuracy, double BlankAccuracy, double FieldAccuracyRaw, double FieldAccuracy, int Forms, int Pages,
        int FormsAutoAccepted, int FormsFlagged, int FormsUndetectedWrong, int FormsFlaggedWithRightSuggestion, double MsPerPageMedian,
        double MsPerPageP95, string Digits, IReadOnlyDictionary<string, int> FlagsByReason, IReadOnlyDictionary<string, int> Misreads)
    {
        /// <summary>The KPPS's work: fields to confirm per form (every form; a form that could not be read counts all its fields).</summary>
        public FieldsToConfirm? FlaggedFieldsPerForm { get; init; }
        /// <summary>The same over the flagged forms only.</summary>
        public FieldsToConfirm? FlaggedFieldsPerFlaggedForm { get; init; }
        /// <summary>Fields taken without a human with another value than read: the likeliest reading that keeps every rule
        /// had another digit there (<see cref="FieldDecision.RepairedByRules"/>).</summary>
        public int FieldsRepairedByRules { get; init; }
        /// <summary>Fields whose disagreeing bubbles the rules overruled (<see cref="FieldDecision.BubblesOverruledByRules"/>).</summary>
        public int FieldsBubblesOverruledByRules { get; init; }
        /// <summary>Which digit classifier read the forms ("cnn": the vendored CNN with the SVM; "svm": the SVM alone).</summary>
        public string Classifier { get; init; } = "cnn";
    }

    /// <summary>Mean, median and 95th percentile of a count per form.</summary>
    public sealed record FieldsToConfirm(double Mean, int Median, int P95);

    private static FieldsToConfirm? Summarise(List<int> counts)
    {
        if (counts.Count == 0) return null;
        var sorted = counts.Order().ToArray();
        return new FieldsToConfirm(Math.Round(counts.Average(), 2), sorted[sorted.Length / 2], sorted[Math.Min(sorted.Length - 1, sorted.Length * 95 / 100)]);
    }

    public static int Run(Settings settings)
    {
        if (!Contests.TryParseSlug(settings.Contest, out var contest)) { Console.Error.WriteLine($"Unknown contest {settings.Contest}"); return 1; }
        var figures = Measure(settings, contest);
        var json = JsonSerializer.Serialize(figures, KpuJson.Wire);
        if (!settings.Json)
        {
            Console.WriteLine($"forms {figures.Forms} ({figures.Pages} pages, {settings.Contest}, digits: {figures.Digits})");
            Console.WriteLine($"digit_accuracy {figures.DigitAccuracy:P2} (Sirekap 2024 ≈ 89%)   blank boxes right {figures.BlankAccuracy:P2}");
            Console.WriteLine($"field_accuracy {figures.FieldAccuracy:P2} (value proposed to the KPPS, the rules' reading included; as read {figures.FieldAccuracyRaw:P2})");
            Console.WriteLine($"forms_auto_accepted {figures.FormsAutoAccepted}   forms_flagged {figures.FormsFlagged}   forms_undetected_wrong {figures.FormsUndetectedWrong}");
            Console.WriteLine($"flagged fields by reason: {string.Join(", ", figures.FlagsByReason.Select(p => $"{p.Key} {p.Value}"))}");
            Console.WriteLine($"most frequent misreads (truth→read): {string.Join(", ", figures.Misreads.Select(p => $"{p.Key} {p.Value}"))}");
            Console.WriteLine($"ms_per_page median {figures.MsPerPageMedian:F0}, p95 {figures.MsPerPageP95:F0} (one core)");
            Console.WriteLine($"fields to confirm per form: mean {figures.FlaggedFieldsPerForm?.Mean}, p95 {figures.FlaggedFieldsPerForm?.P95}; per flagged form: mean {figures.FlaggedFieldsPerFlaggedForm?.Mean}, p95 {figures.FlaggedFieldsPerFlaggedForm?.P95}; repaired by the rules without a human: {figures.FieldsRepairedByRules} fields, bubbles overruled by the rules: {figures.FieldsBubblesOverruledByRules} ({figures.Classifier})");
        }
        if (settings.Output is not null) Record(settings, figures);
        Console.WriteLine(json);
        return 0;
    }

    public static Figures Measure(Settings settings, ContestId contest)
    {
        var tree = RegionTree.LoadEmbedded();
        var election = ElectionDefinition.Default;
        var ballots = election.Ballots(tree);
        var digits = settings.DigitsDirectory is null ? DigitSet.LoadBundled() : DigitSet.LoadFolder(settings.DigitsDirectory);
        var filler = new FormFiller(DigitInks.FromSamples(digits.HeldOutInk), new FillOptions { BubbleShare = settings.BubbleShare });
        var random = new Random(settings.Seed);
        var allTps = tree.TpsIn(RegionCode.Nasional).Where(t => election.ContestsAt(t).Contains(contest)).ToArray();

        IDigitClassifier classifier = settings.Classifier switch
        {
            "cnn" => CnnDigitClassifier.LoadDefault(),
            "svm" => DigitClassifier.LoadOrTrain(),
            _ => throw new ArgumentException($"unknown classifier {settings.Classifier} (cnn or svm)"),
        };
        using var scanner = FormScanner.CreateDefault(tree, election, classifier);
        var toConfirm = new List<int>();
        var toConfirmFlagged = new List<int>();
        int repairedByRules = 0, bubblesOverruled = 0;
        long digitsWritten = 0, digitsRight = 0, blanks = 0, blanksRight = 0, fields = 0, fieldsRight = 0, fieldsRightSuggested = 0;
        int accepted = 0, flagged = 0, undetected = 0, rightSuggestion = 0, pages = 0;
        var msPerPage = new List<double>();
        var flagCounts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var misreads = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < settings.Forms; i++)
        {
            var tps = allTps[random.Next(allTps.Length)];
            var ballot = ballots.For(contest, tps)!;
            var tally = SyntheticTally.ForTps(tps, ballots, election, settings.Seed + i).Single(t => t.Contest == contest);
            var layout = scanner.Pages.LayoutFor(ballot);
            var blank = FormRenderer.RenderAll(layout, tps, tree);
            var filled = filler.Fill(layout, blank, TallyFields.ToValues(tally), random);
            var photos = filled.Pages.Select(p => Photographer.PhotographJpeg(p, random)).ToArray();
            foreach (var m in blank) m.Dispose();
            foreach (var m in filled.Pages) m.Dispose();

            var watch = Stopwatch.StartNew();
            FormScan scan;
            try
            {
                scan = scanner.Scan(photos, new ScanExpectation(tps, contest));
            }
            catch (ScanException)
            {
                flagged++; // a page the reader could not register goes back to the operator: flagged, never wrong
                pages += photos.Length;
                toConfirm.Add(filled.Values.Count); // the KPPS types every field
                toConfirmFlagged.Add(filled.Values.Count);
                continue;
            }
            msPerPage.Add(watch.Elapsed.TotalMilliseconds / photos.Length);
            pages += photos.Length;

            bool anyWrong = false;
            var reads = scan.Pages.SelectMany(p => p.Fields).ToDictionary(f => f.Key);
            foreach (var decision in scan.Fields)
            {
                foreach (var flag in decision.Flags)
                {
                    string reason = flag.StartsWith(FieldFlags.RulePrefix, StringComparison.Ordinal) ? "rule" : flag;
                    flagCounts[reason] = flagCounts.GetValueOrDefault(reason) + 1;
                }
                int truth = filled.Values[decision.Key];
                fields++;
                if (decision.Value == truth) fieldsRight++; else anyWrong = true;
                if (decision.Proposed == truth) fieldsRightSuggested++;
                var boxes = reads[decision.Key].Boxes;
                for (int b = 0; b < boxes.Count; b++)
                {
                    int place = (int)Math.Pow(10, boxes.Count - 1 - b);
                    bool written = filled.LeadingZeros || truth >= place || place == 1;
                    if (written)
                    {
                        digitsWritten++;
                        int expected = truth / place % 10;
                        if (boxes[b].Handwriting?.Digit == expected) digitsRight++;
                        else
                        {
                            string pair = $"{expected}→{(boxes[b].Handwriting is { } h ? h.Digit.ToString() : "blank")}";
                            misreads[pair] = misreads.GetValueOrDefault(pair) + 1;
                        }
                    }
                    else
                    {
                        blanks++;
                        if (boxes[b].Blank) blanksRight++;
                    }
                }
            }
            int flaggedFields = scan.AutoAccepted ? 0 : scan.Flagged.Count();
            repairedByRules += scan.Fields.Count(f => f.RepairedByRules);
            bubblesOverruled += scan.Fields.Count(f => f.BubblesOverruledByRules);
            toConfirm.Add(flaggedFields);
            if (!scan.AutoAccepted) toConfirmFlagged.Add(flaggedFields);
            if (scan.AutoAccepted)
            {
                accepted++;
                if (anyWrong) undetected++;
            }
            else
            {
                flagged++;
                if (scan.Fields.All(f => f.Proposed == filled.Values[f.Key])) rightSuggestion++;
            }
        }
        msPerPage.Sort();
        double Pct(int p) => msPerPage.Count == 0 ? 0 : msPerPage[Math.Min(msPerPage.Count - 1, msPerPage.Count * p / 100)];
        return new Figures(
            Ratio(digitsRight, digitsWritten), Ratio(blanksRight, blanks), Ratio(fieldsRight, fields), Ratio(fieldsRightSuggested, fields),
            settings.Forms, pages, accepted, flagged, undetected, rightSuggestion, Pct(50), Pct(95),
            settings.DigitsDirectory ?? "bundled OpenCV digits, held-out part", flagCounts,
            misreads.OrderByDescending(p => p.Value).Take(12).ToDictionary(p => p.Key, p => p.Value))
        {
            FlaggedFieldsPerForm = Summarise(toConfirm),
            FlaggedFieldsPerFlaggedForm = Summarise(toConfirmFlagged),
            FieldsRepairedByRules = repairedByRules,
            FieldsBubblesOverruledByRules = bubblesOverruled,
            Classifier = settings.Classifier,
        };
    }

    private static double Ratio(long a, long b) => b == 0 ? 0 : Math.Round((double)a / b, 5);

    /// <summary>Records the figures in the benchmark file's reader section.</summary>
    private static void Record(Settings settings, Figures f)
    {
        string body = $"""
            ## Form reading (`kpu-edge bench-read --forms {settings.Forms} --seed {settings.Seed} --contest {settings.Contest}`)

            Synthetic C.Hasil forms, filled with real handwritten digits the classifier ({(f.Classifier == "cnn" ? "the vendored CNN averaged with the HOG + SVM" : "the HOG + SVM alone")}) never saw ({f.Digits}), bubbles filled on
            {settings.BubbleShare:P0} of forms, then photographed (perspective, rotation up to ±15°, blur, uneven light, shadow,
            noise, JPEG). {DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount} cores, timed on one thread.

            | figure | value | target / reference |
            |---|---:|---|
            | digit_accuracy | {f.DigitAccuracy:P2} | Sirekap 2024 ≈ 89% per digit |
            | field_accuracy (value the reader proposes: the likeliest reading that keeps every rule, where there is one) | {f.FieldAccuracy:P2} | ≥ 99% |
            | fields right as read (each box's likeliest digit), before the rules | {f.FieldAccuracyRaw:P2} | |
            | forms | {f.Forms} ({f.Pages} pages) | |
            | forms_auto_accepted | {f.FormsAutoAccepted} | |
            | forms_flagged (a human confirms the flagged fields) | {f.FormsFlagged} | |
            | forms_undetected_wrong | {f.FormsUndetectedWrong} | ≤ 0.1% of forms |
            | ms_per_page_median (p95) | {f.MsPerPageMedian:F0} ({f.MsPerPageP95:F0}) | ≤ 250 ms |
            | flagged_fields_per_form: mean (median, p95) — the KPPS's confirmations | {f.FlaggedFieldsPerForm?.Mean:F2} ({f.FlaggedFieldsPerForm?.Median}, {f.FlaggedFieldsPerForm?.P95}) | |
            | flagged_fields_per_flagged_form: mean (median, p95) | {f.FlaggedFieldsPerFlaggedForm?.Mean:F2} ({f.FlaggedFieldsPerFlaggedForm?.Median}, {f.FlaggedFieldsPerFlaggedForm?.P95}) | |
            | fields_repaired_by_rules (taken without a human with another value than read: the likeliest reading that keeps every rule, holding ≥ 99.9% of their probability) | {f.FieldsRepairedByRules} | |
            | fields_bubbles_overruled_by_rules (confident handwriting keeps every rule, the bubbles' value breaks one) | {f.FieldsBubblesOverruledByRules} | |

            Flagged fields by reason: {string.Join(", ", f.FlagsByReason.Select(p => $"{p.Key} {p.Value}"))}.
            Most frequent digit misreads (truth→read): {string.Join(", ", f.Misreads.Select(p => $"{p.Key} {p.Value}"))}.
            Flagged forms whose proposed values (the rules' reading included) are all right: {f.FormsFlaggedWithRightSuggestion}.

            """;
        BenchmarkFile.WriteSection(settings.Output!, $"read-{settings.Contest}", body);
    }

}
