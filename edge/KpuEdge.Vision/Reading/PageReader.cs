using System.Collections.Concurrent;
using System.Diagnostics;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Vision.Digits;
using KpuEdge.Vision.Forms;
using OpenCvSharp;
using OpenCvSharp.Aruco;

namespace KpuEdge.Vision.Reading;

/// <summary>What the device expects to be photographing: its own TPS, and the contest the KPPS is scanning.</summary>
/// <param name="Crops">Cut each field from the straightened page for a screen (<see cref="FieldRead.Crop"/>); off for benchmarks.</param>
public sealed record ScanExpectation(TpsCode? Tps = null, ContestId? Contest = null, bool Crops = false);

/// <summary>
/// Reads one photographed page: finds the four ArUco markers (their ids say contest, page and corner), maps the
/// photo onto the layout with a homography, reads the QR tag (or the printed TPS code with Tesseract when the QR
/// is damaged), then every handwriting box (classifier) and bubble column. Refuses anything that is not a whole,
/// upright page of the expected form with a <see cref="ScanException"/>.
/// </summary>
public sealed class PageReader : IDisposable
{
    /// <summary>Pixels inside each printed box border that are not read (the border and most of its blur). The digit is
    /// read from this fixed cut, the one the normalizer's line-remnant handling was tuned on; whether the box is blank
    /// at all is decided by <see cref="HandwritingBox"/>, which finds the lines themselves.</summary>
    private const int BoxInset = 4;

    private readonly IDigitClassifier _classifier;
    private readonly RegionTree _tree;
    private readonly ElectionDefinition _election;
    private readonly TpsCodeOcr? _ocr;
    private readonly Dictionary _dictionary = CvAruco.GetPredefinedDictionary(FormLayout.MarkerDictionary);
    private readonly ConcurrentDictionary<(ContestId, string), FormLayout> _layouts = new();

    public PageReader(IDigitClassifier classifier, RegionTree tree, ElectionDefinition election, TpsCodeOcr? ocr)
    {
        _classifier = classifier;
        _tree = tree;
        _election = election;
        _ocr = ocr;
    }

    public FormLayout LayoutFor(Ballot ballot) =>
        _layouts.GetOrAdd((ballot.Contest, ballot.Dapil), _ => FormLayout.For(_election, ballot));

    /// <summary>Reads an encoded image file (JPEG, PNG, ...).</summary>
    public PageRead Read(byte[] encoded, ScanExpectation? expected = null)
    {
        using var gray = Cv2.ImDecode(encoded, ImreadModes.Grayscale);
        if (gray.Empty()) throw new ScanException(ScanErrors.Unreadable, "Berkas bukan gambar yang dapat dibaca.");
        return Read(gray, expected);
    }

    public PageRead Read(Mat image, ScanExpectation? expected = null)
    {
        var watch = Stopwatch.StartNew();
        using var gray = image.Channels() == 1 ? image.Clone() : image.CvtColor(ColorConversionCodes.BGR2GRAY);
        var (contest, pageNumber, homography) = Register(gray);
        using (homography)
        {
            // Every page has the same frame, so the page can be warped before its layout is known.
            var frame = FormLayout.Frame;
            using var page = new Mat();
            Cv2.WarpPerspective(gray, page, homography, new Size(frame.Width, frame.Height), InterpolationFlags.Linear, BorderTypes.Constant, Scalar.White);

            var (tag, source) = ReadTag(page, frame, contest, pageNumber);
            Check(tag, contest, pageNumber, expected);
            var ballot = _election.Ballots(_tree).For(tag.Contest, tag.Tps)
                         ?? throw new ScanException(ScanErrors.WrongContest, $"Kontestasi {tag.Contest.Slug()} tidak diselenggarakan di TPS {tag.Tps}.");
            var layout = LayoutFor(ballot);
            if (tag.Pages != layout.Pages.Count || tag.Page > layout.Pages.Count)
                throw new ScanException(ScanErrors.UnknownPage, $"Halaman {tag.Page}/{tag.Pages} tidak cocok dengan formulir {tag.Contest.Slug()} ({layout.Pages.Count} halaman).");

            var fields = layout.Pages[tag.Page - 1].Fields.Select(f => ReadField(page, f, tag.Page, layout.BubbleRadius)).ToArray();
            if (expected?.Crops == true)
                fields = layout.Pages[tag.Page - 1].Fields.Select((f, i) => fields[i] with { Crop = Crop(page, f, layout.BubbleRadius) }).ToArray();
            return new PageRead(tag, source, fields, watch.Elapsed.TotalMilliseconds);
        }
    }

