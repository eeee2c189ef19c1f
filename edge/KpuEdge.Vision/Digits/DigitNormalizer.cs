using OpenCvSharp;

namespace KpuEdge.Vision.Digits;

/// <summary>
/// Turns the inside of a handwriting box into the 20×20 white-on-black image the classifier was trained on.
/// <para>
/// The photographed path (<see cref="Normalize"/>): the paper is modelled as a least-squares plane over the non-ink
/// pixels (robust to bold strokes and to a lighting gradient across the box); ink is how much darker than that plane
/// a pixel is. A box is blank when no ink stands out of the paper noise (contrast below
/// max(<see cref="MinContrast"/> grey levels, 6σ)) or what stands out is too small (extent under 15% of the box,
/// or under 0.4% of its area). Ink is thresholded at max(30% of the ink contrast, 4.5σ); rows or columns in the
/// outer 10% of the crop that are at least 75% ink, and thin slivers lying along an edge, are dropped as remnants of
/// the printed box line (so a cut a few pixels too generous is harmless); components smaller than 6% of the largest
/// one (and tiny specks) are dropped as noise. What is kept becomes a soft ink map in [0,1] and goes through the
/// canonical normalization. Stateless and thread-safe.
/// </para>
/// <para>
/// The canonical normalization (also applied to every training digit): deskew by image moments (shear so that
/// mu11 = 0, as OpenCV's digits sample does, slant clamped to ±45°), scale the ink bounding box so its longer side
/// is <see cref="FitBox"/> px, place it in 20×20 with its centre of mass at the centre, stretch to a maximum of 255.
/// Deskewing and the 16 px box were chosen by 5-fold cross-validation on the training part of the bundled set
/// (both better than no deskew or a 14 px box, on clean and on re-drawn, photographed digits).
/// </para>
/// </summary>
public static class DigitNormalizer
{
    /// <summary>Side of a normalized digit image, px.</summary>
    public const int Size = 20;
    /// <summary>Longer side of the ink bounding box in a normalized digit, px.</summary>
    internal const double FitBox = 16.0;
    internal const bool Deskew = true;
    internal const double MaxSkew = 1.0;
    /// <summary>Least ink-to-paper contrast (grey levels) for a box to count as written in.</summary>
    internal const double MinContrast = 24;
    internal const double ThresholdShare = 0.3;
    /// <summary>Least extent of the kept ink, as a share of the crop's shorter side.</summary>
    internal const double MinExtent = 0.15;
    /// <summary>Least ink area, as a share of the crop.</summary>
    internal const double MinInkFraction = 0.004;
    /// <summary>Box-line remnants are looked for in this outer share of the crop, as rows/columns this full of ink.</summary>
    internal const double EdgeBand = 0.1, EdgeLineCoverage = 0.75;

    /// <summary>The parameters above, for the classifier's cache key.</summary>
    internal static string Parameters =>
        FormattableString.Invariant($"fit={FitBox};deskew={Deskew};skew={MaxSkew};contrast={MinContrast};thr={ThresholdShare};ext={MinExtent};frac={MinInkFraction};edge={EdgeBand}/{EdgeLineCoverage};paper=top30,halfnormal");

