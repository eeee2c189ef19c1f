using KpuEdge.Vision.Forms;
using OpenCvSharp;

namespace KpuEdge.Simulator.Forms;

/// <summary>How a simulated phone photographs a form page.</summary>
public sealed record PhotoOptions
{
    /// <summary>In-plane rotation stays within ±this many degrees (mostly small: triangular around 0, unless UniformRotation).</summary>
    public double MaxRotationDegrees { get; init; } = 15;

    /// <summary>Draw the rotation uniformly in ±MaxRotationDegrees (for registration tests at the extremes).</summary>
    public bool UniformRotation { get; init; }

    /// <summary>Corner displacement (keystone from a tilted camera plus jitter) as a share of page size.</summary>
    public double MaxPerspective { get; init; } = 0.08;

    /// <summary>Long side of the photo in px (a phone photo downscaled). Photos are portrait.</summary>
    public int OutputWidth { get; init; } = 2000;

    /// <summary>Short side over long side of the photo (3:4 like most phone cameras).</summary>
    public double AspectRatio { get; init; } = 0.75;

    public int JpegQualityMin { get; init; } = 60;
    public int JpegQualityMax { get; init; } = 92;

    /// <summary>The page's bounding box fills this share (min..1) of the largest size that fits in the frame.</summary>
    public double MinFill { get; init; } = 0.85;

    /// <summary>Focus blur: Gaussian sigma in photo px, uniform in [MinBlurSigma, MaxBlurSigma].</summary>
    public double MinBlurSigma { get; init; } = 0.3;
    public double MaxBlurSigma { get; init; } = 1.0;

    /// <summary>Share of photos with a little hand-shake (linear motion blur up to MaxMotionBlur px).</summary>
    public double MotionBlurShare { get; init; } = 0.2;
    public double MaxMotionBlur { get; init; } = 2.5;

    /// <summary>Uneven lighting: the light falls off by up to this share across the frame (plus vignetting).</summary>
    public double MaxLightFalloff { get; init; } = 0.35;

    /// <summary>Share of photos with a soft shadow (the phone or the photographer), darkening by up to MaxShadowDepth.</summary>
    public double ShadowShare { get; init; } = 0.6;
    public double MaxShadowDepth { get; init; } = 0.45;

    /// <summary>The phone's sharpening (unsharp mask amount), uniform in [0, MaxSharpening].</summary>
    public double MaxSharpening { get; init; } = 0.8;

    /// <summary>Sensor noise left after the phone's denoising: Gaussian sigma in 8-bit levels, uniform in [1, MaxNoiseSigma].</summary>
    public double MaxNoiseSigma { get; init; } = 4;

    /// <summary>White-balance error: per-channel gain deviation up to this share (warm lamp, cool tube, daylight).</summary>
    public double MaxColorCast { get; init; } = 0.12;
}

/// <summary>
/// Photographs a form page the way a KPPS member's phone would: the page lies on a table (textured wood, laminate
/// or a plastic tablecloth), seen with perspective and rotation, lit unevenly with a soft shadow, slightly out of
/// focus, with sensor noise, a colour cast, and JPEG compression. Everything is drawn from the given
/// <see cref="Random"/>, so a seed reproduces the same bytes.
/// </summary>
public static class Photographer
{
    private enum Framing { Whole, UpsideDown, CutOff }

    /// <summary>A photo of the whole page (all four markers in frame), as JPEG bytes (BGR).</summary>
    public static byte[] PhotographJpeg(Mat page, Random random, PhotoOptions? options = null) =>
        Shoot(page, random, options ?? new PhotoOptions(), Framing.Whole);

    /// <summary>The same kind of photo with the page turned round (~180°): markers in reversed positions.</summary>
    public static byte[] UpsideDown(Mat page, Random random, PhotoOptions? options = null) =>
        Shoot(page, random, options ?? new PhotoOptions(), Framing.UpsideDown);

    /// <summary>A photo where part of the page, with at least one corner marker, is outside the frame.</summary>
    public static byte[] CutOff(Mat page, Random random, PhotoOptions? options = null) =>
        Shoot(page, random, options ?? new PhotoOptions(), Framing.CutOff);

    /// <summary>Renders the photo (BGR, CV_8UC3) without compressing it; the caller owns the Mat.</summary>
    public static Mat Photograph(Mat page, Random random, PhotoOptions? options = null) =>
        Render(page, random, options ?? new PhotoOptions(), Framing.Whole, out _);

