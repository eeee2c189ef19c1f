using OpenCvSharp;

namespace KpuEdge.Vision.Digits;

/// <summary>
/// Training-time distortions of a raw 20×20 white-on-black digit, each ending in the same normalization as a real
/// box, so the classifier learns what re-drawn, photographed ink looks like after <see cref="DigitNormalizer"/>:
/// rotation ±10°, slant ±0.2, anisotropic scale ±12%, an elastic warp (half of them), pen-like binarization at a random
/// level (70% of them), thinner or thicker stroke, blur, and for a quarter of them the whole photographed path
/// (ink put on uneven paper with noise and JPEG, then <see cref="DigitNormalizer.Normalize"/>).
/// Deterministic for a given <see cref="Random"/>.
/// </summary>
internal static class DigitAugment
{
    private const int Up = 3;                 // work at 3× resolution
    private const double MaxRotationDeg = 10, MaxShear = 0.2, MaxScale = 0.12;
    private const double GreyShare = 0.3;     // keep the grey (anti-aliased) stroke instead of binarizing
    private const double ElasticShare = 0.5, ElasticAmp = 0.035;
    private const double PhotoShare = 0.25;

    internal static string Parameters => FormattableString.Invariant(
        $"up={Up};rot={MaxRotationDeg};shear={MaxShear};scale={MaxScale};grey={GreyShare};el={ElasticShare}/{ElasticAmp};photo={PhotoShare};morph=-2..3;blur=2.5");

    /// <summary>One random distortion of <paramref name="raw"/> (CV_8U white on black), normalized; null if it vanished.</summary>
    public static Mat? Distort(Mat raw, Random rng)
    {
        int n = raw.Rows * Up, pad = n / 4, big = n + 2 * pad;
        using var up = new Mat();
        Cv2.Resize(raw, up, new OpenCvSharp.Size(n, n), 0, 0, InterpolationFlags.Cubic);
        using var canvas = new Mat(big, big, MatType.CV_8UC1, Scalar.All(0));
        using (var sub = new Mat(canvas, new Rect(pad, pad, n, n))) up.CopyTo(sub);

        double rot = (rng.NextDouble() * 2 - 1) * MaxRotationDeg * Math.PI / 180;
        double shear = (rng.NextDouble() * 2 - 1) * MaxShear;
        double sx = 1 + (rng.NextDouble() * 2 - 1) * MaxScale, sy = 1 + (rng.NextDouble() * 2 - 1) * MaxScale;
        double c = Math.Cos(rot), s = Math.Sin(rot);
        // A = Rotation · Shear · Scale, about the canvas centre
        double a00 = c * sx, a01 = c * shear * sy - s * sy, a10 = s * sx, a11 = s * shear * sy + c * sy;
        double cx = big / 2.0, cy = big / 2.0;
        using var m = Mat.FromPixelData(2, 3, MatType.CV_64FC1, new[] { a00, a01, cx - a00 * cx - a01 * cy, a10, a11, cy - a10 * cx - a11 * cy });
        using var warped = new Mat();
        Cv2.WarpAffine(canvas, warped, m, new OpenCvSharp.Size(big, big), InterpolationFlags.Linear, BorderTypes.Constant, Scalar.All(0));
        if (rng.NextDouble() < ElasticShare) Elastic(warped, rng);

        using var pen = new Mat();
        if (rng.NextDouble() < GreyShare) warped.CopyTo(pen);
        else Cv2.Threshold(warped, pen, 70 + rng.NextDouble() * 100, 255, ThresholdTypes.Binary);
        int morph = rng.Next(-2, 4);
        if (morph != 0)
        {
            using var k = Cv2.GetStructuringElement(MorphShapes.Ellipse, new OpenCvSharp.Size(2 * Math.Abs(morph) + 1, 2 * Math.Abs(morph) + 1));
            using var tmp = new Mat();
            if (morph > 0) Cv2.Dilate(pen, tmp, k); else Cv2.Erode(pen, tmp, k);
            if (Cv2.CountNonZero(tmp) > 20) tmp.CopyTo(pen);
        }
        double sigma = rng.NextDouble() * 2.5;
        if (sigma > 0.3) Cv2.GaussianBlur(pen, pen, new OpenCvSharp.Size(0, 0), sigma);
        if (rng.NextDouble() < PhotoShare) return OnPaper(pen, rng);
        return DigitNormalizer.NormalizeInk(pen);
    }

