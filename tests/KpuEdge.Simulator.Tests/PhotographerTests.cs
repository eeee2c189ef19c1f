using KpuEdge.Core.Elections;
using KpuEdge.Simulator.Forms;
using KpuEdge.Vision.Forms;
using OpenCvSharp;
using Xunit.Abstractions;

namespace KpuEdge.Simulator.Tests;

public class PhotographerTests(ITestOutputHelper output)
{
    private static readonly Lazy<FilledForm> Filled = new(() =>
        new FormFiller(FormSamples.ScriptInk, new FillOptions { BubbleShare = 1 })
            .Fill(FormSamples.PpwpLayout, FormSamples.PpwpBlanks, FormSamples.Values(ContestId.Ppwp, 7), new Random(7)));

    private static Mat Page => Filled.Value.Pages[0];
    private static PageLayout PageLayout => FormSamples.PpwpLayout.Pages[0];
    private static Size PageSize => new(FormSamples.PpwpLayout.Width, FormSamples.PpwpLayout.Height);

    private static int[] MarkerIds => PageLayout.Markers.OrderBy(m => m.Corner).Select(m => m.Id).ToArray();

    [Fact]
    public void The_same_seed_gives_the_same_jpeg_bytes()
    {
        Assert.Equal(Photographer.PhotographJpeg(Page, new Random(1)), Photographer.PhotographJpeg(Page, new Random(1)));
        Assert.NotEqual(Photographer.PhotographJpeg(Page, new Random(1)), Photographer.PhotographJpeg(Page, new Random(2)));
        Assert.Equal(Photographer.UpsideDown(Page, new Random(3)), Photographer.UpsideDown(Page, new Random(3)));
        Assert.Equal(Photographer.CutOff(Page, new Random(4)), Photographer.CutOff(Page, new Random(4)));
    }

    [Fact]
    public void A_photo_is_a_bgr_jpeg_of_the_requested_size_with_all_four_markers_and_a_readable_qr()
    {
        var expected = new PageTag(FormSamples.Election.ElectionId, ContestId.Ppwp, FormSamples.Tps, 1, 1);
        int rawQr = 0, rectifiedQr = 0;
        using var qr = new QRCodeDetector();
        for (int seed = 100; seed < 110; seed++)
        {
            var jpeg = Photographer.PhotographJpeg(Page, new Random(seed));
            Assert.True(jpeg is [0xFF, 0xD8, ..], "not a JPEG");
            using var photo = Cv2.ImDecode(jpeg, ImreadModes.Unchanged);
            Assert.Equal(MatType.CV_8UC3, photo.Type());
            Assert.Equal(new Size(1500, 2000), photo.Size());
            Assert.False(IsGray(photo), "the photo should carry a colour cast");

            var markers = FormSamples.Markers(photo);
            Assert.All(MarkerIds, id => Assert.True(markers.ContainsKey(id), $"seed {seed}: marker {id} not found (found {string.Join(",", markers.Keys)})"));

            if (PageTag.TryDecode(qr.DetectAndDecode(photo, out _)) == expected) rawQr++;
            // As the reader does: register the page by its markers, then decode the QR where the layout puts it.
            using var rectified = FormSamples.Rectify(photo, PageLayout, PageSize);
            var box = PageLayout.Qr;
            using var qrArea = new Mat(rectified, new Rect(box.X - 30, box.Y - 30, box.Width + 60, box.Height + 60));
            if (PageTag.TryDecode(qr.DetectAndDecode(qrArea, out _)) == expected) rectifiedQr++;
        }
        output.WriteLine($"QR decoded in the whole photo: {rawQr}/10; in its box on the page rectified by the markers: {rectifiedQr}/10");
        Assert.True(rectifiedQr >= 9, $"QR decoded on {rectifiedQr}/10 rectified photos");
    }

    [Fact]
    public void Extreme_rotation_and_perspective_keep_the_whole_page_in_frame()
    {
        var options = new PhotoOptions { UniformRotation = true, OutputWidth = 1600 };
        for (int seed = 200; seed < 210; seed++)
        {
            using var photo = Cv2.ImDecode(Photographer.PhotographJpeg(Page, new Random(seed), options), ImreadModes.Color);
            Assert.Equal(new Size(1200, 1600), photo.Size());
            var markers = FormSamples.Markers(photo);
            Assert.All(MarkerIds, id => Assert.True(markers.ContainsKey(id), $"seed {seed}: marker {id} not found"));
        }
    }