    private static byte[] Shoot(Mat page, Random random, PhotoOptions o, Framing framing)
    {
        using var photo = Render(page, random, o, framing, out int quality);
        Cv2.ImEncode(".jpg", photo, out byte[] jpeg, new ImageEncodingParam(ImwriteFlags.JpegQuality, quality));
        return jpeg;
    }

    private static Mat Render(Mat page, Random random, PhotoOptions o, Framing framing, out int quality)
    {
        ArgumentNullException.ThrowIfNull(page);
        ArgumentNullException.ThrowIfNull(random);
        if (page.Empty()) throw new ArgumentException("The page is empty.", nameof(page));
        if (o.OutputWidth < 64) throw new ArgumentOutOfRangeException(nameof(o.OutputWidth), o.OutputWidth, "A photo is at least 64 px.");
        if (o.AspectRatio is <= 0.2 or > 1) throw new ArgumentOutOfRangeException(nameof(o.AspectRatio), o.AspectRatio, "Short over long side: (0.2, 1].");
        if (o.JpegQualityMin is < 1 or > 100 || o.JpegQualityMax < o.JpegQualityMin || o.JpegQualityMax > 100)
            throw new ArgumentOutOfRangeException(nameof(o.JpegQualityMin), $"JPEG quality {o.JpegQualityMin}..{o.JpegQualityMax} is not within 1..100.");
        int height = o.OutputWidth, width = (int)Math.Round(o.OutputWidth * o.AspectRatio);
        var frame = new Size(width, height);

        // 1. Where the page lands in the frame.
        var corners = PlaceCorners(page, frame, random, o, framing);

        // Everything else the random decides, drawn up front in a fixed order.
        quality = random.Next(o.JpegQualityMin, o.JpegQualityMax + 1);
        double blur = Between(random, o.MinBlurSigma, o.MaxBlurSigma);
        bool motion = random.NextDouble() < o.MotionBlurShare;
        double motionLength = Between(random, 1.5, Math.Max(1.5, o.MaxMotionBlur)), motionAngle = Between(random, 0, 180);
        double sharpen = Between(random, 0, Math.Max(0, o.MaxSharpening));
        double noise = Between(random, 1, Math.Max(1, o.MaxNoiseSigma));
        ulong noiseSeed = (ulong)random.NextInt64(1, long.MaxValue);

        // 2. The page, pre-shrunk (area filter: thin lines survive) and warped into the frame.
        var pagePoints = new[] { new Point2f(0, 0), new Point2f(page.Width, 0), new Point2f(page.Width, page.Height), new Point2f(0, page.Height) };
        double scale = Math.Min(1, Math.Max(Distance(corners[0], corners[1]), Distance(corners[3], corners[2])) / page.Width);
        using var small = new Mat();
        var smallSize = new Size(Math.Max(1, (int)Math.Round(page.Width * scale)), Math.Max(1, (int)Math.Round(page.Height * scale)));
        using (var gray = page.Channels() == 1 ? page.Clone() : page.CvtColor(ColorConversionCodes.BGR2GRAY))
            Cv2.Resize(gray, small, smallSize, 0, 0, InterpolationFlags.Area);
        var smallPoints = pagePoints.Select(p => new Point2f(p.X * smallSize.Width / page.Width, p.Y * smallSize.Height / page.Height)).ToArray();
        using var homography = Cv2.GetPerspectiveTransform(smallPoints, corners);
        using var warped = new Mat();
        Cv2.WarpPerspective(small, warped, homography, frame, InterpolationFlags.Linear, BorderTypes.Constant, Scalar.White);

        // 3. Focus blur and hand-shake on the page (the table is soft anyway).
        Cv2.GaussianBlur(warped, warped, new Size(0, 0), blur);
        if (motion) MotionBlur(warped, motionLength, motionAngle);
        if (sharpen > 0.01)
        {
            // The phone's unsharp mask: page + amount·(page − blurred page).
            using var soft = new Mat();
            Cv2.GaussianBlur(warped, soft, new Size(0, 0), 1.2);
            Cv2.AddWeighted(warped, 1 + sharpen, soft, -sharpen, 0, warped);
        }

        // 4. The page on the table: a soft-edged paper mask over the table texture.
        using var table = Table(frame, random);
        using var mask = new Mat(frame, MatType.CV_8UC1, Scalar.Black);
        Cv2.FillConvexPoly(mask, corners.Select(p => new Point((int)Math.Round(p.X * 16), (int)Math.Round(p.Y * 16))).ToArray(),
            Scalar.White, LineTypes.AntiAlias, 4);
        Cv2.GaussianBlur(mask, mask, new Size(0, 0), Math.Max(0.5, blur));
        DarkenAround(table, mask, random);
        // photo = page·m + table·(1 − m), in 8 bits (BlendLinear on float weights is several times slower).
        var photo = new Mat();
        using (var paper = new Mat())
        using (var inverse = new Mat())
        {
            Cv2.Multiply(warped, mask, paper, 1 / 255.0);
            Cv2.BitwiseNot(mask, inverse);
            using var inverse3 = inverse.CvtColor(ColorConversionCodes.GRAY2BGR);
            Cv2.Multiply(table, inverse3, table, 1 / 255.0);
            using var paper3 = paper.CvtColor(ColorConversionCodes.GRAY2BGR);
            Cv2.Add(paper3, table, photo);
        }

        // 5. Light: exposure, falloff, vignetting, a soft shadow and the colour cast, multiplied in.
        using (var light = Lighting(frame, random, o))
            Cv2.Multiply(photo, light, photo, 1 / 255.0);

        // 6. Sensor noise: fine luminance grain plus blotchy chroma noise. Triangular noise (the sum of two uniform
        // draws) looks the same as Gaussian after JPEG and is ten times faster to draw.
        var rng = new RNG(noiseSeed);
        using (var grain = Grain(ref rng, frame, MatType.CV_8UC1, noise))
        using (var grain3 = grain.CvtColor(ColorConversionCodes.GRAY2BGR))
            Cv2.AddWeighted(photo, 1, grain3, 1, -128, photo);
        using (var chroma = Grain(ref rng, new Size(frame.Width / 4, frame.Height / 4), MatType.CV_8UC3, noise * 0.8))
        using (var chromaFull = new Mat())
        {
            Cv2.Resize(chroma, chromaFull, frame, 0, 0, InterpolationFlags.Linear);
            Cv2.AddWeighted(photo, 1, chromaFull, 1, -128, photo);
        }
        return photo;
    }

