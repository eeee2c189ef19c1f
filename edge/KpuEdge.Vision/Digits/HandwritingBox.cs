using OpenCvSharp;

namespace KpuEdge.Vision.Digits;

/// <summary>What <see cref="HandwritingBox.Inspect"/> found in one printed handwriting box.</summary>
/// <param name="Interior">The box inside its printed lines and all of their blur, in page coordinates: where the blank
/// test looks.</param>
/// <param name="LinesFound">False when the box's own lines could not be told apart from the page; then
/// <paramref name="Interior"/> is the box less <see cref="HandwritingBox.FallbackInset"/> and <paramref name="Written"/>
/// is true, leaving the decision to <see cref="DigitNormalizer.Normalize"/> alone (as before lines were looked for).</param>
/// <param name="LineContrast">How much darker than the paper the printed lines look, in grey levels: this image's own
/// measure of what ink looks like.</param>
/// <param name="Written">Whether enough ink stands out of the interior for it to hold a digit.</param>
/// <param name="InkFraction">Share of the interior's pixels counted as ink by that test.</param>
public readonly record struct BoxInside(Rect Interior, bool LinesFound, double LineContrast, bool Written, double InkFraction);

/// <summary>
/// Finds a printed handwriting box's own lines on a registered page and decides whether anything is written in it.
/// <para>
/// <b>Why</b>: registration leaves the lines a few pixels from where the layout puts them, and focus blur, sharpening
/// and JPEG spread them several pixels inwards, so a fixed inset leaves faint remnants of the lines inside the crop.
/// In a noisy phone photo the normalizer's noise-relative threshold hid them; in a clean image (a scanner, a good
/// phone, or the recompressed link image, whose noise is gone) they counted as ink and a blank leading box could read
/// as a digit, even at full confidence.
/// </para>
/// <para>
/// <b>Lines</b>: each line is the darkest column (row) of a median profile taken across the box's middle, where a
/// printed line darkens every pixel and handwriting rarely half of them; left and right (top and bottom) are searched
/// as a pair about the box's printed width (height) apart, so a neighbouring box's line or the label above is not taken
/// for one. A line's blur ends, walking inwards from its centre, where a bright profile (the grey only a tenth of the
/// column is brighter than, which handwriting beside the line leaves at the paper) is back within
/// <see cref="BlurShare"/> of the line's contrast from the paper — but no farther than the blur reaches on the line's
/// outer side, since blur spreads a line alike both ways and a stroke touching it must not stretch the cut.
/// </para>
/// <para>
/// <b>Blank</b>: a box is written in when the interior (inside the blur) holds connected ink — pixels darker than
/// the paper (a plane fitted to the bright profiles) by at least <see cref="InkShare"/> of the printed lines' own
/// contrast and <see cref="DigitNormalizer.MinContrast"/> — of at least <see cref="DigitNormalizer.MinInkFraction"/> of
/// its area and <see cref="DigitNormalizer.MinExtent"/> of its shorter side, specks and slivers along the cut ignored.
/// The threshold scales with how dark print looks in this image rather than with its noise: JPEG ringing and what is
/// left of a line's blur are a few grey levels, handwriting is most of the print's contrast (the lightest simulated
/// ballpoint about half of it). Noise is left to the normalizer, which must also find a digit for the box to be read.
/// </para>
/// Stateless, deterministic and thread-safe; about a fifth of the normalizer's time a box, and a blank box is no
/// longer normalized at all.
/// </summary>
public static class HandwritingBox
{
    /// <summary>The interior when the lines are not found: the box less this many pixels on each side.</summary>
    public const int FallbackInset = 4;
    /// <summary>How far a printed line may lie from where the layout puts it (registration error), px.</summary>
    internal const int Search = 6;
    /// <summary>How much the box's width or height may differ from the layout's (scale error), px.</summary>
    internal const int SizeSlack = 3;
    /// <summary>The profiles are taken over the box's middle: this far in from every line the layout gives, px.</summary>
    internal const int Core = 10;
    /// <summary>Farthest a line's blur may reach from its centre, px.</summary>
    internal const int MaxSpread = 7;
    /// <summary>The quantile of a column's (row's) grey that tells a line's blur (all of it dark) from handwriting.</summary>
    internal const double BrightQuantile = 0.9;
    /// <summary>A bright profile within this share of the line contrast from the paper is past the line's blur.</summary>
    internal const double BlurShare = 0.12;
    /// <summary>Lines fainter than this (grey levels below the paper) are not taken for the box's lines.</summary>
    internal const double MinLineContrast = 40;
    /// <summary>Ink is darker than the paper by at least this share of the printed lines' contrast.</summary>
    internal const double InkShare = 0.3;

