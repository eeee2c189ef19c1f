using System.Globalization;
using System.Text;

namespace KpuEdge.DigitTraining;

/// <summary>A reading of a digit the network never trained on (out of fold), for calibration.</summary>
internal sealed record OutOfFold(float[] Logits, int Label, SampleKind Kind, double[]? SvmScores);

/// <summary>
/// Calibration from out-of-fold readings only: the softmax temperature T that maximises their likelihood, and the
/// confident threshold — the lowest calibrated probability at which the readings at or above it were wrong no more
/// often than the target, on the digits as given and on their distortions alike.
/// </summary>
internal static class Calibration
{
    public static double FitTemperature(IReadOnlyList<OutOfFold> rows)
    {
        double best = 1, bestNll = double.PositiveInfinity;
        for (double t = 0.3; t <= 6.0; t += 0.01)
        {
            double nll = 0;
            foreach (var r in rows) nll -= Math.Log(Math.Max(1e-300, Probabilities(r.Logits, t)[r.Label]));
            if (nll < bestNll) { bestNll = nll; best = Math.Round(t, 2); }
        }
        return best;
    }

    public static double[] Probabilities(ReadOnlySpan<float> logits, double temperature)
    {
        double max = double.NegativeInfinity;
        foreach (var l in logits) max = Math.Max(max, l);
        var p = new double[logits.Length];
        double sum = 0;
        for (int i = 0; i < p.Length; i++) sum += p[i] = Math.Exp((logits[i] - max) / temperature);
        for (int i = 0; i < p.Length; i++) p[i] /= sum;
        return p;
    }

    /// <summary>The reading and its probability: the CNN's softmax at T, or (<paramref name="ensemble"/>) its mean with
    /// the SVM's ranked scores.</summary>
    public static (int Top, double P) Top(OutOfFold r, double temperature, bool ensemble = false)
    {
        var p = Probabilities(r.Logits, temperature);
        if (ensemble) for (int i = 0; i < 10; i++) p[i] = (p[i] + r.SvmScores![i]) / 2;
        int top = 0;
        for (int i = 1; i < 10; i++) if (p[i] > p[top]) top = i;
        return (top, p[top]);
    }

    /// <summary>The lowest threshold (on a fine grid) at which the confident readings of each kind are
    /// wrong at most <paramref name="targetError"/> of the time.</summary>
    public static double ChooseThreshold(IReadOnlyList<OutOfFold> rows, double temperature, double targetError, bool ensemble = false)
    {
        var scored = rows.Select(r => (r, Top(r, temperature, ensemble))).ToArray();
        foreach (var t in Grid())
        {
            bool ok = true;
            foreach (var kind in Enum.GetValues<SampleKind>())
            {
                var c = scored.Where(s => s.r.Kind == kind && s.Item2.P >= t).ToArray();
                if (c.Length == 0) continue;
                if ((double)c.Count(s => s.Item2.Top != s.r.Label) / c.Length > targetError) ok = false;
            }
            if (ok) return t;
        }
        return Grid().Last();
    }

    private static IEnumerable<double> Grid()
    {
        for (double t = 0.50; t < 0.95; t += 0.01) yield return Math.Round(t, 4);
        for (double t = 0.95; t < 0.999; t += 0.001) yield return Math.Round(t, 4);
        for (double t = 0.999; t <= 0.99995; t += 0.0001) yield return Math.Round(t, 5);
    }

    /// <summary>Accuracy, confident share and error among confident, clean and distorted, at some thresholds; with
    /// the SVM's agreement as a second condition where the SVM was read too.</summary>
    public static string Table(IReadOnlyList<OutOfFold> rows, double temperature, IEnumerable<double> thresholds, bool ensemble = false)
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.AppendLine("| threshold | readings | accuracy | confident | wrong among confident |");
        sb.AppendLine("|---|---|---:|---:|---:|");
        foreach (var t in thresholds)
        foreach (var kind in Enum.GetValues<SampleKind>())
        {
            var rs = rows.Where(r => r.Kind == kind).Select(r => (r, Top(r, temperature, ensemble))).ToArray();
            if (rs.Length == 0) continue;
            double acc = (double)rs.Count(x => x.Item2.Top == x.r.Label) / rs.Length;
            var c = rs.Where(x => x.Item2.P >= t).ToArray();
            string line = string.Format(inv, "| {0} | {1} {2:N0} | {3:P2} | {4:P1} | {5:P3} ({6} of {7:N0}) |",
                t, kind switch { SampleKind.AsGiven => "as given", SampleKind.Distorted => "distorted", _ => "on a photographed form" }, rs.Length, acc, (double)c.Length / rs.Length,
                (double)c.Count(x => x.Item2.Top != x.r.Label) / Math.Max(1, c.Length), c.Count(x => x.Item2.Top != x.r.Label), c.Length);
            sb.AppendLine(line);
        }
        return sb.ToString();
    }
}