    /// <summary>The field's label, digit boxes and bubble columns, cut from the straightened page, as PNG.</summary>
    private static byte[] Crop(Mat page, FieldLayout field, int bubbleRadius)
    {
        var rects = new List<Rect> { new(field.LabelBox.X, field.LabelBox.Y, field.LabelBox.Width, field.LabelBox.Height) };
        foreach (var digit in field.Digits)
        {
            rects.Add(new Rect(digit.Box.X, digit.Box.Y, digit.Box.Width, digit.Box.Height));
            rects.AddRange(digit.Bubbles.Select(b => new Rect(b.X - bubbleRadius, b.Y - bubbleRadius, 2 * bubbleRadius, 2 * bubbleRadius)));
        }
        var all = rects.Aggregate((a, b) => a | b);
        var bounds = new Rect(0, 0, page.Width, page.Height) & new Rect(all.X - 4, all.Y - 4, all.Width + 8, all.Height + 8);
        using var cut = new Mat(page, bounds);
        return cut.ImEncode(".png");
    }

    private (ContestId Contest, int Page, Mat Homography) Register(Mat gray)
    {
        using var detector = new ArucoDetector(_dictionary);
        detector.DetectMarkers(gray, out Point2f[][] corners, out int[] ids, out _);
        var ours = ids.Select((id, i) => (Id: id, Corners: corners[i]))
            .Where(m => m.Id < 5 * FormLayout.MaxPages * 4)
            .Select(m => (m.Id, m.Corners, Decoded: FormLayout.DecodeMarkerId(m.Id)))
            .GroupBy(m => (m.Decoded.Contest, m.Decoded.Page))
            .OrderByDescending(g => g.Select(m => m.Decoded.Corner).Distinct().Count())
            .FirstOrDefault()?.GroupBy(m => m.Decoded.Corner).Select(g => g.First()).ToArray();
        int found = ours?.Length ?? 0;
        if (found <= 1)
            throw new ScanException(ScanErrors.NotAForm, "Bukan halaman formulir C.Hasil: penanda sudut tidak ditemukan. Foto seluruh halaman formulir.");
        if (found == 2)
            throw new ScanException(ScanErrors.CutOff, "Formulir terpotong: hanya 2 dari 4 penanda sudut terlihat. Foto ulang seluruh halaman.");

        var (contest, page, _) = ours![0].Decoded;
        var layoutMarkers = MarkerCorners();
        var src = new List<Point2f>();
        var dst = new List<Point2f>();
        foreach (var marker in ours)
        {
            src.AddRange(marker.Corners);
            dst.AddRange(layoutMarkers[marker.Decoded.Corner]);
        }
        var homography = Cv2.FindHomography(InputArray.Create(src), InputArray.Create(dst), HomographyMethods.Ransac, 8);
        if (homography.Empty())
            throw new ScanException(ScanErrors.Unreadable, "Posisi formulir tidak dapat ditentukan. Foto ulang dengan lebih tegak dan fokus.");

        // Where the page's corners fall in the photo.
        using var inverse = homography.Inv();
        var frame = FormLayout.Frame;
        var pageCorners = Cv2.PerspectiveTransform(
            [new Point2f(0, 0), new Point2f(frame.Width, 0), new Point2f(frame.Width, frame.Height), new Point2f(0, frame.Height)], inverse);
        // The top edge of the page must run left to right in the photo (within ±45°); otherwise it is upside down or sideways.
        var top = pageCorners[1] - pageCorners[0];
        double angle = Math.Atan2(top.Y, top.X) * 180 / Math.PI;
        if (Math.Abs(angle) > 45)
        {
            homography.Dispose();
            throw new ScanException(ScanErrors.UpsideDown, $"Formulir terbalik atau miring ({angle:F0}°). Foto ulang dengan posisi tegak.");
        }
        // Three markers: a fourth lost to glare or blur is fine, one outside the photo means the page is cut off.
        if (found == 3)
        {
            int missing = Enumerable.Range(0, 4).Except(ours.Select(m => m.Decoded.Corner)).Single();
            var box = frame.MarkerBoxes[missing];
            var where = Cv2.PerspectiveTransform([new Point2f(box.X, box.Y), new Point2f(box.Right, box.Bottom)], inverse);
            if (where.Any(p => p.X < 0 || p.Y < 0 || p.X >= gray.Width || p.Y >= gray.Height))
            {
                homography.Dispose();
                throw new ScanException(ScanErrors.CutOff, "Formulir terpotong: satu penanda sudut berada di luar foto. Foto ulang seluruh halaman.");
            }
        }
        return (contest, page, homography);
    }

    /// <summary>Corners of each marker on the page, in ArUco's order (top-left, top-right, bottom-right, bottom-left).</summary>
    private static Point2f[][] MarkerCorners() => FormLayout.Frame.MarkerBoxes.Select(b => new[]
    {
        new Point2f(b.X, b.Y), new Point2f(b.Right, b.Y), new Point2f(b.Right, b.Bottom), new Point2f(b.X, b.Bottom),
    }).ToArray();