    /// <summary>
    /// The page's corners in the frame: a camera tilt (keystone) plus jitter, a rotation, then the largest fitting
    /// size times [MinFill, 1] at a random spot; turned by 180° for an upside-down photo; shifted so that at least
    /// one corner marker leaves the frame for a cut-off photo.
    /// </summary>
    private static Point2f[] PlaceCorners(Mat page, Size frame, Random random, PhotoOptions o, Framing framing)
    {
        double w = page.Width, h = page.Height;
        double maxP = Math.Max(0, o.MaxPerspective);
        double tiltX = Between(random, -0.7, 0.7) * maxP, tiltY = Between(random, -0.7, 0.7) * maxP;
        var shape = new (double X, double Y)[4];
        int[] nx = [-1, 1, 1, -1], ny = [-1, -1, 1, 1];
        for (int i = 0; i < 4; i++)
        {
            // Keystone: a camera tilted towards the top makes the top edge shorter (and the other way round).
            double dx = tiltY * ny[i] * nx[i] * w + Between(random, -0.3, 0.3) * maxP * w;
            double dy = tiltX * nx[i] * ny[i] * h + Between(random, -0.3, 0.3) * maxP * h;
            shape[i] = (nx[i] * w / 2 + dx, ny[i] * h / 2 + dy);
        }
        double spread = o.UniformRotation ? Between(random, -1, 1) : random.NextDouble() + random.NextDouble() - 1;
        double angle = spread * o.MaxRotationDegrees + (framing == Framing.UpsideDown ? 180 : 0);
        double rad = angle * Math.PI / 180, cos = Math.Cos(rad), sin = Math.Sin(rad);
        var rotated = shape.Select(p => (X: p.X * cos - p.Y * sin, Y: p.X * sin + p.Y * cos)).ToArray();
        double minX = rotated.Min(p => p.X), maxX = rotated.Max(p => p.X), minY = rotated.Min(p => p.Y), maxY = rotated.Max(p => p.Y);
        double margin = 0.02 * Math.Min(frame.Width, frame.Height);
        double fit = Math.Min((frame.Width - 2 * margin) / (maxX - minX), (frame.Height - 2 * margin) / (maxY - minY));
        double scale = fit * Between(random, Math.Clamp(o.MinFill, 0.1, 1), 1);
        double offsetX = margin + Between(random, 0, frame.Width - 2 * margin - (maxX - minX) * scale) - minX * scale;
        double offsetY = margin + Between(random, 0, frame.Height - 2 * margin - (maxY - minY) * scale) - minY * scale;
        var corners = rotated.Select(p => new Point2f((float)(p.X * scale + offsetX), (float)(p.Y * scale + offsetY))).ToArray();
        if (framing != Framing.CutOff) return corners;

        // Cut off: push one corner marker (and what lies beyond it) out of the frame, sideways, up/down or both.
        int corner = random.Next(4), mode = random.Next(3);
        // The marker's inner edge (40 px margin + the marker + a little), as a share of the A4 page's height.
        const double marker = (40 + FormLayout.MarkerSize + 12) / 2339.0;
        using var homography = Cv2.GetPerspectiveTransform(
            new[] { new Point2f(0, 0), new Point2f(1, 0), new Point2f(1, 1), new Point2f(0, 1) }, corners);
        double mx0 = corner is 0 or 3 ? 0 : 1 - marker * h / w, mx1 = corner is 0 or 3 ? marker * h / w : 1;
        double my0 = corner is 0 or 1 ? 0 : 1 - marker, my1 = corner is 0 or 1 ? marker : 1;
        var box = Cv2.PerspectiveTransform(new[] { new Point2f((float)mx0, (float)my0), new Point2f((float)mx1, (float)my0),
            new Point2f((float)mx1, (float)my1), new Point2f((float)mx0, (float)my1) }, homography);
        var centre = new Point2f(corners.Average(p => p.X), corners.Average(p => p.Y));
        var markerCentre = new Point2f(box.Average(p => p.X), box.Average(p => p.Y));
        const double beyond = 6;
        double shiftX = 0, shiftY = 0;
        if (mode != 1)
            shiftX = markerCentre.X < centre.X ? -beyond - box.Max(p => p.X) : frame.Width + beyond - box.Min(p => p.X);
        if (mode != 0)
            shiftY = markerCentre.Y < centre.Y ? -beyond - box.Max(p => p.Y) : frame.Height + beyond - box.Min(p => p.Y);
        return corners.Select(p => new Point2f((float)(p.X + shiftX), (float)(p.Y + shiftY))).ToArray();
    }