    /// <summary>Inspects the printed box <paramref name="box"/> (the rectangle as drawn, its lines through its first and
    /// last pixels) of a registered grey page.</summary>
    /// <param name="page">CV_8UC1, in layout coordinates.</param>
    public static BoxInside Inspect(Mat page, Rect box)
    {
        ArgumentNullException.ThrowIfNull(page);
        if (page.Type() != MatType.CV_8UC1) throw new ArgumentException("a CV_8UC1 page is expected", nameof(page));
        var fallback = new BoxInside(
            new Rect(box.X + FallbackInset, box.Y + FallbackInset, box.Width - 2 * FallbackInset, box.Height - 2 * FallbackInset),
            false, 0, true, 0);
        const int margin = Search + MaxSpread + 2;
        var window = new Rect(box.X - margin, box.Y - margin, box.Width + 2 * margin, box.Height + 2 * margin);
        if (window.X < 0 || window.Y < 0 || window.Right > page.Cols || window.Bottom > page.Rows
            || box.Width < 2 * Core + 4 || box.Height < 2 * Core + 4)
            return fallback;

        using var view = new Mat(page, window);
        using var copy = view.Clone();
        copy.GetArray(out byte[] px);
        int w = window.Width, h = window.Height;
        int left = box.X - window.X, right = left + box.Width - 1, top = box.Y - window.Y, bottom = top + box.Height - 1;

        var columns = Profile.Across(px, w, h, vertical: true, from: top + Core, to: bottom - Core);
        var rows = Profile.Across(px, w, h, vertical: false, from: left + Core, to: right - Core);
        var paper = Paper.Fit(columns, left + Core, right - Core, rows, top + Core, bottom - Core);

        var (l, r) = Pair(columns.Median, left, right);
        var (t, b) = Pair(rows.Median, top, bottom);
        var lines = new[]
        {
            columns.Find(l, +1, paper.AtColumn(l)), columns.Find(r, -1, paper.AtColumn(r)),
            rows.Find(t, +1, paper.AtRow(t)), rows.Find(b, -1, paper.AtRow(b)),
        };
        if (lines.Any(line => line.Contrast < MinLineContrast)) return fallback;
        var (ll, lr, lt, lb) = (lines[0], lines[1], lines[2], lines[3]);

        var interior = new Rect(ll.PastBlur, lt.PastBlur, lr.PastBlur - ll.PastBlur + 1, lb.PastBlur - lt.PastBlur + 1);
        if (interior.Width < box.Width / 2 || interior.Height < box.Height / 2) return fallback;

        double lineContrast = lines.Average(line => line.Contrast);
        var (written, inkFraction) = Ink(px, w, interior, paper, lineContrast);
        return new BoxInside(new Rect(window.X + interior.X, window.Y + interior.Y, interior.Width, interior.Height),
            true, lineContrast, written, inkFraction);
    }

    /// <summary>One printed line as found: how much darker than the paper it is, and the first position inside the box
    /// past its blur (window coordinates).</summary>
    private readonly record struct Line(double Contrast, int PastBlur);

    /// <summary>For each column, the median grey over rows [from, to] and the grey that only a tenth of them are
    /// brighter than (vertical); for each row, the same over columns [from, to]. A printed line and its blur darken all
    /// of their column; handwriting beside a line darkens only part of it, so the bright profile stays at the paper.</summary>
    private sealed record Profile(double[] Median, double[] Bright)
    {
        public static Profile Across(byte[] px, int w, int h, bool vertical, int from, int to)
        {
            int n = vertical ? w : h, len = to - from + 1;
            int lowMid = (len - 1) / 2, highMid = len / 2, quantile = (int)(BrightQuantile * (len - 1));
            var median = new double[n];
            var bright = new double[n];
            // Two-level histogram (16 bins of 16 levels, then the levels of one bin): three order statistics of each
            // column in a few dozen steps instead of a sort.
            Span<int> fine = stackalloc int[256];
            Span<int> coarse = stackalloc int[16];
            for (int i = 0; i < n; i++)
            {
                fine.Clear();
                coarse.Clear();
                for (int k = from; k <= to; k++)
                {
                    int v = vertical ? px[k * w + i] : px[i * w + k];
                    fine[v]++;
                    coarse[v >> 4]++;
                }
                median[i] = (OrderStatistic(fine, coarse, lowMid) + OrderStatistic(fine, coarse, highMid)) / 2.0;
                bright[i] = OrderStatistic(fine, coarse, quantile);
            }
            return new Profile(median, bright);
        }

