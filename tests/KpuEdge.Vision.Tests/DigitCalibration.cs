using KpuEdge.Vision.Digits;
using OpenCvSharp;
using Xunit.Abstractions;

namespace KpuEdge.Vision.Tests;

/// <summary>
/// How DigitClassifier's calibration constants (CalBias, CalMargin, CalKnn, ScoreSharpness) and its confident
/// threshold were derived: 5-fold cross-validation on the bundled set's training part only — train on 4/5, read the
/// other 1/5 as given and re-drawn/photographed twice (<see cref="DigitPhotoSim"/>), then fit
/// P(correct) = logistic(b0 + b1·margin + b2·knnShare) by maximum likelihood and κ of the softmax scores.
/// Skipped by default (five trainings, a few minutes): after changing the training or normalization code, remove the
/// Skip locally, run <c>dotnet test tests/KpuEdge.Vision.Tests --filter DigitCalibration --logger
/// "console;verbosity=detailed"</c>, copy the printed constants into DigitClassifier, choose the threshold from the
/// printed table, and bump DigitClassifier.ModelVersion.
/// </summary>
public sealed class DigitCalibration(ITestOutputHelper output)
{
    [Fact(Skip = "manual: re-derives the digit classifier's calibration (five trainings, minutes)")]
    public void Derive_calibration_by_cross_validation()
    {
        var set = DigitSet.LoadBundled();
        var raw = set.TrainingRaw;
        var pos = new int[raw.Count];
        var count = new int[10];
        for (int i = 0; i < raw.Count; i++) pos[i] = count[raw[i].Label]++;
        var rows = new List<(double Margin, double Share, double[] Rank, int Top, int Label, bool Photo)>();
        for (int fold = 0; fold < 5; fold++)
        {
            var fit = Enumerable.Range(0, raw.Count).Where(i => pos[i] % 5 != fold).Select(i => raw[i]).ToList();
            var val = Enumerable.Range(0, raw.Count).Where(i => pos[i] % 5 == fold).ToArray();
            using var model = DigitClassifier.Train(fit);
            var part = new (double, double, double[], int, int, bool)[val.Length * 3];
            Parallel.For(0, val.Length, j =>
            {
                int i = val[j];
                var a = model.Analyze(set.Training[i].Image);
                part[3 * j] = (a.Margin, a.KnnShare, a.Rank, a.Top, raw[i].Label, false);
                for (int k = 0; k < 2; k++)
                {
                    var rng = new Random(1000003 * fold + 7 * j + k);
                    using var ink = new Mat();
                    Cv2.BitwiseNot(raw[i].Raw, ink);
                    using var crop = DigitPhotoSim.Render(ink, rng, withBoxEdge: k == 1);
                    using var n = DigitNormalizer.Normalize(crop, out _) ?? new Mat(20, 20, MatType.CV_8UC1, Scalar.All(0));
                    var b = model.Analyze(n);
                    part[3 * j + 1 + k] = (b.Margin, b.KnnShare, b.Rank, b.Top, raw[i].Label, true);
                }
            });
            rows.AddRange(part);
        }

        // logistic regression by Newton's method
        var w = new double[3];
        for (int it = 0; it < 100; it++)
        {
            var h = new double[3, 4];
            foreach (var r in rows)
            {
                double[] x = [1, r.Margin, r.Share];
                double y = r.Top == r.Label ? 1 : 0;
                double p = 1 / (1 + Math.Exp(-(w[0] * x[0] + w[1] * x[1] + w[2] * x[2])));
                for (int a = 0; a < 3; a++)
                {
                    h[a, 3] += (y - p) * x[a];
                    for (int b = 0; b < 3; b++) h[a, b] += p * (1 - p) * x[a] * x[b];
                }
            }
            for (int c = 0; c < 3; c++)
                for (int r = 0; r < 3; r++)
                {
                    if (r == c) continue;
                    double f = h[r, c] / h[c, c];
                    for (int k = c; k < 4; k++) h[r, k] -= f * h[c, k];
                }
            for (int a = 0; a < 3; a++) w[a] += h[a, 3] / h[a, a];
        }
        output.WriteLine($"CalBias = {w[0]:F4}, CalMargin = {w[1]:F4}, CalKnn = {w[2]:F4}");
        double Conf((double Margin, double Share, double[] Rank, int Top, int Label, bool Photo) r)
            => 1 / (1 + Math.Exp(-(w[0] + w[1] * r.Margin + w[2] * r.Share)));
        foreach (var t in new[] { 0.97, 0.98, 0.985, 0.99 })
            foreach (var photo in new[] { false, true })
            {
                var rs = rows.Where(r => r.Photo == photo).ToList();
                var c = rs.Where(r => Conf(r) >= t).ToList();
                output.WriteLine($"threshold {t} {(photo ? "photographed" : "clean")}: accuracy {rs.Count(r => r.Top == r.Label) / (double)rs.Count:P2}, " +
                    $"confident {c.Count / (double)rs.Count:P1}, wrong among confident {c.Count(r => r.Top != r.Label) / (double)Math.Max(1, c.Count):P2}");
            }
        double bestK = 0, best = double.NegativeInfinity;
        for (double k = 0.5; k <= 20; k += 0.25)
        {
            double ll = rows.Sum(r =>
            {
                double mx = r.Rank.Max();
                return k * (r.Rank[r.Label] - mx) - Math.Log(r.Rank.Sum(v => Math.Exp(k * (v - mx))));
            });
            if (ll > best) { best = ll; bestK = k; }
        }
        output.WriteLine($"ScoreSharpness = {bestK}");
    }
}
