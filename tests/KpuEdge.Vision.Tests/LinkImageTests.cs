using System.Diagnostics;
using KpuEdge.Core.Elections;
using KpuEdge.Vision.Forms;
using KpuEdge.Vision.Reading;
using OpenCvSharp;
using Xunit.Abstractions;

namespace KpuEdge.Vision.Tests;

/// <summary>Link images made from seeded, filled and photographed forms, read back by the device's own reader.</summary>
[Collection(ReaderCollection.Name)]
public sealed class LinkImageTests(ReaderFixture f, ITestOutputHelper output)
{
    /// <summary>
    /// The first seeds (in order) whose photos the reader reads right in every field: a link image can only be judged
    /// against a photo that is itself read right (with the CNN, PPWP 2 and 4 each have a misread field). One PPWP page each, five DPR pages: seven photos. The seeds whose link
    /// images once read a blank leading box as a digit (PPWP 3, DPR 7, 13 and 16, before the reader looked for the
    /// boxes' own lines) are read in <see cref="CleanImageReadingTests"/>; the survey below covers all of them.
    /// </summary>
    private static readonly (ContestId Contest, int Seed)[] Forms = [(ContestId.Ppwp, 1), (ContestId.Ppwp, 5), (ContestId.Dpr, 1)];

    private static readonly LinkImageOptions Defaults = new();

    [Fact]
    public void Every_link_image_fits_the_cap_decodes_as_grey_and_is_at_most_1600_px_long()
    {
        var photos = Forms.SelectMany(form => Photograph(form.Contest, form.Seed).Photos).ToArray();
        LinkImage.Compress(photos[0]); // load OpenCV before timing
        long originalBytes = 0, linkBytes = 0;
        var watch = new Stopwatch();
        foreach (var photo in photos)
        {
            watch.Start();
            var link = LinkImage.Compress(photo);
            watch.Stop();

            Assert.True(link.Jpeg.Length <= 150_000, $"{link.Jpeg.Length} bytes");
            Assert.InRange(link.Quality, Defaults.QualityMin, Defaults.QualityMax);
            Assert.Equal(photo.Length, link.OriginalBytes);
            using var decoded = Cv2.ImDecode(link.Jpeg, ImreadModes.Unchanged);
            Assert.False(decoded.Empty());
            Assert.Equal(MatType.CV_8UC1, decoded.Type());
            Assert.Equal(new Size(link.Width, link.Height), decoded.Size());
            Assert.True(Math.Max(link.Width, link.Height) <= 1600, $"{link.Width}×{link.Height}");
            originalBytes += photo.Length;
            linkBytes += link.Jpeg.Length;
            output.WriteLine($"{photo.Length / 1000.0,6:F1} KB → {link.Jpeg.Length / 1000.0,5:F1} KB, {link.Width}×{link.Height}, quality {link.Quality}");
        }
        output.WriteLine($"{photos.Length} pages: photo {originalBytes / 1000.0 / photos.Length:F1} KB, link image " +
            $"{linkBytes / 1000.0 / photos.Length:F1} KB per page on average, {watch.Elapsed.TotalMilliseconds / photos.Length:F0} ms per page");
    }

    [Fact]
    public void The_reader_reads_every_field_of_the_link_images_as_it_reads_the_photos()
    {
        foreach (var (contest, seed) in Forms)
        {
            var (values, photos) = Photograph(contest, seed);
            var expected = new ScanExpectation(f.Tps, contest);
            var fromPhotos = f.Scanner.Scan(photos, expected);
            var misread = fromPhotos.Fields.Where(d => d.Value != values[d.Key]).Select(d => d.Key).ToArray();
            Assert.True(misread.Length == 0, $"{contest} seed {seed}: the photo itself is misread ({string.Join(", ", misread)}); choose another seed");

            var fromLinks = f.Scanner.Scan(photos.Select(p => LinkImage.Compress(p).Jpeg).ToArray(), expected);

            Assert.Equal(fromPhotos.Fields.Select(d => d.Key), fromLinks.Fields.Select(d => d.Key));
            foreach (var (photo, link) in fromPhotos.Fields.Zip(fromLinks.Fields))
                Assert.True(photo.Value == link.Value, $"{contest} seed {seed}, {link.Key} (page {link.Page}): {link.Value} in the link image, {photo.Value} in the photo");
        }
    }

    [Fact]
    public void The_same_photo_gives_the_same_bytes_through_either_overload()
    {
        var photos = Photograph(ContestId.Dpr, 1).Photos;
        var first = photos.Select(p => LinkImage.Compress(p)).ToArray();
        var again = photos.Select(p => LinkImage.Compress(p)).ToArray();
        for (int i = 0; i < photos.Length; i++)
        {
            Assert.Equal(first[i].Jpeg, again[i].Jpeg);
            using var decoded = Cv2.ImDecode(photos[i], ImreadModes.Color);
            var fromMat = LinkImage.Compress(decoded);
            Assert.Equal(first[i].Jpeg, fromMat.Jpeg);
            Assert.Equal((first[i].Width, first[i].Height, first[i].Quality), (fromMat.Width, fromMat.Height, fromMat.Quality));
        }
        // What the device signs.
        Assert.Equal(FormDecider.ImageHash(first.Select(l => l.Jpeg).ToArray()), FormDecider.ImageHash(again.Select(l => l.Jpeg).ToArray()));
    }