    /// <summary>
    /// Normalizes a grayscale crop of the inside of a handwriting box (dark ink on light paper, any size, possibly
    /// photographed) to a 20×20 CV_8UC1 white-on-black digit, or null when the box is blank.
    /// </summary>
    /// <param name="crop">CV_8UC1 (BGR/BGRA are converted); a sub-matrix view of a page is fine.</param>
    /// <param name="inkFraction">Share of the crop's pixels kept as ink (0 when nothing stands out of the paper).</param>
    public static Mat? Normalize(Mat crop, out double inkFraction)
    {
        ArgumentNullException.ThrowIfNull(crop);
        inkFraction = 0;
        if (crop.Empty()) return null;
        using var gray = ToGray8(crop);
        int w = gray.Cols, h = gray.Rows, minSide = Math.Min(w, h);
        if (minSide < 6) return null;

        // Paper level: a plane fitted to the paper pixels (robust to bold strokes and to a lighting gradient);
        // ink = how much darker than the paper a pixel is.
        using var ink = PaperMinus(gray, out double sigma);

        // Ink level: the maximum of a 3×3 median (an isolated noisy pixel cannot set it).
        using var inkMed = new Mat();
        Cv2.MedianBlur(ink, inkMed, 3);
        Cv2.MinMaxLoc(inkMed, out _, out double contrast);
        if (contrast < Math.Max(MinContrast, 6 * sigma)) return null;

        double t = Math.Max(ThresholdShare * contrast, 4.5 * sigma);
        using var mask = new Mat();
        Cv2.Threshold(ink, mask, t, 255, ThresholdTypes.Binary);
        RemoveEdgeLines(mask);

        // Keep the digit's strokes, drop specks.
        using var labels = new Mat();
        using var stats = new Mat();
        using var cents = new Mat();
        int n = Cv2.ConnectedComponentsWithStats(mask, labels, stats, cents, PixelConnectivity.Connectivity8);
        int largest = 0;
        for (int i = 1; i < n; i++) largest = Math.Max(largest, stats.At<int>(i, (int)ConnectedComponentsTypes.Area));
        int minArea = Math.Max(Math.Max(3, (int)(0.0015 * w * h)), (int)(0.06 * largest));
        var keep = new bool[n];
        int kept = 0, x0 = w, y0 = h, x1 = -1, y1 = -1;
        for (int i = 1; i < n; i++)
        {
            int area = stats.At<int>(i, (int)ConnectedComponentsTypes.Area);
            if (area < minArea) continue;
            int l = stats.At<int>(i, 0), tp = stats.At<int>(i, 1), ww = stats.At<int>(i, 2), hh = stats.At<int>(i, 3);
            if (IsEdgeSliver(l, tp, ww, hh, w, h)) continue;
            keep[i] = true; kept += area;
            x0 = Math.Min(x0, l); y0 = Math.Min(y0, tp); x1 = Math.Max(x1, l + ww); y1 = Math.Max(y1, tp + hh);
        }
        inkFraction = (double)kept / (w * h);
        if (kept == 0 || Math.Max(x1 - x0, y1 - y0) < MinExtent * minSide || inkFraction < MinInkFraction) return null;

        using var keepMask = new Mat(h, w, MatType.CV_8UC1);
        labels.GetArray(out int[] lab);
        var km = new byte[w * h];
        for (int i = 0; i < km.Length; i++) km[i] = keep[lab[i]] ? (byte)255 : (byte)0;
        keepMask.SetArray(km);
        Cv2.Dilate(keepMask, keepMask, null);

        // Soft ink in [0,1]: strokes saturate, edges keep their anti-aliasing.
        using var soft = new Mat();
        ink.ConvertTo(soft, MatType.CV_32F, 1.0 / (0.75 * contrast));
        Cv2.Threshold(soft, soft, 1.0, 1.0, ThresholdTypes.Trunc);
        Cv2.Threshold(soft, soft, 0.0, 0.0, ThresholdTypes.Tozero);
        using var softMasked = new Mat(h, w, MatType.CV_32F, Scalar.All(0));
        soft.CopyTo(softMasked, keepMask);
        return NormalizeInk(softMasked);
    }

    /// <summary>CV_8U map of (paper − pixel), the paper modelled as a least-squares plane over the pixels that are not
    /// ink: first fitted on the brightest 30% (a box is at least that much paper, however bold the digit), then refitted
    /// twice on every pixel not clearly darker than the plane. <paramref name="sigma"/> is the paper's noise, estimated
    /// from the pixels brighter than the plane only (ink is never brighter than paper, so they are pure noise).</summary>
    private static Mat PaperMinus(Mat gray, out double sigma)
    {
        int w = gray.Cols, h = gray.Rows;
        gray.GetArray(out byte[] g);
        var hist = new int[256];
        foreach (var v in g) hist[v]++;
        int bright = Percentile(hist, g.Length, 0.7);
        var use = new bool[g.Length];
        for (int i = 0; i < g.Length; i++) use[i] = g[i] >= bright;
        var plane = new Plane(bright, 0, 0, (w - 1) / 2.0, (h - 1) / 2.0);
        sigma = 1;
        for (int pass = 0; pass < 3; pass++)
        {
            plane = Plane.Fit(g, w, h, use) ?? plane;
            sigma = plane.NoiseAbove(g, w, h);
            double cut = Math.Max(8, 3 * sigma);
            for (int y = 0, i = 0; y < h; y++)
            for (int x = 0; x < w; x++, i++)
                use[i] = plane.At(x, y) - g[i] < cut;
        }
        sigma = Math.Max(1.0, sigma);
        var outPx = new byte[g.Length];
        for (int y = 0, i = 0; y < h; y++)
        for (int x = 0; x < w; x++, i++)
            outPx[i] = (byte)Math.Clamp(Math.Round(plane.At(x, y) - g[i]), 0, 255);
        var ink = new Mat(h, w, MatType.CV_8UC1);
        ink.SetArray(outPx);
        return ink;
    }

