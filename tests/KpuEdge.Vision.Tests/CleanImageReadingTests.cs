using KpuEdge.Core.Elections;
using KpuEdge.Simulator.Forms;
using KpuEdge.Vision.Digits;
using KpuEdge.Vision.Forms;
using KpuEdge.Vision.Reading;
using OpenCvSharp;

namespace KpuEdge.Vision.Tests;

/// <summary>
/// Images cleaner than a noisy phone photo — a good phone, a scanner, the recompressed link image — are read as
/// filled, their blank leading boxes blank. The reader once relied on the photo's noise to hide what a fixed inset left
/// of the printed box lines, and read those remnants as an extra digit ("3" became "203") once the noise was gone.
/// </summary>
[Collection(ReaderCollection.Name)]
public sealed class CleanImageReadingTests(ReaderFixture f)
{
    /// <summary>The forms whose link images were misread that way (LinkImageTests' survey over PPWP 1–12, DPR 1–20).</summary>
    public static TheoryData<ContestId, int> FormerlyMisread => new()
    {
        { ContestId.Ppwp, 3 }, { ContestId.Dpr, 7 }, { ContestId.Dpr, 13 }, { ContestId.Dpr, 16 },
    };

    /// <summary>Phones that leave hardly any sensor noise (σ = 1 grey level): one in sharp focus (σ = 0.1 px), no shake;
    /// one focused a little softly (σ = 1–1.6 px), which spreads the printed lines into the boxes.</summary>
    private static readonly Dictionary<string, PhotoOptions> CleanPhones = new()
    {
        ["sharp"] = new() { MaxNoiseSigma = 1, MinBlurSigma = 0.1, MaxBlurSigma = 0.1, MotionBlurShare = 0 },
        ["soft focus"] = new() { MaxNoiseSigma = 1, MinBlurSigma = 1.0, MaxBlurSigma = 1.6 },
    };

    public static TheoryData<ContestId, int, string> FormerlyMisreadByCleanPhones()
    {
        var data = new TheoryData<ContestId, int, string>();
        foreach (var phone in CleanPhones.Keys)
        foreach (var (contest, seed) in new[] { (ContestId.Ppwp, 3), (ContestId.Dpr, 7), (ContestId.Dpr, 13), (ContestId.Dpr, 16) })
            data.Add(contest, seed, phone);
        return data;
    }

    [Theory]
    [MemberData(nameof(FormerlyMisread))]
    public void Reads_the_link_images_as_filled_with_blank_leading_boxes_blank(ContestId contest, int seed)
    {
        using var form = Fill(contest, seed);
        var links = f.Photograph(form, seed).Select(p => LinkImage.Compress(p).Jpeg).ToArray();

        var scan = f.Scanner.Scan(links, new ScanExpectation(f.Tps, contest));

        string what = $"{contest} seed {seed}, link images";
        AssertEmptyBoxesBlank(form, scan, what);
        var wrong = scan.Fields.Where(d => d.Value != form.Values[d.Key]).Select(d => Describe(form, d)).ToArray();
        Assert.True(wrong.Length == 0, $"{what}: {string.Join("; ", wrong)}");
    }

    /// <summary>
    /// In photos from clean phones every box the pen left empty is blank. A written digit the classifier cannot be sure
    /// of may still be misread, but then it is flagged for a human, never accepted: DPR seed 16's sharp photo reads a
    /// written 1 as 7 at 0.91 (the noisy photo reads that box as 7 too, at 0.60, and its bubble settles it); the soft
    /// focus blurs a 3 of DPR 7 into a 9 (0.43) and a 2 of DPR 13 into a 9 (0.35). (Before the box lines were looked
    /// for, the soft-focus photos of DPR 13 read three blank leading boxes as digits: 1 → 21, 0 → 400, 1 → 201.)
    /// </summary>
    [Theory]
    [MemberData(nameof(FormerlyMisreadByCleanPhones))]
    public void Reads_clean_photos_with_blank_leading_boxes_blank_and_flags_any_digit_it_misreads(ContestId contest, int seed, string phone)
    {
        using var form = Fill(contest, seed);
        var random = new Random(seed);
        var photos = form.Pages.Select(p => Photographer.PhotographJpeg(p, random, CleanPhones[phone])).ToArray();

        var scan = f.Scanner.Scan(photos, new ScanExpectation(f.Tps, contest));

        string what = $"{contest} seed {seed}, {phone} photos";
        AssertEmptyBoxesBlank(form, scan, what);
        var accepted = scan.Fields.Where(d => d.Value != form.Values[d.Key] && d.AutoAccepted).Select(d => Describe(form, d)).ToArray();
        Assert.True(accepted.Length == 0, $"{what}: misread and accepted: {string.Join("; ", accepted)}");
    }