        /// <summary>The grey level at sorted position <paramref name="position"/> (0-based).</summary>
        private static int OrderStatistic(ReadOnlySpan<int> fine, ReadOnlySpan<int> coarse, int position)
        {
            int seen = 0, bin = 0;
            while (seen + coarse[bin] <= position) seen += coarse[bin++];
            int v = bin << 4;
            while (seen + fine[v] <= position) seen += fine[v++];
            return v;
        }

        /// <summary>
        /// The line whose darkest position is <paramref name="at"/>, the box lying towards <paramref name="inward"/>
        /// (+1 or −1). Its blur ends, walking inwards, where the bright profile is back within <see cref="BlurShare"/>
        /// of the line's contrast from the paper; handwriting touching the blur would stretch that walk, so it goes no
        /// farther than the blur reaches on the line's outer side (print near that side only lengthens the reach).
        /// </summary>
        public Line Find(int at, int inward, double paper)
        {
            double contrast = paper - Median[at];
            double weights = 0, sum = 0;
            // The centre, to a fraction of a pixel: the darkness-weighted mean position, on the bright profile so that
            // a stroke beside the line does not pull it inwards.
            for (int k = Math.Max(0, at - 2); k <= Math.Min(Bright.Length - 1, at + 2); k++)
            {
                double weight = Math.Max(0, paper - Bright[k]);
                weights += weight;
                sum += weight * k;
            }
            double centre = weights > 0 ? sum / weights : at;
            double level = paper - BlurShare * contrast;
            int inner = Walk(at, inward, level), outer = Walk(at, -inward, level);
            double reach = Math.Abs(centre - outer);
            int mirrored = inward > 0 ? (int)Math.Ceiling(centre + reach) : (int)Math.Floor(centre - reach);
            return new Line(contrast, inward > 0 ? Math.Min(inner, mirrored) : Math.Max(inner, mirrored));
        }

        /// <summary>From <paramref name="at"/>, stepping by <paramref name="step"/>, the first position where the bright
        /// profile is at or above <paramref name="level"/> (at most <see cref="MaxSpread"/> + 1 away).</summary>
        private int Walk(int at, int step, double level)
        {
            int k = at + step;
            while (Math.Abs(k - at) <= MaxSpread && (uint)k < (uint)Bright.Length && Bright[k] < level) k += step;
            return k;
        }
    }

    /// <summary>
    /// The paper's grey across the window, a + gx·(x − cx) + gy·(y − cy) (uneven light), fitted to the bright profiles
    /// across the box's middle: a bold digit can darken most of a column there but hardly ever nine tenths of it, and the
    /// few it does are left out as lying below the fit.
    /// </summary>
    private readonly record struct Paper(double A, double Gx, double Gy, double Cx, double Cy)
    {
        public double AtColumn(int x) => A + Gx * (x - Cx);
        public double AtRow(int y) => A + Gy * (y - Cy);
        public double At(int x, int y) => A + Gx * (x - Cx) + Gy * (y - Cy);

        public static Paper Fit(Profile columns, int c0, int c1, Profile rows, int r0, int r1)
        {
            var (ax, gx, cx) = Slope(columns.Bright, c0, c1);
            var (ay, gy, cy) = Slope(rows.Bright, r0, r1);
            return new Paper((ax + ay) / 2, gx, gy, cx, cy);
        }

        /// <summary>A least-squares line through profile[i0..i1], refitted without the points well below it.</summary>
        private static (double Level, double Slope, double Centre) Slope(double[] profile, int i0, int i1)
        {
            double centre = (i0 + i1) / 2.0, level = 0, slope = 0;
            var use = new bool[i1 - i0 + 1];
            Array.Fill(use, true);
            for (int pass = 0; pass < 3; pass++)
            {
                double n = 0, sx = 0, sv = 0, sxx = 0, sxv = 0;
                for (int i = i0; i <= i1; i++)
                {
                    if (!use[i - i0]) continue;
                    double x = i - centre, v = profile[i];
                    n++; sx += x; sv += v; sxx += x * x; sxv += x * v;
                }
                if (n < 3) break;
                double det = n * sxx - sx * sx;
                slope = Math.Abs(det) < 1e-9 ? 0 : (n * sxv - sx * sv) / det;
                level = (sv - slope * sx) / n;
                for (int i = i0; i <= i1; i++) use[i - i0] = profile[i] >= level + slope * (i - centre) - 4;
            }
            return (level, slope, centre);
        }
    }