    /// <summary>v = A + Bx·(x − Cx) + By·(y − Cy).</summary>
    private readonly record struct Plane(double A, double Bx, double By, double Cx, double Cy)
    {
        public double At(int x, int y) => A + Bx * (x - Cx) + By * (y - Cy);

        public static Plane? Fit(byte[] g, int w, int h, bool[] use)
        {
            double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
            double n = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, sv = 0, sxv = 0, syv = 0;
            for (int y = 0, i = 0; y < h; y++)
            for (int x = 0; x < w; x++, i++)
            {
                if (!use[i]) continue;
                double dx = x - cx, dy = y - cy, v = g[i];
                n++; sx += dx; sy += dy; sxx += dx * dx; syy += dy * dy; sxy += dx * dy; sv += v; sxv += dx * v; syv += dy * v;
            }
            if (n < 3) return null;
            var m = new double[3, 4] { { n, sx, sy, sv }, { sx, sxx, sxy, sxv }, { sy, sxy, syy, syv } };
            return Solve3(m, out double a, out double bx, out double by) ? new Plane(a, bx, by, cx, cy) : new Plane(sv / n, 0, 0, cx, cy);
        }

        /// <summary>Noise of the paper: 1.4826 × the median of (pixel − plane) over the pixels above the plane
        /// (a half-normal median is 0.6745 σ).</summary>
        public double NoiseAbove(byte[] g, int w, int h)
        {
            var hist = new int[1024]; // quarter grey levels
            int n = 0;
            for (int y = 0, i = 0; y < h; y++)
            for (int x = 0; x < w; x++, i++)
            {
                double r = g[i] - At(x, y);
                if (r <= 0) continue;
                hist[Math.Min(1023, (int)(r * 4))]++;
                n++;
            }
            return n < 8 ? 1.0 : 1.4826 * (Percentile(hist, n, 0.5) + 0.5) / 4;
        }
    }

    private static bool Solve3(double[,] m, out double a, out double b, out double c)
    {
        a = b = c = 0;
        for (int col = 0; col < 3; col++)
        {
            int piv = col;
            for (int r = col + 1; r < 3; r++) if (Math.Abs(m[r, col]) > Math.Abs(m[piv, col])) piv = r;
            if (Math.Abs(m[piv, col]) < 1e-9) return false;
            if (piv != col) for (int k = 0; k < 4; k++) (m[col, k], m[piv, k]) = (m[piv, k], m[col, k]);
            for (int r = 0; r < 3; r++)
            {
                if (r == col) continue;
                double f = m[r, col] / m[col, col];
                for (int k = col; k < 4; k++) m[r, k] -= f * m[col, k];
            }
        }
        a = m[0, 3] / m[0, 0]; b = m[1, 3] / m[1, 1]; c = m[2, 3] / m[2, 2];
        return true;
    }

    /// <summary>A thin piece lying along one edge of the crop, inside the outer band: a remnant of the box line.</summary>
    private static bool IsEdgeSliver(int l, int t, int ww, int hh, int w, int h)
    {
        int band = Math.Max(2, (int)Math.Round(EdgeBand * Math.Min(w, h)));
        bool horizontal = ww >= 3 * hh && (t + hh <= band || t >= h - band);
        bool vertical = hh >= 3 * ww && (l + ww <= band || l >= w - band);
        return horizontal || vertical;
    }