    /// <summary>A smooth random displacement field (4×4 control grid, bicubic), applied in place.</summary>
    private static void Elastic(Mat img, Random rng)
    {
        int n = img.Rows;
        const int g = 4;
        double amp = ElasticAmp * n;
        var ax = new float[g * g];
        var ay = new float[g * g];
        for (int i = 0; i < g * g; i++)
        {
            ax[i] = (float)((rng.NextDouble() * 2 - 1) * amp);
            ay[i] = (float)((rng.NextDouble() * 2 - 1) * amp);
        }
        using var cx = Mat.FromPixelData(g, g, MatType.CV_32FC1, ax);
        using var cy = Mat.FromPixelData(g, g, MatType.CV_32FC1, ay);
        using var fx = new Mat();
        using var fy = new Mat();
        Cv2.Resize(cx, fx, new OpenCvSharp.Size(n, n), 0, 0, InterpolationFlags.Cubic);
        Cv2.Resize(cy, fy, new OpenCvSharp.Size(n, n), 0, 0, InterpolationFlags.Cubic);
        fx.GetArray(out float[] dx);
        fy.GetArray(out float[] dy);
        for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) { dx[y * n + x] += x; dy[y * n + x] += y; }
        fx.SetArray(dx);
        fy.SetArray(dy);
        using var src = img.Clone();
        Cv2.Remap(src, img, fx, fy, InterpolationFlags.Linear, BorderTypes.Constant, Scalar.All(0));
    }

    /// <summary>Puts the ink on uneven paper with noise (half of the time JPEG-compressed) and reads it back with
    /// <see cref="DigitNormalizer.Normalize"/>, the path a photographed box takes.</summary>
    private static Mat? OnPaper(Mat ink, Random rng)
    {
        int n = ink.Rows;
        ink.GetArray(out byte[] a);
        double paper = 170 + rng.NextDouble() * 75, dark = 15 + rng.NextDouble() * 90, noise = rng.NextDouble() * 8;
        double gx = (rng.NextDouble() * 2 - 1) * 25, gy = (rng.NextDouble() * 2 - 1) * 25;
        var px = new byte[a.Length];
        for (int y = 0, i = 0; y < n; y++)
        for (int x = 0; x < n; x++, i++)
        {
            double bg = paper + gx * ((double)x / n - 0.5) + gy * ((double)y / n - 0.5);
            double v = bg - (bg - dark) * a[i] / 255.0 + noise * GaussTable[rng.Next(GaussTable.Length)];
            px[i] = (byte)Math.Clamp(Math.Round(v), 0, 255);
        }
        using var img = Mat.FromPixelData(n, n, MatType.CV_8UC1, px);
        if (rng.NextDouble() < 0.5)
        {
            Cv2.ImEncode(".jpg", img, out byte[] jpg, new ImageEncodingParam(ImwriteFlags.JpegQuality, rng.Next(40, 95)));
            using var dec = Cv2.ImDecode(jpg, ImreadModes.Grayscale);
            return DigitNormalizer.Normalize(dec, out _);
        }
        return DigitNormalizer.Normalize(img, out _);
    }

    /// <summary>Standard normal quantiles at 4,096 evenly spaced probabilities: cheap, deterministic noise.</summary>
    private static readonly double[] GaussTable = Enumerable.Range(0, 4096).Select(i => InverseNormal((i + 0.5) / 4096)).ToArray();

    /// <summary>Acklam's rational approximation of the standard normal quantile (relative error &lt; 1.2e-9).</summary>
    private static double InverseNormal(double p)
    {
        double[] a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00];
        double[] b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
        double[] c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00];
        double[] d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
        if (p < 0.02425)
        {
            double q = Math.Sqrt(-2 * Math.Log(p));
            return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        }
        if (p > 1 - 0.02425)
        {
            double q = Math.Sqrt(-2 * Math.Log(1 - p));
            return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        }
        double r = p - 0.5, t = r * r;
        return (((((a[0] * t + a[1]) * t + a[2]) * t + a[3]) * t + a[4]) * t + a[5]) * r / (((((b[0] * t + b[1]) * t + b[2]) * t + b[3]) * t + b[4]) * t + 1);
    }
}
