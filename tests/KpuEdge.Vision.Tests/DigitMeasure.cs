using KpuEdge.Vision.Digits;
using OpenCvSharp;

namespace KpuEdge.Vision.Tests;

/// <summary>What the classifier tests measure a digit model on, and how.</summary>
internal static class DigitMeasure
{
    public sealed record Result(double Accuracy, double ConfidentShare, int Wrong, int Confident)
    {
        public double ConfidentError => Confident == 0 ? 0 : (double)Wrong / Confident;
    }

    /// <summary>Accuracy (an image the normalizer dropped counts as a miss), share of confident readings and how many
    /// of those were wrong.</summary>
    public static Result Of(IDigitClassifier classifier, IReadOnlyList<(Mat? Image, int Label)> items)
    {
        int ok = 0, confident = 0, wrong = 0;
        foreach (var (img, label) in items)
        {
            if (img is null) continue;
            var r = classifier.Classify(img);
            if (r.Digit == label) ok++;
            if (r.Confidence >= classifier.ConfidentThreshold)
            {
                confident++;
                if (r.Digit != label) wrong++;
            }
        }
        return new Result((double)ok / items.Count, (double)confident / items.Count, wrong, confident);
    }

    /// <summary>Each held-out digit drawn 40–70 px tall into a box (offset, pen width, slant, blur, noise, JPEG) and
    /// normalized, twice: once clean-cut, once with a sliver of the box line at an edge (null where the normalizer
    /// found no ink). Seeded.</summary>
    public static (Mat? Image, int Label)[] RedrawnHeldOut(DigitSet set)
    {
        var items = new (Mat?, int)[set.HeldOutInk.Count * 2];
        Parallel.For(0, set.HeldOutInk.Count, i =>
        {
            for (int k = 0; k < 2; k++)
            {
                var rng = new Random(777 + 31 * i + k);
                using var crop = DigitPhotoSim.Render(set.HeldOutInk[i].InkOnPaper, rng, withBoxEdge: k == 1);
                items[2 * i + k] = (DigitNormalizer.Normalize(crop, out _), set.HeldOutInk[i].Label);
            }
        });
        return items;
    }

    /// <summary>Images that are no digit: all white, a cross, a bar (the caller disposes them).</summary>
    public static Mat[] Junk()
    {
        var white = new Mat(20, 20, MatType.CV_8UC1, Scalar.All(255));
        var cross = new Mat(20, 20, MatType.CV_8UC1, Scalar.All(0));
        Cv2.Line(cross, new Point(3, 3), new Point(16, 16), Scalar.All(255), 2);
        Cv2.Line(cross, new Point(16, 3), new Point(3, 16), Scalar.All(255), 2);
        var bar = new Mat(20, 20, MatType.CV_8UC1, Scalar.All(0));
        Cv2.Rectangle(bar, new Rect(2, 9, 16, 3), Scalar.All(255), -1);
        return [white, cross, bar];
    }
}