    private static int Percentile(int[] hist, int total, double q)
    {
        long target = (long)Math.Ceiling(q * total), acc = 0;
        for (int v = 0; v < hist.Length; v++) { acc += hist[v]; if (acc >= target) return v; }
        return hist.Length - 1;
    }

    /// <summary>An 8-bit single-channel copy (BGR/BGRA converted to grey; 16-bit and float scaled to 0–255).</summary>
    private static Mat ToGray8(Mat crop)
    {
        int channels = crop.Channels();
        if (channels is not (1 or 3 or 4)) throw new ArgumentException($"a grayscale (or BGR/BGRA) crop is expected, got {channels} channels", nameof(crop));
        using var eight = new Mat();
        var depth = crop.Depth();
        if (depth == MatType.CV_8U) crop.CopyTo(eight);
        else if (depth == MatType.CV_16U) crop.ConvertTo(eight, MatType.CV_8U, 1.0 / 257);
        else if (depth == MatType.CV_32F || depth == MatType.CV_64F)
        {
            using var flat = crop.Reshape(1);
            Cv2.MinMaxLoc(flat, out _, out double max);
            crop.ConvertTo(eight, MatType.CV_8U, max <= 1.0 ? 255.0 : 1.0);
        }
        else crop.ConvertTo(eight, MatType.CV_8U);
        var gray = new Mat();
        if (channels == 3) Cv2.CvtColor(eight, gray, ColorConversionCodes.BGR2GRAY);
        else if (channels == 4) Cv2.CvtColor(eight, gray, ColorConversionCodes.BGRA2GRAY);
        else eight.CopyTo(gray);
        return gray;
    }

    /// <summary>Clears rows and columns in the outer band (10% of the shorter side) in which ink covers at least 75% of
    /// the crop's width or height, counting a pixel when it or a neighbour across the line is ink (so a line tilted by
    /// a pixel or two still counts): remnants of the printed box line left by an imprecise cut. Both directions are
    /// measured before anything is cleared, so a frame whose corners overlap is found whole.</summary>
    private static void RemoveEdgeLines(Mat mask)
    {
        int w = mask.Cols, h = mask.Rows;
        int band = Math.Max(2, (int)Math.Round(EdgeBand * Math.Min(w, h)));
        mask.GetArray(out byte[] px);
        bool Ink(int y, int x) => (uint)y < (uint)h && (uint)x < (uint)w && px[y * w + x] != 0;
        var rows = new List<int>();
        var cols = new List<int>();
        for (int y = 0; y < h; y++)
        {
            if (y >= band && y < h - band) continue;
            int c = 0;
            for (int x = 0; x < w; x++) if (Ink(y - 1, x) || Ink(y, x) || Ink(y + 1, x)) c++;
            if (c >= EdgeLineCoverage * w) rows.Add(y);
        }
        for (int x = 0; x < w; x++)
        {
            if (x >= band && x < w - band) continue;
            int c = 0;
            for (int y = 0; y < h; y++) if (Ink(y, x - 1) || Ink(y, x) || Ink(y, x + 1)) c++;
            if (c >= EdgeLineCoverage * h) cols.Add(x);
        }
        if (rows.Count == 0 && cols.Count == 0) return;
        foreach (var y in rows) Array.Clear(px, y * w, w);
        foreach (var x in cols) for (int y = 0; y < h; y++) px[y * w + x] = 0;
        mask.SetArray(px);
    }