    /// <summary>A table top under the page: wood with grain, grey laminate, or a coloured plastic tablecloth.</summary>
    private static Mat Table(Size frame, Random random)
    {
        int kind = random.Next(3);
        // Base colour (BGR) and how strong the texture is.
        Scalar colour = kind switch
        {
            0 => Jitter(random, new Scalar(50, 80, 115), 0.25),   // wood
            1 => Jitter(random, new Scalar(120, 125, 125), 0.3),  // grey/beige laminate
            _ => random.Next(3) switch                             // plastic tablecloth
            {
                0 => Jitter(random, new Scalar(110, 50, 30), 0.3),  // blue
                1 => Jitter(random, new Scalar(40, 40, 120), 0.3),  // red
                _ => Jitter(random, new Scalar(50, 95, 45), 0.3),   // green
            },
        };
        double grainStrength = kind == 0 ? Between(random, 0.1, 0.18) : Between(random, 0.03, 0.08);
        bool vertical = random.Next(2) == 0;
        ulong seed = (ulong)random.NextInt64(1, long.MaxValue);
        var rng = new RNG(seed);

        // Low-resolution texture: blotches, plus streaks (grain) stretched along one axis for wood.
        var low = new Size(Math.Max(2, frame.Width / 4), Math.Max(2, frame.Height / 4));
        using var texture = new Mat(low, MatType.CV_32FC1, Scalar.All(0));
        using (var blotch = new Mat(new Size(Math.Max(2, low.Width / 12), Math.Max(2, low.Height / 12)), MatType.CV_32FC1))
        using (var blotchFull = new Mat())
        {
            rng.Fill(blotch, DistributionType.Normal, 0, 1);
            Cv2.Resize(blotch, blotchFull, low, 0, 0, InterpolationFlags.Cubic);
            Cv2.AddWeighted(texture, 1, blotchFull, grainStrength * 0.5, 0, texture);
        }
        if (kind == 0)
        {
            // Wood grain: fine lines and broader bands, both stretched along the grain.
            foreach (var (across, along, weight) in new[] { (1, 24, 0.5), (8, 48, 1.0) })
            {
                var streakSize = vertical
                    ? new Size(Math.Max(2, low.Width / across), Math.Max(2, low.Height / along))
                    : new Size(Math.Max(2, low.Width / along), Math.Max(2, low.Height / across));
                using var streak = new Mat(streakSize, MatType.CV_32FC1);
                using var streakFull = new Mat();
                rng.Fill(streak, DistributionType.Normal, 0, 1);
                Cv2.Resize(streak, streakFull, low, 0, 0, InterpolationFlags.Linear);
                Cv2.AddWeighted(texture, 1, streakFull, grainStrength * weight, 0, texture);
            }
        }
        using (var fine = new Mat(low, MatType.CV_32FC1))
        {
            rng.Fill(fine, DistributionType.Normal, 0, grainStrength * 0.25);
            Cv2.Add(texture, fine, texture);
        }
        // Colour it: colour · (1 + texture), per channel.
        using var one = new Mat();
        texture.ConvertTo(one, MatType.CV_32FC1, 1, 1);
        using var lowColour = new Mat();
        Cv2.Merge([one, one, one], lowColour);
        using var low8 = new Mat();
        Cv2.Multiply(lowColour, colour, low8, 1, MatType.CV_8UC3.Depth);
        var table = new Mat();
        Cv2.Resize(low8, table, frame, 0, 0, InterpolationFlags.Linear);
        return table;
    }

