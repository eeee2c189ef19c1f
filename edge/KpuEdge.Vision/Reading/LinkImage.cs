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

    /// <summary>
    /// Even out the lighting and turn the paper white (a local gain, not a threshold: ink, stamps and shading of
    /// the strokes keep their grey levels). Removes the paper's sensor noise, on which JPEG would spend most bytes.
    /// </summary>
    public bool FlattenPaper { get; init; }
}

/// <summary>A link image: the greyscale JPEG that travels to the cloud and whose hash is signed.</summary>
/// <param name="Jpeg">The encoded link image; may exceed MaxBytes only when no allowed attempt fitted.</param>
/// <param name="Quality">The JPEG quality it was encoded with.</param>
/// <param name="OriginalBytes">Size of the encoded photo; for a <see cref="Mat"/> given directly, its raw pixel bytes.</param>
public sealed record LinkImageResult(byte[] Jpeg, int Width, int Height, int Quality, int OriginalBytes);

/// <summary>
/// Recompresses a page photo into its link image: grey (the forms are black ink on white paper; colour triples
/// the bytes for nothing), at most MaxLongSide px (area filter, so thin strokes survive), and the highest JPEG
/// quality that fits MaxBytes. The signature covers these bytes (<see cref="FormDecider.ImageHash"/>), so the
/// result is a pure function of the input: no clock, no randomness, fixed encoder parameters. Verifiers hash the
/// bytes they receive and never need to recompute them.
/// </summary>
public static class LinkImage
{
    /// <summary>Each shrink step keeps this share of the long side (about 28% fewer pixels).</summary>
    private const double ShrinkStep = 0.85;

    /// <summary>Decodes an encoded photo (JPEG, PNG, ...) and recompresses it.</summary>
    /// <exception cref="ScanException">The bytes are empty, not an image, or a truncated JPEG (code <see cref="ScanErrors.Unreadable"/>).</exception>
    public static LinkImageResult Compress(byte[] photo, LinkImageOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(photo);
        var o = Validate(options ?? new LinkImageOptions());
        if (photo.Length == 0)
            throw new ScanException(ScanErrors.Unreadable, "Berkas foto kosong (0 byte).");
        // libjpeg decodes a cut-off JPEG with a warning and fills the missing rows with grey: refuse it here, or a
        // half-grey page would be signed as the evidence.
        if (photo is [0xFF, 0xD8, ..] && !HasEndOfImage(photo))
            throw new ScanException(ScanErrors.Unreadable, "Berkas JPEG terpotong (penanda akhir gambar tidak ada). Foto ulang halaman.");
        Mat decoded;
        try
        {
            // Colour, as a camera frame would be, so both overloads take the same path to grey.
            decoded = Cv2.ImDecode(photo, ImreadModes.Color);
        }
        catch (OpenCVException e)
        {
            throw new ScanException(ScanErrors.Unreadable, $"Berkas bukan gambar yang dapat dibaca ({e.Message}).");
        }
        using (decoded)
        {
            if (decoded.Empty()) throw new ScanException(ScanErrors.Unreadable, "Berkas bukan gambar yang dapat dibaca.");
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
        using var start = Resize(grey, side);
        if (o.FlattenPaper) FlattenPaper(start);
        LinkImageResult? smallest = null;
        while (true)
        {
            using var sized = Resize(start, side);
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

    internal static double PaperShare = 0.9;
    internal static int Coarse = 16;

    /// <summary>
    /// Divides the image by a smooth estimate of the paper's brightness (the brightest nearby area of a coarse
    /// copy, so ink does not pull it down), scaled so that paper lands a little above white and clips: noise on the
    /// paper becomes flat white, shadows and light fall-off disappear, and darker things keep their contrast.
    /// </summary>
    private static void FlattenPaper(Mat grey)
    {
        var coarse = new Size(Math.Max(1, grey.Width / Coarse), Math.Max(1, grey.Height / Coarse));
        using var paper = new Mat();
        Cv2.Resize(grey, paper, coarse, 0, 0, InterpolationFlags.Area);
        using (var kernel = Cv2.GetStructuringElement(MorphShapes.Rect, new Size(5, 5)))
            Cv2.Dilate(paper, paper, kernel);
        Cv2.GaussianBlur(paper, paper, new Size(0, 0), 1.5);
        // A dark table or a big black marker is not paper: never raise anything by more than 255 / (share · 64).
        Cv2.Max(paper, new Scalar(64), paper);
        using var level = new Mat();
        Cv2.Resize(paper, level, grey.Size(), 0, 0, InterpolationFlags.Linear);
        Cv2.Divide(grey, level, grey, 255 / PaperShare);
    }

    private static Mat ToGrey8(Mat photo)
    {
        using var eight = photo.Depth() switch
        {
            MatType.CV_8U => photo.Clone(),
            MatType.CV_16U => ConvertTo8(photo),
            _ => throw new ArgumentException($"Unsupported pixel type {photo.Type()}: expected 8- or 16-bit.", nameof(photo)),
        };
        return eight.Channels() switch
        {
            1 => eight.Clone(),
            3 => eight.CvtColor(ColorConversionCodes.BGR2GRAY),
            4 => eight.CvtColor(ColorConversionCodes.BGRA2GRAY),
            _ => throw new ArgumentException($"Unsupported channel count {eight.Channels()}: expected 1, 3 or 4.", nameof(photo)),
        };
    }

    private static Mat ConvertTo8(Mat photo)
    {
        var eight = new Mat();
        photo.ConvertTo(eight, MatType.MakeType(MatType.CV_8U, photo.Channels()), 1 / 257.0);
        return eight;
    }

    /// <summary>
    /// Whether a JPEG's marker structure reaches its end-of-image marker: segments are skipped by their lengths
    /// (so an EXIF thumbnail's own end marker does not count), entropy-coded data up to the next real marker.
    /// </summary>
    private static bool HasEndOfImage(ReadOnlySpan<byte> jpeg)
    {
        int i = 2;
        while (i + 1 < jpeg.Length)
        {
            if (jpeg[i] != 0xFF)
            {
                i++; // stray bytes between segments: libjpeg skips them too
                continue;
            }
            byte marker = jpeg[i + 1];
            if (marker == 0xFF)
            {
                i++; // fill byte
                continue;
            }
            if (marker == 0xD9) return true;
            if (marker is 0x01 or (>= 0xD0 and <= 0xD7))
            {
                i += 2; // markers without a length
                continue;
            }
            if (i + 3 >= jpeg.Length) return false;
            int length = (jpeg[i + 2] << 8) | jpeg[i + 3];
            if (length < 2) return false;
            i += 2 + length;
            if (marker != 0xDA) continue;
            // After a start-of-scan: entropy-coded data until a marker that is neither a stuffed 0xFF00 nor a restart.
            while (i + 1 < jpeg.Length && !(jpeg[i] == 0xFF && jpeg[i + 1] != 0x00 && jpeg[i + 1] is not (>= 0xD0 and <= 0xD7)))
                i++;
        }
        return false;
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
