using System.Text.RegularExpressions;
using KpuEdge.Core.Regions;
using OpenCvSharp;
using OpenCvSharp.Text;

namespace KpuEdge.Vision.Reading;

/// <summary>
/// Reads the printed TPS code with Tesseract (statically linked into OpenCvSharp's runtime) when the QR code is
/// damaged. Uses Debian's tesseract language data (tesseract-ocr-eng), restricted to the characters of the line.
/// One Tesseract engine, used under a lock: it is not thread-safe and slow to create.
/// </summary>
public sealed partial class TpsCodeOcr : IDisposable
{
    private static readonly string[] DataPaths =
        ["/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata", "/usr/share/tesseract-ocr/tessdata", "/usr/share/tessdata"];

    private readonly Lock _lock = new();
    private readonly OCRTesseract _engine;

    private TpsCodeOcr(OCRTesseract engine) => _engine = engine;

    /// <summary>The OCR engine, or null when no Tesseract language data is installed (run ./kpu setup).</summary>
    public static TpsCodeOcr? TryCreate(string? dataPath = null)
    {
        string? env = Environment.GetEnvironmentVariable("TESSDATA_PREFIX");
        string? path = dataPath ?? (env is { Length: > 0 } && Directory.Exists(env) ? env : null);
        path ??= DataPaths.FirstOrDefault(p => File.Exists(Path.Combine(p, "eng.traineddata")));
        if (path is null) return null;
        // Page segmentation mode 7: a single text line. Engine mode 1: LSTM (what Debian's data holds).
        return new TpsCodeOcr(OCRTesseract.Create(path, "eng", "TPS0123456789 ", 1, 7));
    }

    /// <summary>
    /// Reads the printed "TPS nnnnnnnnnnnnn c" line: 13 digits and their Luhn check digit. Tries a few clean-ups of
    /// the image and takes the first reading whose check digit holds; null if none does (never a guess).
    /// </summary>
    public TpsCode? Read(Mat line)
    {
        foreach (var (scale, binarize) in new[] { (1.5, true), (2.0, false), (1.0, true), (2.5, true) })
        {
            using var prepared = new Mat();
            // Tesseract prefers text of 30+ px height; some photos read better binarized, some as grey.
            Cv2.Resize(line, prepared, new Size(), scale, scale, InterpolationFlags.Cubic);
            if (binarize) Cv2.Threshold(prepared, prepared, 0, 255, ThresholdTypes.Binary | ThresholdTypes.Otsu);
            string text;
            lock (_lock)
            {
                _engine.Run(prepared, out text, out _, out _, out _, ComponentLevels.TextLine);
            }
            var digits = DigitsOnly().Replace(text ?? "", "");
            var match = CodeAndCheck().Match(digits);
            if (!match.Success) continue;
            string code = match.Value[..13];
            if (match.Value[13] - '0' == Forms.FormRenderer.TpsCheckDigit(code) && TpsCode.TryParse(code, out var tps)) return tps;
        }
        return null;
    }

    public void Dispose() => _engine.Dispose();

    [GeneratedRegex("[^0-9]")]
    private static partial Regex DigitsOnly();

    [GeneratedRegex("[0-9]{14}")]
    private static partial Regex CodeAndCheck();
}