    /// <summary>Canonical normalization of a white-on-black ink map (CV_32F in [0,1] or CV_8U), any size.</summary>
    internal static Mat? NormalizeInk(Mat ink)
    {
        using var f = new Mat();
        if (ink.Type() == MatType.CV_8UC1) ink.ConvertTo(f, MatType.CV_32F, 1.0 / 255);
        else ink.CopyTo(f);
        Cv2.MinMaxLoc(f, out _, out double max);
        if (max <= 1e-6) return null;
        Mat src = f;
        using var desk = new Mat();
        if (Deskew)
        {
            var dm = InkMoments.Of(f);
            if (dm.M00 > 1e-9 && Math.Abs(dm.Mu02) > 1e-6)
            {
                double skew = Math.Clamp(dm.Mu11 / dm.Mu02, -MaxSkew, MaxSkew);
                double ycom = dm.Cy;
                int pad = (int)Math.Ceiling(Math.Abs(skew) * f.Rows / 2.0) + 1;
                // inverse map: x_src = x_dst - pad + skew * (y - ycom)
                using var sm = new Mat(2, 3, MatType.CV_64F);
                sm.Set(0, 0, 1.0); sm.Set(0, 1, skew); sm.Set(0, 2, -pad - skew * ycom);
                sm.Set(1, 0, 0.0); sm.Set(1, 1, 1.0); sm.Set(1, 2, 0.0);
                Cv2.WarpAffine(f, desk, sm, new OpenCvSharp.Size(f.Cols + 2 * pad, f.Rows), InterpolationFlags.Linear | InterpolationFlags.WarpInverseMap, BorderTypes.Constant, Scalar.All(0));
                src = desk;
            }
        }
        using var mask = new Mat();
        Cv2.Threshold(src, mask, 0.2 * max, 255, ThresholdTypes.Binary);
        using var mask8 = new Mat();
        mask.ConvertTo(mask8, MatType.CV_8U);
        var bb = Cv2.BoundingRect(mask8);
        if (bb.Width <= 0 || bb.Height <= 0) return null;
        double s = FitBox / Math.Max(bb.Width, bb.Height);
        using var roi = new Mat(src, bb);
        using var scaled = new Mat();
        int sw = Math.Max(1, (int)Math.Round(bb.Width * s)), sh = Math.Max(1, (int)Math.Round(bb.Height * s));
        Cv2.Resize(roi, scaled, new OpenCvSharp.Size(sw, sh), 0, 0, s < 1 ? InterpolationFlags.Area : InterpolationFlags.Linear);
        var m = InkMoments.Of(scaled);
        if (m.M00 <= 1e-9) return null;
        double cx = m.Cx, cy = m.Cy;
        double c = (Size - 1) / 2.0;
        using var t = new Mat(2, 3, MatType.CV_64F);
        t.Set(0, 0, 1.0); t.Set(0, 1, 0.0); t.Set(0, 2, c - cx);
        t.Set(1, 0, 0.0); t.Set(1, 1, 1.0); t.Set(1, 2, c - cy);
        using var result = new Mat();
        Cv2.WarpAffine(scaled, result, t, new OpenCvSharp.Size(Size, Size), InterpolationFlags.Linear, BorderTypes.Constant, Scalar.All(0));
        Cv2.MinMaxLoc(result, out _, out double rmax);
        if (rmax <= 1e-6) return null;
        var outp = new Mat();
        result.ConvertTo(outp, MatType.CV_8U, 255.0 / rmax);
        return outp;
    }
}

/// <summary>Raw and central second moments of a CV_32FC1 image (managed: cheaper than a native call on tiny images).</summary>
internal readonly record struct InkMoments(double M00, double Cx, double Cy, double Mu11, double Mu02, double Mu20)
{
    public static InkMoments Of(Mat f)
    {
        using var c = f.IsContinuous() ? null : f.Clone();
        var src = c ?? f;
        src.GetArray(out float[] a);
        int w = src.Cols, h = src.Rows;
        double m00 = 0, m10 = 0, m01 = 0;
        for (int y = 0, i = 0; y < h; y++)
        for (int x = 0; x < w; x++, i++) { double v = a[i]; m00 += v; m10 += v * x; m01 += v * y; }
        if (m00 <= 0) return new InkMoments(0, 0, 0, 0, 0, 0);
        double cx = m10 / m00, cy = m01 / m00, mu11 = 0, mu02 = 0, mu20 = 0;
        for (int y = 0, i = 0; y < h; y++)
        for (int x = 0; x < w; x++, i++)
        {
            double v = a[i], dx = x - cx, dy = y - cy;
            mu11 += v * dx * dy; mu02 += v * dy * dy; mu20 += v * dx * dx;
        }
        return new InkMoments(m00, cx, cy, mu11, mu02, mu20);
    }
}
