using KpuEdge.Vision.Forms;
using OpenCvSharp;

namespace KpuEdge.Simulator.Forms;

/// <summary>
/// Fills blank C.Hasil pages with a tally the way a KPPS member's pen would: every digit is a real handwritten
/// digit image, placed in its box with natural variation (offset, size 55–90% of the box height, stroke weight,
/// slant up to ±10°, pen darkness), blended as ink (darker wins) onto copies of the blank pages; on some forms the
/// bubble columns are filled too (a dark disc, slightly off-centre, sometimes not covering the whole bubble, or a
/// scribble), and on a few of those one column deliberately disagrees with the handwriting. Everything drawn stays
/// inside the written boxes and their bubble squares, so the rest of the page is untouched. Deterministic for a
/// given <see cref="Random"/> (and a deterministic <see cref="DigitInk"/>).
/// </summary>
public sealed class FormFiller(DigitInk ink, FillOptions? options = null)
{
    /// <summary>Handwriting keeps this far inside the box (the printed border is 2 px wide, centred on the edge).</summary>
    public const int BoxInset = 3;

    /// <summary>A filled bubble stays within this distance of the bubble centre (a square of side 2·extent+1).</summary>
    public static int BubbleExtent(FormLayout layout) => layout.BubbleRadius + 4;

    private readonly DigitInk _ink = ink ?? throw new ArgumentNullException(nameof(ink));
    private readonly FillOptions _options = options ?? new FillOptions();

    /// <summary>The boxes written for a value: right-aligned digits, as (box index, digit).</summary>
    public static IReadOnlyList<(int DigitIndex, int Digit)> WrittenDigits(int value, bool leadingZeros)
    {
        if (value is < 0 or > 999) throw new ArgumentOutOfRangeException(nameof(value), value, "A form number is 0..999.");
        string text = leadingZeros ? value.ToString("D3") : value.ToString();
        int first = FormLayout.DigitsPerField - text.Length;
        return text.Select((c, i) => (first + i, c - '0')).ToArray();
    }

    public FilledForm Fill(FormLayout layout, IReadOnlyList<Mat> blankPages, IReadOnlyDictionary<string, int> values, Random random)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(blankPages);
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(random);
        if (blankPages.Count != layout.Pages.Count)
            throw new ArgumentException($"The layout has {layout.Pages.Count} pages; {blankPages.Count} blank pages given.", nameof(blankPages));
        foreach (var blank in blankPages)
        {
            if (blank.Type() != MatType.CV_8UC1 || blank.Width != layout.Width || blank.Height != layout.Height)
                throw new ArgumentException($"Blank pages must be {layout.Width}×{layout.Height} CV_8UC1.", nameof(blankPages));
        }

        bool bubbles = random.NextDouble() < _options.BubbleShare;
        bool leadingZeros = random.NextDouble() < _options.LeadingZeroShare;
        var pen = Pen.Draw(random);

        // What goes where: every written digit of every field, in print order.
        var truth = new Dictionary<string, int>(StringComparer.Ordinal);
        var plan = new List<(int Page, FieldLayout Field, int DigitIndex, int Digit)>();
        for (int p = 0; p < layout.Pages.Count; p++)
        foreach (var field in layout.Pages[p].Fields)
        {
            if (!values.TryGetValue(field.Key, out int value))
                throw new KeyNotFoundException($"No value for the field '{field.Key}' of the {layout.Contest} form.");
            truth[field.Key] = value;
            foreach (var (index, digit) in WrittenDigits(value, leadingZeros)) plan.Add((p, field, index, digit));
        }

        // One column of bubbles disagreeing with the handwriting on a few of the forms with bubbles.
        int wrongAt = -1, wrongDigit = -1;
        var wrong = new List<(string FieldKey, int DigitIndex, int BubbleDigit)>();
        if (bubbles && plan.Count > 0 && random.NextDouble() < _options.WrongBubbleShare)
        {
            wrongAt = random.Next(plan.Count);
            wrongDigit = (plan[wrongAt].Digit + 1 + random.Next(9)) % 10;
            wrong.Add((plan[wrongAt].Field.Key, plan[wrongAt].DigitIndex, wrongDigit));
        }