    private (PageTag Tag, string Source) ReadTag(Mat page, PageFrame frame, ContestId contest, int pageNumber)
    {
        var q = frame.Qr;
        using (var qrRegion = new Mat(page, Clip(new Rect(q.X - 30, q.Y - 30, q.Width + 60, q.Height + 60), page)))
        using (var detector = new QRCodeDetector())
        {
            var decoded = PageTag.TryDecode(detector.DetectAndDecode(qrRegion, out _));
            if (decoded is not null) return (decoded, "qr");
        }
        // Damaged QR: the markers still say contest and page; the printed line gives the TPS.
        var t = frame.TpsCode;
        using var line = new Mat(page, Clip(new Rect(t.X - 10, t.Y, t.Width + 20, t.Height + 10), page));
        var tps = _ocr?.Read(line);
        if (tps is null || !_tree.Contains(tps.Value))
            throw new ScanException(ScanErrors.Unreadable, "Kode QR dan kode TPS tercetak tidak terbaca. Foto ulang halaman dengan lebih jelas.");
        var ballot = _election.Ballots(_tree).For(contest, tps.Value);
        int pages = ballot is null ? pageNumber : LayoutFor(ballot).Pages.Count;
        return (new PageTag(_election.ElectionId, contest, tps.Value, pageNumber, pages), "ocr");
    }

    private void Check(PageTag tag, ContestId markerContest, int markerPage, ScanExpectation? expected)
    {
        if (tag.ElectionId != _election.ElectionId)
            throw new ScanException(ScanErrors.WrongElection, $"Formulir untuk pemilihan '{tag.ElectionId}', bukan '{_election.ElectionId}'.");
        if (tag.Contest != markerContest || tag.Page != markerPage)
            throw new ScanException(ScanErrors.UnknownPage, "Kode QR tidak cocok dengan penanda sudut halaman ini.");
        if (expected?.Contest is { } contest && contest != tag.Contest)
            throw new ScanException(ScanErrors.WrongContest, $"Ini formulir {tag.Contest.Slug()}, bukan {contest.Slug()} yang sedang dipindai.");
        if (expected?.Tps is { } tps && tps != tag.Tps)
            throw new ScanException(ScanErrors.WrongTps, $"Ini formulir TPS {tag.Tps}, bukan TPS {tps} perangkat ini.");
        if (!_tree.Contains(tag.Tps))
            throw new ScanException(ScanErrors.WrongTps, $"TPS {tag.Tps} tidak ada dalam daftar TPS.");
    }

    private FieldRead ReadField(Mat page, FieldLayout field, int pageNumber, int bubbleRadius)
    {
        var boxes = new BoxReading[field.Digits.Count];
        for (int i = 0; i < boxes.Length; i++)
        {
            var d = field.Digits[i];
            // Blank or not is decided inside the box's own lines and all of their blur, against the print's contrast:
            // a fixed inset and a noise-relative threshold took the remnants of the lines for a digit in clean images
            // (a scanner, a good phone, the link image).
            var box = new Rect(d.Box.X, d.Box.Y, d.Box.Width, d.Box.Height);
            var inside = HandwritingBox.Inspect(page, box);
            double ink = inside.InkFraction;
            DigitReading? handwriting = null;
            if (inside.Written)
            {
                using var crop = new Mat(page, new Rect(box.X + BoxInset, box.Y + BoxInset, box.Width - 2 * BoxInset, box.Height - 2 * BoxInset));
                using var normalized = DigitNormalizer.Normalize(crop, out ink);
                handwriting = normalized is null ? null : _classifier.Classify(normalized);
            }
            boxes[i] = new BoxReading(handwriting, ReadBubbles(page, d, bubbleRadius), ink);
        }
        return new FieldRead(field.Key, field.Label, pageNumber, boxes);
    }

    /// <summary>The filled bubble of a column: each bubble's darkness against the column's own paper level.</summary>
    private static int? ReadBubbles(Mat page, DigitBoxLayout column, int radius)
    {
        int r = Math.Max(2, radius - 2);
        var means = new double[column.Bubbles.Count];
        using var mask = new Mat(2 * r + 1, 2 * r + 1, MatType.CV_8UC1, Scalar.Black);
        Cv2.Circle(mask, new Point(r, r), r, Scalar.White, -1);
        for (int k = 0; k < means.Length; k++)
        {
            var b = column.Bubbles[k];
            using var roi = new Mat(page, new Rect(b.X - r, b.Y - r, 2 * r + 1, 2 * r + 1));
            means[k] = Cv2.Mean(roi, mask).Val0;
        }
        double paper = means.Order().ElementAt(means.Length / 2);
        var filled = Enumerable.Range(0, means.Length).Where(k => means[k] < paper * 0.62).ToArray();
        return filled.Length switch
        {
            0 => null,
            1 => column.Bubbles[filled[0]].Digit,
            _ => -1,
        };
    }

    private static Rect Clip(Rect rect, Mat image) => rect.Intersect(new Rect(0, 0, image.Width, image.Height));

    public void Dispose() => _dictionary.Dispose();
}
