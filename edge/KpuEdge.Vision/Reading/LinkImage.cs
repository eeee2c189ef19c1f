using OpenCvSharp;

namespace KpuEdge.Vision.Reading;

/// <summary>How a page photo is recompressed for the satellite link.</summary>
public sealed record LinkImageOptions
{
    /// <summary>Hard cap per page in bytes; met unless even MinLongSide at QualityMin is larger.</summary>
    public int MaxBytes { get; init; } = 150_000;

    /// <summary>Long side of the link image in px; a smaller photo is never upscaled.</summary>
    public int MaxLongSide { get; init; } = 1600;

    /// <summary>To meet MaxBytes the image is shrunk no further than this long side (handwriting stays legible).</summary>
    public int MinLongSide { get; init; } = 1000;

    public int QualityMax { get; init; } = 85;
    public int QualityMin { get; init; } = 40;
}

/// <summary>A link image: the greyscale JPEG that travels to the cloud and whose hash is signed.</summary>
/// <param name="Jpeg">The encoded link image; may exceed MaxBytes only when no allowed attempt fitted.</param>
/// <param name="Quality">The JPEG quality it was encoded with.</param>
/// <param name="OriginalBytes">Size of the encoded photo; for a <see cref="Mat"/> given directly, its raw pixel bytes.</param>
public sealed record LinkImageResult(byte[] Jpeg, int Width, int Height, int Quality, int OriginalBytes);

/// <summary>
/// Recompresses a page photo into its link image: grey (black ink on white paper; colour would spend bytes on the
/// light's cast), at most MaxLongSide px (area filter, so thin strokes survive), and the highest JPEG quality that
/// fits MaxBytes. The signature covers these bytes (<see cref="FormDecider.ImageHash"/>), so the result is a pure
/// function of the input for a given OpenCV build: no clock, no randomness, fixed encoder parameters. Verifiers hash
/// the bytes they receive and never need to recompute them.
/// <para>
/// Nothing else is done to the pixels: no flattening of the paper and no denoising, so that what a human sees is the
/// photo's grey levels. (Measured before the reader found each box's own lines: then, such clean-ups made it take
/// box-line remnants in blank boxes for ink; see HandwritingBox.)
/// </para>
/// </summary>
public static class LinkImage
{
    /// <summary>Each shrink step keeps this share of the long side (about 28% fewer pixels).</summary>
    private const double ShrinkStep = 0.85;

    /// <summary>Decodes an encoded photo (JPEG, PNG, ...) and recompresses it.</summary>
    /// <exception cref="ScanException">The bytes are empty, not an image, or a damaged or truncated JPEG (code <see cref="ScanErrors.Unreadable"/>).</exception>
    public static LinkImageResult Compress(byte[] photo, LinkImageOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(photo);
        var o = Validate(options ?? new LinkImageOptions());
        if (photo.Length == 0)
            throw new ScanException(ScanErrors.Unreadable, "Berkas foto kosong (0 byte).");
        // OpenCV refuses a cut-off JPEG (no image rather than grey rows), so an incomplete page is never signed.
        string unreadable = photo is [0xFF, 0xD8, ..]
            ? "Berkas JPEG rusak atau terpotong. Foto ulang halaman."
            : "Berkas bukan gambar yang dapat dibaca.";
        Mat decoded;
        try
        {
            // Colour, as a camera frame would be, so both overloads take the same path to grey; turned upright by
            // its EXIF orientation, as the reader does.
            decoded = Cv2.ImDecode(photo, ImreadModes.Color);
        }
        catch (OpenCVException e)
        {
            throw new ScanException(ScanErrors.Unreadable, $"{unreadable} ({e.Message})");
        }
        using (decoded)
        {
            if (decoded.Empty()) throw new ScanException(ScanErrors.Unreadable, unreadable);
            return Encode(decoded, o, photo.Length);
        }
    }

    /// <summary>Recompresses a decoded photo (8- or 16-bit; grey, BGR or BGRA).</summary>
    /// <exception cref="ArgumentException">The Mat is empty or of an unsupported type.</exception>
    public static LinkImageResult Compress(Mat photo, LinkImageOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(photo);
        var o = Validate(options ?? new LinkImageOptions());
        if (photo.Empty()) throw new ArgumentException("The photo is empty.", nameof(photo));
        return Encode(photo, o, (int)Math.Min(int.MaxValue, photo.Total() * photo.ElemSize()));
    }