    /// <summary>The darkest pair of profile positions near <paramref name="first"/> and <paramref name="second"/> whose
    /// distance is the layout's within <see cref="SizeSlack"/>; near-ties go to the pair nearer the layout.</summary>
    private static (int First, int Second) Pair(double[] profile, int first, int second)
    {
        int span = second - first;
        (int, int) best = (first, second);
        double bestScore = double.MaxValue;
        for (int a = Math.Max(0, first - Search); a <= first + Search; a++)
        for (int b = Math.Max(a + span - SizeSlack, second - Search); b <= Math.Min(Math.Min(a + span + SizeSlack, second + Search), profile.Length - 1); b++)
        {
            double score = profile[a] + profile[b] + 0.25 * (Math.Abs(a - first) + Math.Abs(b - second));
            if (score < bestScore) { bestScore = score; best = (a, b); }
        }
        return best;
    }

    /// <summary>Whether connected ink of enough mass and extent stands out of the interior (window coordinates) by at
    /// least <see cref="InkShare"/> of the lines' contrast. Noise is not judged here: what passes still has to stand out
    /// of the paper's noise in <see cref="DigitNormalizer.Normalize"/>.</summary>
    private static (bool Written, double InkFraction) Ink(byte[] px, int stride, Rect interior, Paper paper, double lineContrast)
    {
        double threshold = Math.Max(DigitNormalizer.MinContrast, InkShare * lineContrast);
        int w = interior.Width, h = interior.Height;
        var bits = new byte[w * h];
        for (int y = 0, i = 0; y < h; y++)
        {
            int wy = interior.Y + y, row = wy * stride + interior.X;
            // Ink where the pixel is at least the threshold darker than the paper there.
            double level = paper.At(interior.X, wy) - threshold;
            for (int x = 0; x < w; x++, i++, level += paper.Gx)
                if (px[row + x] <= level) bits[i] = 255;
        }
        using var mask = Mat.FromPixelData(h, w, MatType.CV_8UC1, bits);
        using var labels = new Mat();
        using var stats = new Mat();
        using var centroids = new Mat();
        int n = Cv2.ConnectedComponentsWithStats(mask, labels, stats, centroids, PixelConnectivity.Connectivity8);
        int speck = Math.Max(3, (int)(0.0015 * w * h));
        int kept = 0, x0 = w, y0 = h, x1 = -1, y1 = -1;
        for (int i = 1; i < n; i++)
        {
            int area = stats.At<int>(i, (int)ConnectedComponentsTypes.Area);
            int l = stats.At<int>(i, 0), t = stats.At<int>(i, 1), cw = stats.At<int>(i, 2), ch = stats.At<int>(i, 3);
            if (area < speck || AlongTheCut(l, t, cw, ch, w, h)) continue;
            kept += area;
            x0 = Math.Min(x0, l); y0 = Math.Min(y0, t); x1 = Math.Max(x1, l + cw); y1 = Math.Max(y1, t + ch);
        }
        double fraction = (double)kept / (w * h);
        bool written = kept > 0 && fraction >= DigitNormalizer.MinInkFraction
                       && Math.Max(x1 - x0, y1 - y0) >= DigitNormalizer.MinExtent * Math.Min(w, h);
        return (written, fraction);
    }

    /// <summary>A thin piece lying along the cut (within 3 px of it): what is left of a line, not handwriting.</summary>
    private static bool AlongTheCut(int l, int t, int cw, int ch, int w, int h)
    {
        const int band = 3;
        bool horizontal = cw >= 3 * ch && (t + ch <= band || t >= h - band);
        bool vertical = ch >= 3 * cw && (l + cw <= band || l >= w - band);
        return horizontal || vertical;
    }
}