    /// <summary>The paper casts a faint contact shadow on the table around its edges.</summary>
    private static void DarkenAround(Mat table, Mat mask, Random random)
    {
        double depth = Between(random, 0.1, 0.3);
        var low = new Size(Math.Max(2, mask.Width / 8), Math.Max(2, mask.Height / 8));
        using var small = new Mat();
        Cv2.Resize(mask, small, low, 0, 0, InterpolationFlags.Area);
        Cv2.GaussianBlur(small, small, new Size(0, 0), Between(random, 1.5, 3));
        using var shade = new Mat();
        small.ConvertTo(shade, MatType.CV_8UC1, -depth, 255);
        using var full = new Mat();
        Cv2.Resize(shade, full, new Size(mask.Width, mask.Height), 0, 0, InterpolationFlags.Linear);
        using var full3 = full.CvtColor(ColorConversionCodes.GRAY2BGR);
        Cv2.Multiply(table, full3, table, 1 / 255.0);
    }

    /// <summary>
    /// The light on the scene as per-pixel channel gains (CV_8UC3, 255 = 1): exposure, a falloff across the frame,
    /// vignetting, an optional soft shadow (slightly bluish, lit by the sky), and the white-balance error.
    /// </summary>
    private static Mat Lighting(Size frame, Random random, PhotoOptions o)
    {
        double exposure = Between(random, 0.86, 0.98);
        double falloff = Between(random, 0.05, Math.Max(0.05, o.MaxLightFalloff));
        double direction = Between(random, 0, 2 * Math.PI);
        double vignette = Between(random, 0.05, 0.2);
        double cast = Math.Max(0, o.MaxColorCast);
        // Warm lamps lower blue, cool tubes lower red, some tubes add green.
        var gains = random.Next(3) switch
        {
            0 => (B: 1 - Between(random, 0.4, 1) * cast, G: 1 - Between(random, 0, 0.4) * cast, R: 1.0),
            1 => (B: 1.0, G: 1 - Between(random, 0, 0.3) * cast, R: 1 - Between(random, 0.3, 1) * cast),
            _ => (B: 1 - Between(random, 0, 0.6) * cast, G: 1.0, R: 1 - Between(random, 0, 0.6) * cast),
        };
        bool shadow = random.NextDouble() < o.ShadowShare;
        double shadowDepth = Between(random, 0.15, Math.Max(0.15, o.MaxShadowDepth));
        // The shadow: an ellipse reaching in from a point near the frame's edge.
        double edgeAngle = Between(random, 0, 2 * Math.PI);
        double sx = 0.5 + 0.6 * Math.Cos(edgeAngle), sy = 0.5 + 0.6 * Math.Sin(edgeAngle);
        double sa = Between(random, 0.25, 0.55), sb = Between(random, 0.2, 0.45), sr = Between(random, 0, Math.PI);
        double softness = Between(random, 0.06, 0.15);

        int lw = Math.Max(4, frame.Width / 24), lh = Math.Max(4, frame.Height / 24);
        var pixels = new byte[lw * lh * 3];
        double dx = Math.Cos(direction), dy = Math.Sin(direction);
        for (int y = 0; y < lh; y++)
        for (int x = 0; x < lw; x++)
        {
            double u = (x + 0.5) / lw, v = (y + 0.5) / lh;
            // Falloff: linear along the light direction, 0 at the bright side.
            double along = ((u - 0.5) * dx + (v - 0.5) * dy) / 0.7 + 0.5;
            double gain = exposure * (1 - falloff * Math.Clamp(along, 0, 1));
            double r2 = ((u - 0.5) * (u - 0.5) + (v - 0.5) * (v - 0.5)) / 0.5;
            gain *= 1 - vignette * r2;
            double shade = 0;
            if (shadow)
            {
                double px = (u - sx) * Math.Cos(sr) + (v - sy) * Math.Sin(sr), py = -(u - sx) * Math.Sin(sr) + (v - sy) * Math.Cos(sr);
                double dist = Math.Sqrt(px * px / (sa * sa) + py * py / (sb * sb)); // < 1 inside
                double t = Math.Clamp((1 - dist) * Math.Max(sa, sb) / softness + 0.5, 0, 1);
                shade = shadowDepth * t * t * (3 - 2 * t);
            }
            int i = (y * lw + x) * 3;
            pixels[i] = ToByte(255 * gain * gains.B * (1 - shade * 0.9));
            pixels[i + 1] = ToByte(255 * gain * gains.G * (1 - shade));
            pixels[i + 2] = ToByte(255 * gain * gains.R * (1 - shade * 1.05));
        }
        using var low = Mat.FromPixelData(lh, lw, MatType.CV_8UC3, pixels);
        var light = new Mat();
        Cv2.Resize(low, light, frame, 0, 0, InterpolationFlags.Linear);
        return light;
    }

