using OpenCvSharp;

namespace KpuEdge.Verify;

/// <summary>What reading a photo gave: the QR's text, or why there is none ("unreadable_photo", "no_qr").</summary>
public sealed record QrReading(string? Payload, string? Error, string Detail)
{
    public bool Found => Payload is not null;
}

/// <summary>
/// Finds and decodes the QR code in a witness's photo with OpenCV's QRCodeDetector. Phone photos vary: the whole
/// image is tried first, then a grayscale, contrast-stretched and thresholded copy (uneven light, JPEG noise), then
/// scaled copies (a QR that fills a small part of a large photo, or a small photo).
/// </summary>
public static class QrPhotoReader
{
    /// <summary>Photos larger than this are refused unread (a 48-megapixel JPEG is well under it).</summary>
    public const int MaxPhotoBytes = 64 * 1024 * 1024;

    public static QrReading Read(byte[] photo)
    {
        if (photo.Length == 0) return new QrReading(null, "unreadable_photo", "The photo file is empty.");
        if (photo.Length > MaxPhotoBytes) return new QrReading(null, "unreadable_photo", $"The photo is {photo.Length} bytes; at most {MaxPhotoBytes}.");
        using var image = Cv2.ImDecode(photo, ImreadModes.Color);
        if (image.Empty()) return new QrReading(null, "unreadable_photo", "The file is not an image OpenCV can read (JPEG, PNG, BMP, TIFF, WebP).");

        // Two detectors: WeChat's (ZXing-derived, run here without its CNN models) reads clean codes that the classic
        // QRCodeDetector misses about one time in ten; the classic one is kept as the second opinion.
        using var wechat = new WeChatQRCode("", "", "", "");
        using var detector = new QRCodeDetector();
        foreach (var (attempt, candidate) in Attempts(image))
        {
            using (candidate)
            {
                string text = DecodeWeChat(wechat, candidate);
                if (string.IsNullOrEmpty(text)) text = Decode(detector, candidate);
                if (!string.IsNullOrEmpty(text)) return new QrReading(text, null, $"QR code read from the {attempt} ({image.Width}×{image.Height} photo).");
            }
        }
        return new QrReading(null, "no_qr", $"No readable QR code in the {image.Width}×{image.Height} photo. Photograph the QR straight on, filling a good part of the picture, without glare.");
    }

    private static string DecodeWeChat(WeChatQRCode detector, Mat image)
    {
        try
        {
            return detector.DetectAndDecode(image, out _).FirstOrDefault(t => !string.IsNullOrEmpty(t)) ?? "";
        }
        catch (OpenCVException)
        {
            return "";
        }
    }

    private static string Decode(QRCodeDetector detector, Mat image)
    {
        try
        {
            return detector.DetectAndDecode(image, out _);
        }
        catch (OpenCVException)
        {
            // OpenCV asserts on some degenerate detections; for the reader that is just "not here".
            return "";
        }
    }

    private static IEnumerable<(string Attempt, Mat Image)> Attempts(Mat photo)
    {
        yield return ("whole image", photo.Clone());

        using var gray = new Mat();
        Cv2.CvtColor(photo, gray, ColorConversionCodes.BGR2GRAY);
        using var stretched = new Mat();
        Cv2.Normalize(gray, stretched, 0, 255, NormTypes.MinMax);
        yield return ("grayscale copy", stretched.Clone());

        // OpenCV's detector misses some perfectly clean codes (too-sharp module edges, or how the finder patterns
        // fall): a slightly softened copy and a quarter-turned copy read them.
        var softened = new Mat();
        Cv2.GaussianBlur(stretched, softened, new Size(5, 5), 0);
        yield return ("softened copy", softened);
        var turned = new Mat();
        Cv2.Rotate(stretched, turned, RotateFlags.Rotate90Clockwise);
        yield return ("quarter-turned copy", turned);

        using var blurred = new Mat();
        Cv2.GaussianBlur(stretched, blurred, new Size(3, 3), 0);
        var otsu = new Mat();
        Cv2.Threshold(blurred, otsu, 0, 255, ThresholdTypes.Binary | ThresholdTypes.Otsu);
        yield return ("thresholded copy", otsu);

        // An adaptive threshold copes with a shadow across the code, which one global threshold cannot.
        var adaptive = new Mat();
        int block = Math.Max(31, (Math.Min(photo.Width, photo.Height) / 16) | 1);
        Cv2.AdaptiveThreshold(blurred, adaptive, 255, AdaptiveThresholdTypes.GaussianC, ThresholdTypes.Binary, block, 5);
        yield return ("adaptively thresholded copy", adaptive);

        int longest = Math.Max(photo.Width, photo.Height);
        if (longest < 2000)
        {
            var up = new Mat();
            Cv2.Resize(stretched, up, new Size(), 2, 2, InterpolationFlags.Cubic);
            yield return ("upscaled copy", up);
        }
        if (longest > 1600)
        {
            double f = 1200.0 / longest;
            var down = new Mat();
            Cv2.Resize(stretched, down, new Size(), f, f, InterpolationFlags.Area);
            yield return ("downscaled copy", down);
        }
    }
}