    [Fact]
    public void An_upside_down_photo_has_the_markers_in_reversed_positions()
    {
        for (int seed = 300; seed < 305; seed++)
        {
            using var photo = Cv2.ImDecode(Photographer.UpsideDown(Page, new Random(seed)), ImreadModes.Color);
            var markers = FormSamples.Markers(photo);
            Assert.All(MarkerIds, id => Assert.True(markers.ContainsKey(id), $"seed {seed}: marker {id} not found"));
            Point2f topLeft = markers[MarkerIds[0]], topRight = markers[MarkerIds[1]], bottomRight = markers[MarkerIds[2]], bottomLeft = markers[MarkerIds[3]];
            // The page's top-left corner is now at the bottom right of the photo, and so on.
            Assert.True(topLeft.X > bottomRight.X && topLeft.Y > bottomRight.Y, $"seed {seed}");
            Assert.True(topRight.X < bottomLeft.X && topRight.Y > bottomLeft.Y, $"seed {seed}");
        }
    }

    [Fact]
    public void A_cut_off_photo_shows_fewer_than_four_markers()
    {
        int somePageVisible = 0;
        for (int seed = 400; seed < 410; seed++)
        {
            using var photo = Cv2.ImDecode(Photographer.CutOff(Page, new Random(seed)), ImreadModes.Color);
            Assert.Equal(new Size(1500, 2000), photo.Size());
            int seen = FormSamples.Markers(photo).Keys.Count(MarkerIds.Contains);
            Assert.True(seen < 4, $"seed {seed}: all four markers in frame");
            if (seen > 0) somePageVisible++;
        }
        Assert.True(somePageVisible >= 5, "a cut-off photo still shows most of the page");
    }

    [Fact]
    public void Options_are_honoured()
    {
        var jpegSmall = Photographer.PhotographJpeg(Page, new Random(5), new PhotoOptions { JpegQualityMin = 40, JpegQualityMax = 40 });
        var jpegLarge = Photographer.PhotographJpeg(Page, new Random(5), new PhotoOptions { JpegQualityMin = 95, JpegQualityMax = 95 });
        Assert.True(jpegSmall.Length < jpegLarge.Length);
        using var photo = Photographer.Photograph(Page, new Random(5), new PhotoOptions { OutputWidth = 1000, AspectRatio = 0.5 });
        Assert.Equal(new Size(500, 1000), photo.Size());
        Assert.Throws<ArgumentOutOfRangeException>(() => Photographer.PhotographJpeg(Page, new Random(5), new PhotoOptions { JpegQualityMin = 90, JpegQualityMax = 80 }));
    }

    /// <summary>Writes sample filled pages and photos when KPU_SIM_SAMPLES names a folder (for looking at them).</summary>
    [Fact]
    public void Samples_are_written_on_request()
    {
        string? folder = Environment.GetEnvironmentVariable("KPU_SIM_SAMPLES");
        if (string.IsNullOrEmpty(folder)) return;
        Directory.CreateDirectory(folder);
        Cv2.ImWrite(Path.Combine(folder, "filled-ppwp.png"), Page);
        for (int seed = 1; seed <= 4; seed++)
            File.WriteAllBytes(Path.Combine(folder, $"photo-{seed}.jpg"), Photographer.PhotographJpeg(Page, new Random(seed)));
        File.WriteAllBytes(Path.Combine(folder, "upside-down.jpg"), Photographer.UpsideDown(Page, new Random(5)));
        File.WriteAllBytes(Path.Combine(folder, "cut-off.jpg"), Photographer.CutOff(Page, new Random(6)));
    }

    private static bool IsGray(Mat bgr)
    {
        var channels = Cv2.Split(bgr);
        try
        {
            using var diff = new Mat();
            Cv2.Absdiff(channels[0], channels[2], diff);
            return Cv2.Mean(diff).Val0 < 1;
        }
        finally
        {
            foreach (var c in channels) c.Dispose();
        }
    }
}