    [Fact]
    public void Refuses_empty_random_and_truncated_input_with_a_clear_message()
    {
        var photo = Photograph(ContestId.Ppwp, 1).Photos[0];
        var noise = new byte[50_000];
        new Random(7).NextBytes(noise);

        AssertUnreadable([]);
        AssertUnreadable(noise);
        Assert.Contains("terpotong", AssertUnreadable(photo[..(photo.Length / 2)]));
        Assert.Contains("terpotong", AssertUnreadable(photo[..^2])); // only the end-of-image marker missing
        Assert.Throws<ArgumentNullException>(() => LinkImage.Compress((byte[])null!));
        using var empty = new Mat();
        Assert.Throws<ArgumentException>(() => LinkImage.Compress(empty));
        Assert.Throws<ArgumentOutOfRangeException>(() => LinkImage.Compress(photo, new LinkImageOptions { MinLongSide = 1700 }));
    }

    [Fact]
    public void A_cap_that_cannot_be_met_gives_the_smallest_attempt_and_its_true_size()
    {
        var photo = Photograph(ContestId.Ppwp, 2).Photos[0];

        var link = LinkImage.Compress(photo, new LinkImageOptions { MaxBytes = 5_000 });

        Assert.Equal(Defaults.MinLongSide, Math.Max(link.Width, link.Height));
        Assert.Equal(Defaults.QualityMin, link.Quality);
        Assert.True(link.Jpeg.Length > 5_000, $"{link.Jpeg.Length} bytes");
        using var decoded = Cv2.ImDecode(link.Jpeg, ImreadModes.Unchanged);
        Assert.Equal(new Size(link.Width, link.Height), decoded.Size());
        // Exactly the one encoding allowed at the floor: MinLongSide px at QualityMin.
        var floor = LinkImage.Compress(photo, new LinkImageOptions
        {
            MaxLongSide = Defaults.MinLongSide, QualityMax = Defaults.QualityMin, MaxBytes = int.MaxValue,
        });
        Assert.Equal(floor.Jpeg, link.Jpeg);
    }

    [Fact]
    public void A_small_photo_is_never_upscaled()
    {
        using var photo = Cv2.ImDecode(Photograph(ContestId.Ppwp, 1).Photos[0], ImreadModes.Color);
        using var small = new Mat();
        Cv2.Resize(photo, small, new Size(600, 800), 0, 0, InterpolationFlags.Area);

        var link = LinkImage.Compress(small);

        Assert.Equal((600, 800), (link.Width, link.Height));
        Assert.Equal(Defaults.QualityMax, link.Quality);
    }

    /// <summary>
    /// How often the reader reads a link image differently from its photo, over many seeds: every field alike on the 13
    /// forms (1,249 fields) whose photos are read right. Skipped by default (about a minute on two busy cores): remove
    /// the Skip locally after changing LinkImage or the reader and run with
    /// <c>--filter LinkImage --logger "console;verbosity=detailed"</c>.
    /// </summary>
    [Fact(Skip = "manual: survey of reader agreement between photos and link images (about a minute)")]
    public void Survey_reader_agreement_over_many_seeds()
    {
        int forms = 0, agreeing = 0, fields = 0, differing = 0;
        foreach (var (contest, seeds) in new[] { (ContestId.Ppwp, 12), (ContestId.Dpr, 20) })
        for (int seed = 1; seed <= seeds; seed++)
        {
            var (values, photos) = Photograph(contest, seed);
            var fromPhotos = f.Scanner.Scan(photos);
            if (fromPhotos.Fields.Any(d => d.Value != values[d.Key])) continue; // only photos that are themselves read right
            var links = photos.Select(p => LinkImage.Compress(p)).ToArray();
            var fromLinks = f.Scanner.Scan(links.Select(l => l.Jpeg).ToArray());
            var diffs = fromPhotos.Fields.Zip(fromLinks.Fields).Where(p => p.First.Value != p.Second.Value).ToArray();
            forms++;
            fields += fromPhotos.Fields.Count;
            differing += diffs.Length;
            if (diffs.Length == 0) agreeing++;
            output.WriteLine($"{contest} seed {seed}: quality {string.Join(",", links.Select(l => l.Quality))}; " +
                string.Join("; ", diffs.Select(p => $"{p.First.Key} {p.First.Value}→{p.Second.Value} ({p.Second.Confidence:F2})")));
        }
        output.WriteLine($"{agreeing} of {forms} forms read alike; {differing} of {fields} fields differ");
        Assert.True(differing == 0, $"{differing} of {fields} fields read differently in the link image");
    }

    /// <summary>The refusal's message, after checking it is a ScanException with the unreadable-image code.</summary>
    private static string AssertUnreadable(byte[] input)
    {
        var e = Assert.Throws<ScanException>(() => LinkImage.Compress(input));
        Assert.Equal(ScanErrors.Unreadable, e.Code);
        Assert.False(string.IsNullOrWhiteSpace(e.Message));
        return e.Message;
    }

    private (IReadOnlyDictionary<string, int> Values, byte[][] Photos) Photograph(ContestId contest, int seed)
    {
        using var form = f.Fill(contest, TallyFields.ToValues(f.Tally(contest, seed)), seed);
        return (form.Values, f.Photograph(form, seed));
    }
}