        var pages = blankPages.Select(b => b.Clone()).ToArray();
        try
        {
            for (int i = 0; i < plan.Count; i++)
            {
                var (p, field, index, digit) = plan[i];
                var box = field.Digits[index];
                DrawDigit(pages[p], box.Box, digit, pen, random);
                if (bubbles)
                {
                    int bubbleDigit = i == wrongAt ? wrongDigit : digit;
                    DrawBubble(pages[p], box.Bubbles.Single(b => b.Digit == bubbleDigit), layout.BubbleRadius, pen, random);
                }
            }
        }
        catch
        {
            foreach (var page in pages) page.Dispose();
            throw;
        }
        return new FilledForm(pages, truth, bubbles, leadingZeros, wrong);
    }

    /// <summary>One writer's pen and hand, fixed for a form.</summary>
    private sealed record Pen(double Level, double StrokeWidth, double Size, double Slant, double Pressure, double Low)
    {
        public static Pen Draw(Random random)
        {
            double kind = random.NextDouble();
            // Gray level of full-pressure ink on a grayscale scan: black ballpoint, blue ballpoint (lighter in
            // gray), or a felt-tip marker; stroke widths in page pixels at 200 dpi (0.4–1 mm).
            var (level, stroke) = kind switch
            {
                < 0.45 => (Between(random, 25, 65), Between(random, 3.0, 4.5)),
                < 0.8 => (Between(random, 70, 115), Between(random, 3.0, 4.5)),
                _ => (Between(random, 10, 40), Between(random, 5.0, 7.5)),
            };
            return new Pen(level, stroke, Between(random, 0.62, 0.82), Between(random, -7, 7), Between(random, 0.8, 1.0), Between(random, -0.2, 0.2));
        }
    }

    private void DrawDigit(Mat page, Box box, int digit, Pen pen, Random random)
    {
        using var source = _ink(digit, random) ?? throw new InvalidOperationException("The digit ink source returned null.");
        using var alpha = InkAlpha(source);
        if (alpha is null) return; // an empty sample: the box stays blank, as a skipped digit would

        // Size: 55–90% of the box height, the writer's habit plus a little per digit.
        double heightShare = Math.Clamp(pen.Size + Between(random, -0.07, 0.07), 0.55, 0.9);
        double slant = Math.Clamp(pen.Slant + Between(random, -3, 3), -10, 10);
        double rotation = Between(random, -3, 3);
        int innerW = box.Width - 2 * BoxInset, innerH = box.Height - 2 * BoxInset;
        double scale = heightShare * box.Height / alpha.Height;
        if (alpha.Width * scale > innerW - 4) scale = (innerW - 4) / (double)alpha.Width;

        int w = Math.Max(1, (int)Math.Round(alpha.Width * scale)), h = Math.Max(1, (int)Math.Round(alpha.Height * scale));
        using var scaled = new Mat();
        Cv2.Resize(alpha, scaled, new Size(w, h), 0, 0, scale >= 1 ? InterpolationFlags.Cubic : InterpolationFlags.Area);

        // Room for the stroke to grow and the slant to lean.
        int pad = 6 + (int)Math.Ceiling(h * Math.Tan(10 * Math.PI / 180) / 2);
        using var canvas = new Mat();
        Cv2.CopyMakeBorder(scaled, canvas, pad, pad, pad, pad, BorderTypes.Constant, Scalar.Black);

        // Stroke weight: grow or thin the source's stroke towards this pen's width (dilate/erode on the soft ink).
        double current = StrokeWidth(canvas);
        double target = pen.StrokeWidth * Between(random, 0.85, 1.15);
        int steps = (int)Math.Round((target - current) / 2);
        if (steps < 0) steps = Math.Max(steps, -(int)Math.Floor((current - 2) / 2)); // keep at least ~2 px of stroke
        if (steps != 0)
        {
            using var kernel = Cv2.GetStructuringElement(MorphShapes.Ellipse, new Size(3, 3));
            if (steps > 0) Cv2.Dilate(canvas, canvas, kernel, iterations: Math.Min(steps, 3));
            else Cv2.Erode(canvas, canvas, kernel, iterations: Math.Min(-steps, 6));
        }
        // Crisp, pen-like edges from the soft (upscaled) strokes.
        canvas.ConvertTo(canvas, MatType.CV_8UC1, 1.8, -70);

        // Slant (shear about the centre: positive leans right) and a slight rotation.
        double sh = Math.Tan(slant * Math.PI / 180), rad = rotation * Math.PI / 180;
        double cx = canvas.Width / 2.0, cy = canvas.Height / 2.0, cos = Math.Cos(rad), sin = Math.Sin(rad);
        // M = R · S, where S = [[1, -sh], [0, 1]] (x' = x − sh·y: the top moves right for sh > 0).
        double a = cos, b = -cos * sh - sin, c = sin, d = -sin * sh + cos;
        using var affine = Mat.FromPixelData(2, 3, MatType.CV_64FC1, new[]
        {
            a, b, cx - a * cx - b * cy,
            c, d, cy - c * cx - d * cy,
        });
        using var leaned = new Mat();
        Cv2.WarpAffine(canvas, leaned, affine, canvas.Size(), InterpolationFlags.Linear, BorderTypes.Constant, Scalar.Black);

        var bounds = InkBounds(leaned, 16);
        if (bounds.Width == 0) return;
        using var tight = new Mat(leaned, bounds);
        using var patch = new Mat();
        if (tight.Width > innerW || tight.Height > innerH)
        {
            double fit = Math.Min(innerW / (double)tight.Width, innerH / (double)tight.Height);
            Cv2.Resize(tight, patch, new Size(Math.Max(1, (int)(tight.Width * fit)), Math.Max(1, (int)(tight.Height * fit))), 0, 0, InterpolationFlags.Area);
        }
        else tight.CopyTo(patch);

        // Position: anywhere in the box, more often near the middle; the writer tends a little low or high.
        int x = box.X + BoxInset + (int)Math.Round((innerW - patch.Width) * Centred(random));
        int y = box.Y + BoxInset + (int)Math.Round((innerH - patch.Height) * Math.Clamp(Centred(random) + pen.Low, 0, 1));
        Blend(page, patch, x, y, pen.Level, pen.Pressure * Between(random, 0.9, 1.0));
    }

    private static void DrawBubble(Mat page, BubbleLayout bubble, int radius, Pen pen, Random random)
    {
        int extent = radius + 4, side = 2 * extent + 1;
        using var alpha = new Mat(side, side, MatType.CV_8UC1, Scalar.Black);
        const int shift = 3, one = 1 << shift;
        double cx = extent + Between(random, -1.5, 1.5), cy = extent + Between(random, -1.5, 1.5);
        Point Sub(double px, double py) => new((int)Math.Round(px * one), (int)Math.Round(py * one));
        double style = random.NextDouble();
        if (style < 0.65)
        {
            // A full disc, a little larger or smaller than the printed circle.
            double r = radius + Between(random, -0.5, 1.5);
            Cv2.Circle(alpha, Sub(cx, cy), (int)Math.Round(r * one), Scalar.White, -1, LineTypes.AntiAlias, shift);
        }
        else if (style < 0.85)
        {
            // Not fully covering: a smaller blob pushed to one side, leaving part of the printed ring visible.
            double angle = Between(random, 0, 2 * Math.PI), off = Between(random, 0.2, 0.35) * radius;
            var axes = new Size((int)Math.Round(Between(random, 0.65, 0.85) * radius * one), (int)Math.Round(Between(random, 0.6, 0.8) * radius * one));
            Cv2.Ellipse(alpha, Sub(cx + off * Math.Cos(angle), cy + off * Math.Sin(angle)), axes, Between(random, 0, 180), 0, 360,
                Scalar.White, -1, LineTypes.AntiAlias, shift);
        }
        else
        {
            // A scribble: quick back-and-forth strokes across the bubble.
            int strokes = random.Next(5, 8);
            var points = new List<Point>();
            double r = radius + 0.5;
            for (int i = 0; i <= strokes; i++)
            {
                double t = -1 + 2.0 * i / strokes;
                double half = Math.Sqrt(Math.Max(0, 1 - t * t)) * r;
                double yy = cy + t * r * 0.8 + Between(random, -0.5, 0.5);
                points.Add(Sub(i % 2 == 0 ? cx - half : cx + half, yy));
            }
            Cv2.Polylines(alpha, [points], false, Scalar.White, 3, LineTypes.AntiAlias, shift);
        }
        Blend(page, alpha, bubble.X - extent, bubble.Y - extent, pen.Level, pen.Pressure * Between(random, 0.85, 1.0));
    }

    /// <summary>Darker wins: the page under the patch becomes min(page, ink), ink = 255 − alpha·(255 − level)·pressure.</summary>
    private static void Blend(Mat page, Mat alpha, int x, int y, double level, double pressure)
    {
        var rect = new Rect(x, y, alpha.Width, alpha.Height) & new Rect(0, 0, page.Width, page.Height);
        if (rect.Width <= 0 || rect.Height <= 0) return;
        using var src = new Mat(alpha, new Rect(rect.X - x, rect.Y - y, rect.Width, rect.Height));
        using var inkGray = new Mat();
        src.ConvertTo(inkGray, MatType.CV_8UC1, -(255 - level) * pressure / 255.0, 255);
        using var roi = new Mat(page, rect);
        Cv2.Min(roi, inkGray, roi);
    }

    /// <summary>The ink of a source image as alpha (white ink on black), stretched to full contrast and cropped to the digit; null when it has no ink.</summary>
    private static Mat? InkAlpha(Mat source)
    {
        using var gray = new Mat();
        if (source.Channels() == 3) Cv2.CvtColor(source, gray, ColorConversionCodes.BGR2GRAY);
        else if (source.Channels() == 4) Cv2.CvtColor(source, gray, ColorConversionCodes.BGRA2GRAY);
        else source.CopyTo(gray);
        if (gray.Depth() != MatType.CV_8U)
        {
            Cv2.Normalize(gray, gray, 0, 255, NormTypes.MinMax);
            gray.ConvertTo(gray, MatType.CV_8UC1);
        }
        using var inverted = new Mat();
        Cv2.BitwiseNot(gray, inverted);
        Cv2.MinMaxLoc(inverted, out double lo, out double hi);
        if (hi - lo < 40) return null;
        // Paper (and its faint texture) goes to 0, the darkest ink to 255.
        double floor = lo + 0.2 * (hi - lo);
        inverted.ConvertTo(inverted, MatType.CV_8UC1, 255 / (hi - floor), -floor * 255 / (hi - floor));
        var bounds = InkBounds(inverted, 48);
        if (bounds.Width == 0) return null;
        using var digit = new Mat(inverted, bounds);
        return digit.Clone();
    }

    private static Rect InkBounds(Mat alpha, double threshold)
    {
        using var mask = new Mat();
        Cv2.Threshold(alpha, mask, threshold, 255, ThresholdTypes.Binary);
        return Cv2.BoundingRect(mask);
    }

    /// <summary>Mean stroke width of soft ink: ink area over half the outline length.</summary>
    private static double StrokeWidth(Mat alpha)
    {
        using var mask = new Mat();
        Cv2.Threshold(alpha, mask, 127, 255, ThresholdTypes.Binary);
        int area = Cv2.CountNonZero(mask);
        if (area == 0) return 0;
        Cv2.FindContours(mask, out var contours, out _, RetrievalModes.List, ContourApproximationModes.ApproxNone);
        double perimeter = contours.Sum(c => Cv2.ArcLength(c, true));
        return perimeter > 0 ? 2 * area / perimeter : 0;
    }

    private static double Between(Random random, double min, double max) => min + (max - min) * random.NextDouble();

    /// <summary>A share in [0, 1], more often near the middle (the mean of two uniforms).</summary>
    private static double Centred(Random random) => (random.NextDouble() + random.NextDouble()) / 2;
}