    private static LinkImageResult Encode(Mat photo, LinkImageOptions o, int originalBytes)
    {
        using var grey = ToGrey8(photo);
        int side = Math.Min(Math.Max(grey.Width, grey.Height), o.MaxLongSide);
        int floor = Math.Min(side, o.MinLongSide);
        LinkImageResult? smallest = null;
        while (true)
        {
            using var sized = Resize(grey, side);
            var attempt = FitQuality(sized, o) with { OriginalBytes = originalBytes };
            if (attempt.Jpeg.Length <= o.MaxBytes) return attempt;
            // Not even QualityMin fits at this size: keep it in case nothing will, and shrink.
            if (smallest is null || attempt.Jpeg.Length < smallest.Jpeg.Length) smallest = attempt;
            if (side <= floor) return smallest;
            side = Math.Max(floor, (int)Math.Round(side * ShrinkStep));
        }
    }

    /// <summary>
    /// The highest quality in [QualityMin, QualityMax] whose encoding fits MaxBytes; when none does, the encoding at
    /// QualityMin (larger than MaxBytes).
    /// </summary>
    private static LinkImageResult FitQuality(Mat image, LinkImageOptions o)
    {
        var best = Attempt(image, o.QualityMax);
        if (best.Jpeg.Length <= o.MaxBytes) return best;
        best = Attempt(image, o.QualityMin);
        if (best.Jpeg.Length > o.MaxBytes) return best;
        // QualityMin fits, QualityMax does not: bisect between them (size grows with quality).
        int lo = o.QualityMin, hi = o.QualityMax;
        while (hi - lo > 1)
        {
            int mid = (lo + hi) / 2;
            var attempt = Attempt(image, mid);
            if (attempt.Jpeg.Length <= o.MaxBytes)
            {
                lo = mid;
                best = attempt;
            }
            else hi = mid;
        }
        return best;
    }

    private static LinkImageResult Attempt(Mat image, int quality)
    {
        // Optimised Huffman tables and a progressive scan: smaller files, the same pixels, and a coarse preview
        // from the first bytes over a slow link.
        Cv2.ImEncode(".jpg", image, out byte[] jpeg,
            new ImageEncodingParam(ImwriteFlags.JpegQuality, quality),
            new ImageEncodingParam(ImwriteFlags.JpegOptimize, 1),
            new ImageEncodingParam(ImwriteFlags.JpegProgressive, 1));
        return new LinkImageResult(jpeg, image.Width, image.Height, quality, 0);
    }

    private static Mat Resize(Mat grey, int side)
    {
        int longSide = Math.Max(grey.Width, grey.Height);
        if (side >= longSide) return grey.Clone();
        double scale = side / (double)longSide;
        var size = grey.Width >= grey.Height
            ? new Size(side, Math.Max(1, (int)Math.Round(grey.Height * scale)))
            : new Size(Math.Max(1, (int)Math.Round(grey.Width * scale)), side);
        var resized = new Mat();
        Cv2.Resize(grey, resized, size, 0, 0, InterpolationFlags.Area);
        return resized;
    }

    private static Mat ToGrey8(Mat photo)
    {
        if (photo.Depth() is not (MatType.CV_8U or MatType.CV_16U))
            throw new ArgumentException($"Unsupported pixel type {photo.Type()}: expected 8- or 16-bit.", nameof(photo));
        var grey = new Mat();
        switch (photo.Channels())
        {
            case 1: photo.CopyTo(grey); break;
            case 3: Cv2.CvtColor(photo, grey, ColorConversionCodes.BGR2GRAY); break;
            case 4: Cv2.CvtColor(photo, grey, ColorConversionCodes.BGRA2GRAY); break;
            default:
                grey.Dispose();
                throw new ArgumentException($"Unsupported channel count {photo.Channels()}: expected 1, 3 or 4.", nameof(photo));
        }
        if (grey.Depth() == MatType.CV_16U) grey.ConvertTo(grey, MatType.CV_8UC1, 1 / 257.0);
        return grey;
    }

    private static LinkImageOptions Validate(LinkImageOptions o)
    {
        if (o.MaxBytes <= 0) throw new ArgumentOutOfRangeException(nameof(o.MaxBytes), o.MaxBytes, "MaxBytes must be positive.");
        if (o.MinLongSide < 16) throw new ArgumentOutOfRangeException(nameof(o.MinLongSide), o.MinLongSide, "MinLongSide must be at least 16 px.");
        if (o.MaxLongSide < o.MinLongSide)
            throw new ArgumentOutOfRangeException(nameof(o.MaxLongSide), o.MaxLongSide, $"MaxLongSide must be at least MinLongSide ({o.MinLongSide}).");
        if (o.QualityMin is < 1 or > 100 || o.QualityMax is < 1 or > 100 || o.QualityMin > o.QualityMax)
            throw new ArgumentOutOfRangeException(nameof(o.QualityMin), $"JPEG quality {o.QualityMin}..{o.QualityMax} is not an interval within 1..100.");
        return o;
    }
}