    [Fact]
    public void A_clean_scan_of_a_blank_form_has_no_ink_in_any_box()
    {
        // The rendered page itself, straight from the "scanner": crisp lines, no noise at all.
        foreach (var page in f.Blank(ContestId.Dpr))
        {
            using (page)
            {
                Cv2.ImEncode(".png", page, out byte[] png);
                var read = f.Scanner.Pages.Read(png);
                var inked = read.Fields.SelectMany(field => field.Boxes.Select((b, i) => (field.Key, i, b))).Where(x => !x.b.Blank).ToArray();
                Assert.True(inked.Length == 0, $"page {read.Tag.Page}: {string.Join(", ", inked.Select(x => $"{x.Key} box {x.i}"))} read as written");
            }
        }
    }

    [Theory]
    [InlineData(0, 0, 0.6)]
    [InlineData(3, -2, 1.2)]
    [InlineData(-4, 4, 1.8)]
    [InlineData(5, 5, 2.4)]
    public void A_blank_box_is_blank_however_its_blurred_lines_lie_and_however_clean_the_image(int dx, int dy, double blur)
    {
        // A box drawn as the renderer draws it, moved by a registration error, blurred, then read where the layout says.
        using var page = BoxOnPaper(dx, dy, blur, digit: null);

        var inside = HandwritingBox.Inspect(page, Layout);

        Assert.True(inside.LinesFound);
        Assert.False(inside.Written, $"ink fraction {inside.InkFraction:F4}");
        Assert.InRange(inside.LineContrast, 60, 255);
        // The interior keeps clear of the lines, wherever they are.
        Assert.True(inside.Interior.X > Layout.X + dx + 1 && inside.Interior.Right < Layout.Right + dx - 1, $"{inside.Interior}");
        Assert.True(inside.Interior.Y > Layout.Y + dy + 1 && inside.Interior.Bottom < Layout.Bottom + dy - 1, $"{inside.Interior}");
    }

    [Theory]
    [InlineData(0, 0, 0.6, 1, 40)]
    [InlineData(3, -2, 1.2, 7, 40)]
    [InlineData(-4, 4, 1.8, 0, 140)] // a light blue ballpoint: half the print's contrast with the paper
    [InlineData(2, 3, 2.4, 4, 140)]
    public void A_written_box_is_written_even_in_a_light_pen_and_with_the_digit_against_a_line(int dx, int dy, double blur, int digit, int pen)
    {
        using var page = BoxOnPaper(dx, dy, blur, digit, pen);

        var inside = HandwritingBox.Inspect(page, Layout);

        Assert.True(inside.LinesFound);
        Assert.True(inside.Written, $"ink fraction {inside.InkFraction:F4}");
    }

