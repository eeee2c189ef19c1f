using OpenCvSharp;

namespace KpuEdge.Vision.Tests;

/// <summary>Re-draws a digit (dark ink on light paper, e.g. a HeldOutInk image) bigger into a handwriting box the way
/// a filled, photographed form shows it: scaled to 40–70 px tall, offset, thicker or thinner pen, slight slant and
/// rotation, pen-like (binarized) ink, uneven paper, blur, sensor noise, JPEG. Seeded and deterministic.</summary>
internal static class DigitPhotoSim
{
    public static Mat Render(Mat inkOnPaper, Random rng, bool withBoxEdge = false)
    {
        // white-on-black working copy, upscaled to the target height
        using var ink = new Mat();
        Cv2.BitwiseNot(inkOnPaper, ink);
        using var mask0 = new Mat();
        Cv2.Threshold(ink, mask0, 60, 255, ThresholdTypes.Binary);
        var bb = Cv2.BoundingRect(mask0);
        if (bb.Height <= 0) bb = new Rect(0, 0, ink.Cols, ink.Rows);
        int targetH = rng.Next(40, 71);
        double scale = (double)targetH / bb.Height;
        int bw = (int)Math.Round(ink.Cols * scale), bh = (int)Math.Round(ink.Rows * scale);
        using var up = new Mat();
        Cv2.Resize(ink, up, new OpenCvSharp.Size(bw, bh), 0, 0, InterpolationFlags.Cubic);
        Cv2.GaussianBlur(up, up, new OpenCvSharp.Size(0, 0), scale * 0.35);

        // box: interior 1.2–1.5× the digit height, digit offset inside it
        int box = (int)Math.Round(targetH * (1.2 + rng.NextDouble() * 0.3)) + 4;
        double slant = (rng.NextDouble() * 2 - 1) * 0.25, rot = (rng.NextDouble() * 2 - 1) * 6 * Math.PI / 180;
        double cx = bw / 2.0, cy = bh / 2.0;
        double ox = box / 2.0 + (rng.NextDouble() * 2 - 1) * (box - targetH * 0.8) * 0.3;
        double oy = box / 2.0 + (rng.NextDouble() * 2 - 1) * (box - targetH) * 0.4;
        double c = Math.Cos(rot), s = Math.Sin(rot);
        double a00 = c, a01 = -s + c * -slant, a10 = s, a11 = c + s * -slant;
        using var m = new Mat(2, 3, MatType.CV_64F);
        m.Set(0, 0, a00); m.Set(0, 1, a01); m.Set(0, 2, ox - a00 * cx - a01 * cy);
        m.Set(1, 0, a10); m.Set(1, 1, a11); m.Set(1, 2, oy - a10 * cx - a11 * cy);
        using var placed = new Mat();
        Cv2.WarpAffine(up, placed, m, new OpenCvSharp.Size(box, box), InterpolationFlags.Linear, BorderTypes.Constant, Scalar.All(0));

        // pen: binarize, then thicker or thinner stroke
        using var pen = new Mat();
        Cv2.Threshold(placed, pen, 110, 255, ThresholdTypes.Binary);
        int r = (int)Math.Round((rng.NextDouble() * 3 - 1) * targetH / 55.0); // pen from fine to bold
        if (r != 0)
        {
            using var k = Cv2.GetStructuringElement(MorphShapes.Ellipse, new OpenCvSharp.Size(2 * Math.Abs(r) + 1, 2 * Math.Abs(r) + 1));
            using var tmp = new Mat();
            if (r > 0) Cv2.Dilate(pen, tmp, k); else Cv2.Erode(pen, tmp, k);
            if (Cv2.CountNonZero(tmp) > 30) tmp.CopyTo(pen);
        }
        Cv2.GaussianBlur(pen, pen, new OpenCvSharp.Size(0, 0), 0.7);

        // paper with a lighting gradient, ink colour
        double paper = 200 + rng.NextDouble() * 45, inkLevel = 20 + rng.NextDouble() * 70;
        double gx = (rng.NextDouble() * 2 - 1) * 30, gy = (rng.NextDouble() * 2 - 1) * 30;
        var img = new Mat(box, box, MatType.CV_32F);
        using (var penF = new Mat())
        {
            pen.ConvertTo(penF, MatType.CV_32F, 1.0 / 255);
            var pix = new float[box * box];
            penF.GetArray(out float[] p);
            for (int y = 0; y < box; y++)
            for (int x = 0; x < box; x++)
            {
                double bg = paper + gx * (x / (double)box - 0.5) + gy * (y / (double)box - 0.5);
                double ik = Math.Min(inkLevel, bg - 60) + (gx + gy) * 0.1;
                pix[y * box + x] = (float)(bg - (bg - ik) * p[y * box + x]);
            }
            img.SetArray(pix);
        }
        if (withBoxEdge)
        {
            // a sliver of the printed box line left by an imprecise cut
            int side = rng.Next(4), th = rng.Next(1, 4);
            var rect = side switch { 0 => new Rect(0, 0, box, th), 1 => new Rect(0, box - th, box, th), 2 => new Rect(0, 0, th, box), _ => new Rect(box - th, 0, th, box) };
            using var sub = new Mat(img, rect);
            sub.SetTo(Scalar.All(inkLevel + 10));
        }
        // focus blur, sensor noise
        double sigma = 0.5 + rng.NextDouble() * 1.5;
        Cv2.GaussianBlur(img, img, new OpenCvSharp.Size(0, 0), sigma);
        double noiseSd = 2 + rng.NextDouble() * 8;
        img.GetArray(out float[] px);
        for (int i = 0; i < px.Length; i++) px[i] += (float)(noiseSd * Gaussian(rng));
        img.SetArray(px);
        var out8 = new Mat();
        img.ConvertTo(out8, MatType.CV_8U);
        img.Dispose();
        // JPEG
        Cv2.ImEncode(".jpg", out8, out byte[] jpg, new ImageEncodingParam(ImwriteFlags.JpegQuality, rng.Next(35, 91)));
        out8.Dispose();
        return Cv2.ImDecode(jpg, ImreadModes.Grayscale);
    }

    private static double Gaussian(Random rng)
        => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
