using System.Globalization;
using System.Text;
using System.Text.Json;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Vision.Digits;
using KpuEdge.Vision.Forms;
using KpuEdge.Vision.Reading;

namespace KpuEdge.DigitTraining;

/// <summary>A form filled with training digits, read by the models of the folds that never saw its digits, and its truth.</summary>
internal sealed record TuningForm(Ballot Ballot, TpsCode Tps, FormLayout Layout, IReadOnlyList<PageRead> Pages, IReadOnlyDictionary<string, int> Truth);

/// <summary>
/// How the form decision (<see cref="FormDecider"/>) fares on forms the models never trained on: forms filled with
/// training digits, each read out of fold (<see cref="FormPhotoSamples"/>), never the held-out digits the benchmark
/// measures with. The readings can be written and read back (JSON lines), so the decision can be studied without
/// training again.
/// </summary>
internal static class FormDecisionTuning
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static IReadOnlyList<TuningForm> FromPhotographed(IEnumerable<(FormPhotoSamples.PhotographedForm Form, IReadOnlyList<PageRead> Pages)> read) =>
        read.Select(r => new TuningForm(r.Form.Ballot, r.Form.Tps, r.Form.Layout, r.Pages, r.Form.Truth)).ToList();

    private sealed record BoxDto(int[]? Digits, double[]? Scores, double Confidence, int? Bubble, double Ink);
    private sealed record FieldDto(string Key, string Label, int Page, BoxDto[] Boxes);
    private sealed record PageDto(int Page, int Pages, FieldDto[] Fields);
    private sealed record FormDto(string Contest, string Tps, Dictionary<string, int> Truth, PageDto[] Pages);

    public static void WriteReadings(string path, IEnumerable<TuningForm> forms)
    {
        using var w = new StreamWriter(path, false, new UTF8Encoding(false));
        foreach (var f in forms)
        {
            var dto = new FormDto(f.Ballot.Contest.Slug(), f.Tps.Value, f.Truth.ToDictionary(), f.Pages.Select(p => new PageDto(p.Tag.Page, p.Tag.Pages,
                p.Fields.Select(field => new FieldDto(field.Key, field.Label, field.Page, field.Boxes.Select(b => new BoxDto(
                    b.Handwriting?.Ranked.Select(r => r.Digit).ToArray(), b.Handwriting?.Ranked.Select(r => r.Score).ToArray(),
                    b.Handwriting?.Confidence ?? 0, b.Bubble, b.InkFraction)).ToArray())).ToArray())).ToArray());
            w.WriteLine(JsonSerializer.Serialize(dto, Json));
        }
    }

    public static IReadOnlyList<TuningForm> ReadReadings(string path)
    {
        var tree = RegionTree.LoadEmbedded();
        var election = ElectionDefinition.Default;
        var ballots = election.Ballots(tree);
        var forms = new List<TuningForm>();
        foreach (var line in File.ReadLines(path))
        {
            var dto = JsonSerializer.Deserialize<FormDto>(line, Json) ?? throw new InvalidDataException("empty line");
            if (!Contests.TryParseSlug(dto.Contest, out var contest)) throw new InvalidDataException($"unknown contest {dto.Contest}");
            var tps = TpsCode.Parse(dto.Tps);
            var ballot = ballots.For(contest, tps) ?? throw new InvalidDataException($"no {dto.Contest} ballot at {dto.Tps}");
            var pages = dto.Pages.Select(p => new PageRead(new PageTag(election.ElectionId, contest, tps, p.Page, p.Pages), "qr",
                p.Fields.Select(f => new FieldRead(f.Key, f.Label, f.Page, f.Boxes.Select(b => new BoxReading(
                    b.Digits is null ? null : new DigitReading(b.Digits[0], b.Confidence, b.Digits.Zip(b.Scores!).ToArray()),
                    b.Bubble, b.Ink)).ToArray())).ToArray(), 0)).ToArray();
            forms.Add(new TuningForm(ballot, tps, FormLayout.For(election, ballot), pages, dto.Truth));
        }
        return forms;
    }

    /// <summary>How often the digit read is wrong, by how sure the classifier was: the far tail the floor must cover
    /// (<see cref="FormDecider.Settings.Floor"/>). Written boxes only.</summary>
    public static string TailTable(IReadOnlyList<TuningForm> forms)
    {
        double[] edges = [0, 0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999, 1.0000001];
        var readings = new long[edges.Length - 1];
        var wrong = new long[edges.Length - 1];
        var sumMiss = new double[edges.Length - 1];
        foreach (var form in forms)
        foreach (var field in form.Pages.SelectMany(p => p.Fields))
        for (int i = 0; i < field.Boxes.Count; i++)
        {
            if (field.Boxes[i].Handwriting is not { Confidence: > 0 } hw) continue;
            int place = (int)Math.Pow(10, field.Boxes.Count - 1 - i);
            int truth = form.Truth[field.Key] / place % 10;
            double top = hw.Ranked[0].Score;
            int bin = Array.FindLastIndex(edges, e => top >= e);
            readings[bin]++;
            sumMiss[bin] += 1 - top;
            if (hw.Digit != truth) wrong[bin]++;
        }
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.AppendLine("| probability of the digit read | readings | wrong | wrong share | 1 − probability, mean |");
        sb.AppendLine("|---|---:|---:|---:|---:|");
        for (int b = 0; b < readings.Length; b++)
            sb.AppendLine(string.Format(inv, "| [{0}, {1}) | {2} | {3} | {4:E2} | {5:E2} |", edges[b], Math.Min(1, edges[b + 1]), readings[b], wrong[b],
                readings[b] == 0 ? 0 : (double)wrong[b] / readings[b], readings[b] == 0 ? 0 : sumMiss[b] / readings[b]));
        return sb.ToString();
    }

    /// <summary>Per contest: forms auto-accepted, and of those, wrong — at each posterior share the decision might require.</summary>
    public static string Report(IReadOnlyList<TuningForm> forms, double confidentThreshold)
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.AppendLine("| contest | required share | forms | auto-accepted | wrong among them | fields right (proposed) | decision ms per form, median (p95, max) |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var contest in forms.GroupBy(f => f.Ballot.Contest))
        foreach (var share in FormDecider.Settings.ShareGrid)
        {
            var settings = new FormDecider.Settings(confidentThreshold) { RequiredShare = share };
            int accepted = 0, wrong = 0, fields = 0, right = 0;
            var ms = new List<double>();
            foreach (var f in contest)
            {
                var watch = System.Diagnostics.Stopwatch.StartNew();
                var scan = FormDecider.Decide(f.Ballot, f.Tps, f.Layout, f.Pages, settings);
                ms.Add(watch.Elapsed.TotalMilliseconds);
                fields += scan.Fields.Count;
                right += scan.Fields.Count(d => d.Proposed == f.Truth[d.Key]);
                if (!scan.AutoAccepted) continue;
                accepted++;
                if (scan.Fields.Any(d => d.Value != f.Truth[d.Key])) wrong++;
            }
            int n = contest.Count();
            sb.AppendLine(string.Format(inv, "| {0} | {1} | {2} | {3} ({4:P1}) | {5} | {6:P2} | {7:F1} ({8:F1}, {9:F1}) |", contest.Key.Slug(), share, n, accepted,
                (double)accepted / n, wrong, (double)right / fields, ms.Order().ElementAt(ms.Count / 2), ms.Order().ElementAt(ms.Count * 95 / 100), ms.Max()));
        }
        return sb.ToString();
    }
}