    [Fact]
    public void Inspecting_is_deterministic_and_falls_back_to_the_fixed_inset_where_there_are_no_lines()
    {
        using var a = BoxOnPaper(2, -1, 1.5, digit: 5);
        using var b = BoxOnPaper(2, -1, 1.5, digit: 5);
        Assert.Equal(HandwritingBox.Inspect(a, Layout), HandwritingBox.Inspect(b, Layout));

        using var paper = new Mat(200, 200, MatType.CV_8UC1, Scalar.All(235));
        var none = HandwritingBox.Inspect(paper, Layout);
        Assert.False(none.LinesFound);
        Assert.True(none.Written); // left to the normalizer, which finds nothing on plain paper
        int inset = HandwritingBox.FallbackInset;
        Assert.Equal(new Rect(Layout.X + inset, Layout.Y + inset, Layout.Width - 2 * inset, Layout.Height - 2 * inset), none.Interior);
        using var crop = new Mat(paper, none.Interior);
        Assert.Null(DigitNormalizer.Normalize(crop, out _));

        // A box too near the page's edge to search around is left to the normalizer as well.
        Assert.False(HandwritingBox.Inspect(paper, new Rect(2, 2, 56, 72)).LinesFound);
    }

    /// <summary>Where the tests' box is in the layout: the size of a C.Hasil handwriting box.</summary>
    private static readonly Rect Layout = new(60, 50, 56, 72);

    /// <summary>A 200×200 patch of paper with the box drawn (as FormRenderer draws it) moved by (dx, dy), and, when
    /// given, a held-out digit of the bundled set written in it in a pen of grey level <paramref name="pen"/>, its
    /// strokes reaching 3 px from the top and left lines (into their blur), all blurred and left noise-free.</summary>
    private Mat BoxOnPaper(int dx, int dy, double blur, int? digit, int pen = 40)
    {
        const double paper = 235;
        var page = new Mat(200, 200, MatType.CV_8UC1, Scalar.All(paper));
        var box = new Rect(Layout.X + dx, Layout.Y + dy, Layout.Width, Layout.Height);
        Cv2.Rectangle(page, box, Scalar.All(40), 2);
        if (digit is { } d)
        {
            using var ink = f.Ink(d, new Random(d)); // dark ink on light paper, 20×20
            using var alpha = new Mat();
            Cv2.BitwiseNot(ink, alpha);
            using var mask = new Mat();
            Cv2.Threshold(alpha, mask, 60, 255, ThresholdTypes.Binary);
            using var strokes = new Mat(alpha, Cv2.BoundingRect(mask));
            using var big = new Mat();
            Cv2.Resize(strokes, big, new Size(36, 52), 0, 0, InterpolationFlags.Cubic);
            using var grey = new Mat();
            big.ConvertTo(grey, MatType.CV_8UC1, -(paper - pen) / 255.0, paper);
            using var roi = new Mat(page, new Rect(box.X + 3, box.Y + 3, 36, 52));
            Cv2.Min(roi, grey, roi);
        }
        Cv2.GaussianBlur(page, page, new Size(0, 0), blur);
        Cv2.ImEncode(".jpg", page, out byte[] jpeg, new ImageEncodingParam(ImwriteFlags.JpegQuality, 90));
        page.Dispose();
        return Cv2.ImDecode(jpeg, ImreadModes.Grayscale);
    }

    private FilledForm Fill(ContestId contest, int seed) => f.Fill(contest, TallyFields.ToValues(f.Tally(contest, seed)), seed);

    private static string Describe(FilledForm form, FieldDecision d) => $"{d.Key} {form.Values[d.Key]}→{d.Value} ({d.Confidence:F2})";

    /// <summary>Every box the pen left empty (a leading box, unless leading zeros were written) was read blank.</summary>
    private static void AssertEmptyBoxesBlank(FilledForm form, FormScan scan, string what)
    {
        var inked = scan.Pages.SelectMany(p => p.Fields).SelectMany(field =>
        {
            var written = FormFiller.WrittenDigits(form.Values[field.Key], form.LeadingZeros).Select(w => w.DigitIndex).ToHashSet();
            return field.Boxes.Select((box, i) => (field.Key, i, box)).Where(x => !written.Contains(x.i) && !x.box.Blank);
        }).Select(x => $"{x.Key} box {x.i} read {x.box.Handwriting!.Digit} ({x.box.Handwriting.Confidence:F2})").ToArray();
        Assert.True(inked.Length == 0, $"{what}: empty boxes read as written: {string.Join("; ", inked)}");
    }
}