    /// <summary>Zero-mean noise of the given sigma around 128: the sum of two uniform draws (triangular distribution).</summary>
    private static Mat Grain(ref RNG rng, Size size, MatType type, double sigma)
    {
        // A uniform draw on [−a, a) has sigma a/√3; the sum of two has sigma a·√(2/3).
        double a = sigma / Math.Sqrt(2.0 / 3.0);
        var first = new Mat(size, type);
        using var second = new Mat(size, type);
        rng.Fill(first, DistributionType.Uniform, 128 - a, 128 + a);
        rng.Fill(second, DistributionType.Uniform, 128 - a, 128 + a);
        Cv2.AddWeighted(first, 1, second, 1, -128, first);
        return first;
    }

    private static void MotionBlur(Mat image, double length, double angleDegrees)
    {
        int size = (int)Math.Ceiling(length) | 1;
        using var kernel = new Mat(size, size, MatType.CV_32FC1, Scalar.All(0));
        double rad = angleDegrees * Math.PI / 180, c = (size - 1) / 2.0;
        var from = new Point((int)Math.Round((c - Math.Cos(rad) * length / 2) * 16), (int)Math.Round((c - Math.Sin(rad) * length / 2) * 16));
        var to = new Point((int)Math.Round((c + Math.Cos(rad) * length / 2) * 16), (int)Math.Round((c + Math.Sin(rad) * length / 2) * 16));
        Cv2.Line(kernel, from, to, Scalar.All(1), 1, LineTypes.AntiAlias, 4);
        double sum = Cv2.Sum(kernel).Val0;
        if (sum <= 0) return;
        kernel.ConvertTo(kernel, MatType.CV_32FC1, 1 / sum);
        Cv2.Filter2D(image, image, -1, kernel);
    }

    private static Scalar Jitter(Random random, Scalar colour, double amount)
    {
        double k = 1 + Between(random, -amount, amount);
        return new Scalar(colour.Val0 * k * Between(random, 0.9, 1.1), colour.Val1 * k * Between(random, 0.9, 1.1), colour.Val2 * k * Between(random, 0.9, 1.1));
    }

    private static byte ToByte(double value) => (byte)Math.Clamp(Math.Round(value), 0, 255);

    private static double Distance(Point2f a, Point2f b) => Math.Sqrt((a.X - b.X) * (a.X - b.X) + (a.Y - b.Y) * (a.Y - b.Y));

    private static double Between(Random random, double min, double max) => min + (max - min) * random.NextDouble();
}
