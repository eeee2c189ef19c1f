using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Simulator.Forms;
using KpuEdge.Vision.Forms;
using OpenCvSharp;
using OpenCvSharp.Aruco;

namespace KpuEdge.Simulator.Tests;

/// <summary>Shared inputs of the form tests: one TPS's PPWP form, its blank pages and a true tally, built once.</summary>
internal static class FormSamples
{
    public static readonly RegionTree Tree = RegionTree.LoadEmbedded();
    public static readonly ElectionDefinition Election = ElectionDefinition.Default;
    public static readonly TpsCode Tps = TpsCode.Parse("3273011001003");

    private static readonly Lazy<(FormLayout Layout, IReadOnlyList<Mat> Blanks)> Ppwp = new(() => Form(ContestId.Ppwp));

    public static FormLayout PpwpLayout => Ppwp.Value.Layout;

    /// <summary>The blank PPWP pages; shared, never modify them.</summary>
    public static IReadOnlyList<Mat> PpwpBlanks => Ppwp.Value.Blanks;

    public static (FormLayout Layout, IReadOnlyList<Mat> Blanks) Form(ContestId contest)
    {
        var layout = FormLayout.For(Election, Election.Ballots(Tree).For(contest, Tps)!);
        return (layout, FormRenderer.RenderAll(layout, Tps, Tree));
    }

    public static Dictionary<string, int> Values(ContestId contest, int seed) =>
        TallyFields.ToValues(SyntheticTally.ForTps(Tps, Election.Ballots(Tree), Election, seed).Single(t => t.Contest == contest));

    /// <summary>
    /// A stand-in for real handwriting: the digit in OpenCV's Hershey script font, dark on light, at a random size
    /// and weight. (The real digit set is used where it exists; these tests must not depend on it.)
    /// </summary>
    public static Mat ScriptInk(int digit, Random random)
    {
        var image = new Mat(72, 60, MatType.CV_8UC1, Scalar.All(235 + random.Next(20)));
        double scale = 1.4 + 0.5 * random.NextDouble();
        int thickness = 2 + random.Next(3);
        Cv2.PutText(image, digit.ToString(), new Point(8 + random.Next(6), 54 + random.Next(6)), HersheyFonts.HersheyScriptSimplex,
            scale, Scalar.All(20 + random.Next(40)), thickness, LineTypes.AntiAlias);
        return image;
    }

    /// <summary>Mean gray level inside a bubble (radius − 1 around its centre).</summary>
    public static double BubbleMean(Mat page, BubbleLayout bubble, int radius)
    {
        int r = radius - 1;
        var rect = new Rect(bubble.X - r, bubble.Y - r, 2 * r + 1, 2 * r + 1);
        using var mask = new Mat(rect.Height, rect.Width, MatType.CV_8UC1, Scalar.Black);
        Cv2.Circle(mask, new Point(r, r), r, Scalar.White, -1);
        using var roi = new Mat(page, rect);
        return Cv2.Mean(roi, mask).Val0;
    }

    /// <summary>Pixels darker than the paper inside a box, away from its printed border.</summary>
    public static int InkPixels(Mat page, Box box)
    {
        const int inset = 3;
        using var roi = new Mat(page, new Rect(box.X + inset, box.Y + inset, box.Width - 2 * inset, box.Height - 2 * inset));
        using var dark = new Mat();
        Cv2.Threshold(roi, dark, 200, 255, ThresholdTypes.BinaryInv);
        return Cv2.CountNonZero(dark);
    }

    /// <summary>The markers found in a photo: id → centre.</summary>
    public static Dictionary<int, Point2f> Markers(Mat photo)
    {
        using var dictionary = CvAruco.GetPredefinedDictionary(FormLayout.MarkerDictionary);
        using var detector = new ArucoDetector(dictionary);
        detector.DetectMarkers(photo, out var corners, out var ids, out _);
        var found = new Dictionary<int, Point2f>();
        for (int i = 0; i < ids.Length; i++)
            found[ids[i]] = new Point2f(corners[i].Average(p => p.X), corners[i].Average(p => p.Y));
        return found;
    }

    /// <summary>The page seen in a photo, warped back to page coordinates by its four markers (as the reader does).</summary>
    public static Mat Rectify(Mat photo, PageLayout page, Size pageSize)
    {
        var found = Markers(photo);
        var source = new List<Point2f>();
        var target = new List<Point2f>();
        foreach (var marker in page.Markers)
        {
            if (!found.TryGetValue(marker.Id, out var centre)) continue;
            source.Add(centre);
            target.Add(new Point2f(marker.Box.X + marker.Box.Width / 2f, marker.Box.Y + marker.Box.Height / 2f));
        }
        if (source.Count < 4) throw new InvalidOperationException($"Only {source.Count} of the page's markers found.");
        using var homography = Cv2.GetPerspectiveTransform(source, target);
        var rectified = new Mat();
        Cv2.WarpPerspective(photo, rectified, homography, pageSize, InterpolationFlags.Linear, BorderTypes.Constant, Scalar.White);
        return rectified;
    }
}
