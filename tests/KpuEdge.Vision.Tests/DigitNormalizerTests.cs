using KpuEdge.Vision.Digits;
using OpenCvSharp;

namespace KpuEdge.Vision.Tests;

public sealed class DigitNormalizerTests
{
    [Fact]
    public void A_blank_box_is_null()
    {
        using var paper = new Mat(70, 60, MatType.CV_8UC1, Scalar.All(231));
        Assert.Null(DigitNormalizer.Normalize(paper, out double ink));
        Assert.Equal(0, ink);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    public void A_noise_only_box_is_null(int seed)
    {
        // paper with a lighting gradient, sensor noise, blur and JPEG: no ink at all
        var rng = new Random(seed);
        using var box = Paper(rng, 50 + rng.Next(50), 50 + rng.Next(50), noise: 4 + rng.NextDouble() * 8);
        using var jpg = Jpeg(box, 35 + rng.Next(50));
        Assert.Null(DigitNormalizer.Normalize(jpg, out double ink));
        Assert.True(ink < 0.004);
    }

    [Fact]
    public void A_near_blank_box_with_a_speck_or_a_sliver_of_the_box_line_is_null()
    {
        var rng = new Random(11);
        using var speck = Paper(rng, 80, 80, noise: 4);
        Cv2.Circle(speck, new Point(30, 50), 1, Scalar.All(40), -1);
        Assert.Null(DigitNormalizer.Normalize(speck, out _));

        foreach (var side in new[] { "top", "bottom", "left", "right" })
        {
            using var box = Paper(rng, 80, 72, noise: 4);
            var rect = side switch
            {
                "top" => new Rect(0, 0, 72, 3), "bottom" => new Rect(0, 77, 72, 3),
                "left" => new Rect(0, 0, 2, 80), _ => new Rect(70, 0, 2, 80),
            };
            using (var sub = new Mat(box, rect)) sub.SetTo(Scalar.All(35));
            using var jpg = Jpeg(box, 70);
            Assert.Null(DigitNormalizer.Normalize(jpg, out _));
        }
    }

    [Fact]
    public void An_ink_digit_becomes_a_centred_20x20_white_on_black_digit()
    {
        var set = DigitSet.LoadBundled();
        var (ink20, _) = set.HeldOutInk[0];
        using var box = new Mat(90, 80, MatType.CV_8UC1, Scalar.All(225));
        using (var big = new Mat())
        {
            Cv2.Resize(ink20, big, new Size(60, 60), 0, 0, InterpolationFlags.Cubic);
            using var roi = new Mat(box, new Rect(4, 22, 60, 60)); // off-centre in the box
            big.CopyTo(roi);
        }
        using var n = DigitNormalizer.Normalize(box, out double inkFraction);
        Assert.NotNull(n);
        Assert.Equal((20, 20), (n.Rows, n.Cols));
        Assert.Equal(MatType.CV_8UC1, n.Type());
        Assert.InRange(inkFraction, 0.02, 0.4);
        Cv2.MinMaxLoc(n, out double min, out double max);
        Assert.Equal(0, min);
        Assert.Equal(255, max);
        var m = Cv2.Moments(n);
        Assert.InRange(m.M10 / m.M00, 8.5, 10.5);
        Assert.InRange(m.M01 / m.M00, 8.5, 10.5);
        using var mask = new Mat();
        Cv2.Threshold(n, mask, 50, 255, ThresholdTypes.Binary);
        var bb = Cv2.BoundingRect(mask);
        Assert.InRange(Math.Max(bb.Width, bb.Height), 13, 18);
    }

    [Fact]
    public void A_view_into_a_larger_page_and_a_colour_crop_work_like_a_copy()
    {
        var set = DigitSet.LoadBundled();
        using var page = new Mat(300, 300, MatType.CV_8UC1, Scalar.All(240));
        using (var big = new Mat())
        {
            Cv2.Resize(set.HeldOutInk[200].InkOnPaper, big, new Size(50, 50), 0, 0, InterpolationFlags.Cubic);
            using var roi = new Mat(page, new Rect(110, 120, 50, 50));
            big.CopyTo(roi);
        }
        using var view = new Mat(page, new Rect(100, 110, 70, 70));
        using var copy = view.Clone();
        using var colour = new Mat();
        Cv2.CvtColor(copy, colour, ColorConversionCodes.GRAY2BGR);
        using var a = DigitNormalizer.Normalize(view, out double fa);
        using var b = DigitNormalizer.Normalize(copy, out double fb);
        using var c = DigitNormalizer.Normalize(colour, out double fc);
        Assert.NotNull(a);
        Assert.NotNull(b);
        Assert.NotNull(c);
        Assert.Equal(fb, fa);
        Assert.Equal(fb, fc);
        Assert.Equal(Bytes(b), Bytes(a));
        Assert.Equal(Bytes(b), Bytes(c));
    }

    [Fact]
    public void Normalization_is_deterministic()
    {
        var set = DigitSet.LoadBundled();
        var rng1 = new Random(3);
        var rng2 = new Random(3);
        for (int i = 0; i < 20; i++)
        {
            using var p1 = DigitPhotoSim.Render(set.HeldOutInk[i * 50].InkOnPaper, rng1, i % 2 == 0);
            using var p2 = DigitPhotoSim.Render(set.HeldOutInk[i * 50].InkOnPaper, rng2, i % 2 == 0);
            using var n1 = DigitNormalizer.Normalize(p1, out _);
            using var n2 = DigitNormalizer.Normalize(p2, out _);
            Assert.NotNull(n1);
            Assert.Equal(Bytes(n1), Bytes(n2!));
        }
    }

    private static Mat Paper(Random rng, int h, int w, double noise)
    {
        double level = 190 + rng.NextDouble() * 50, gx = (rng.NextDouble() * 2 - 1) * 30, gy = (rng.NextDouble() * 2 - 1) * 30;
        var px = new byte[w * h];
        for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
        {
            double g = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
            px[y * w + x] = (byte)Math.Clamp(level + gx * (x / (double)w - 0.5) + gy * (y / (double)h - 0.5) + noise * g, 0, 255);
        }
        var m = new Mat(h, w, MatType.CV_8UC1);
        m.SetArray(px);
        Cv2.GaussianBlur(m, m, new Size(0, 0), 0.8);
        return m;
    }

    private static Mat Jpeg(Mat m, int quality)
    {
        Cv2.ImEncode(".jpg", m, out byte[] jpg, new ImageEncodingParam(ImwriteFlags.JpegQuality, quality));
        return Cv2.ImDecode(jpg, ImreadModes.Grayscale);
    }

    private static byte[] Bytes(Mat m)
    {
        using var c = m.Clone();
        c.GetArray(out byte[] b);
        return b;
    }
}
