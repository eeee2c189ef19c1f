using KpuEdge.Vision.Digits;
using OpenCvSharp;

namespace KpuEdge.Vision.Tests;

public sealed class DigitSetTests
{
    [Fact]
    public void Bundled_set_has_5000_digits_500_per_class_split_350_150()
    {
        var set = DigitSet.LoadBundled();
        Assert.Equal(3500, set.Training.Count);
        Assert.Equal(1500, set.HeldOut.Count);
        Assert.Equal(1500, set.HeldOutInk.Count);
        for (int d = 0; d < 10; d++)
        {
            Assert.Equal(350, set.Training.Count(s => s.Label == d));
            Assert.Equal(150, set.HeldOut.Count(s => s.Label == d));
        }
        foreach (var s in set.Training.Concat(set.HeldOut))
        {
            Assert.Equal(DigitNormalizer.Size, s.Image.Rows);
            Assert.Equal(DigitNormalizer.Size, s.Image.Cols);
            Assert.Equal(MatType.CV_8UC1, s.Image.Type());
        }
    }

    [Fact]
    public void Split_is_disjoint_covers_the_sheet_and_is_deterministic()
    {
        var a = DigitSet.LoadBundled();
        var b = DigitSet.LoadBundled();
        Assert.Empty(a.TrainingCells.Intersect(a.HeldOutCells));
        Assert.Equal(Enumerable.Range(0, 5000), a.TrainingCells.Concat(a.HeldOutCells).Order());
        // cells 0..499 are zeros, 500..999 ones, ...
        Assert.All(a.TrainingCells.Zip(a.Training), p => Assert.Equal(p.First / 500, p.Second.Label));
        Assert.All(a.HeldOutCells.Zip(a.HeldOut), p => Assert.Equal(p.First / 500, p.Second.Label));
        Assert.Equal(a.TrainingCells, b.TrainingCells);
        Assert.Equal(a.HeldOutCells, b.HeldOutCells);
        for (int i = 0; i < a.HeldOut.Count; i++) Assert.Equal(Bytes(a.HeldOut[i].Image), Bytes(b.HeldOut[i].Image));
        // and the split is not a block of rows: every class has held-out digits in each of its five sheet rows
        for (int d = 0; d < 10; d++)
            for (int row = 0; row < 5; row++)
                Assert.Contains(a.HeldOutCells, c => c / 100 == d * 5 + row);
    }

    [Fact]
    public void Held_out_ink_is_dark_on_light_and_matches_the_held_out_labels()
    {
        var set = DigitSet.LoadBundled();
        for (int i = 0; i < set.HeldOut.Count; i++)
        {
            var (ink, label) = set.HeldOutInk[i];
            Assert.Equal(set.HeldOut[i].Label, label);
            Assert.Equal((20, 20), (ink.Rows, ink.Cols));
            Assert.Equal(MatType.CV_8UC1, ink.Type());
            Assert.Equal(255, ink.At<byte>(0, 0)); // paper in the corner
            Cv2.MinMaxLoc(ink, out double min, out _);
            Assert.True(min < 80, "some dark ink");
        }
    }

    [Fact]
    public void Load_folder_reads_subfolders_of_pngs_of_any_size()
    {
        var dir = Directory.CreateTempSubdirectory("kpu-digits-folder-").FullName;
        try
        {
            var set = DigitSet.LoadBundled();
            var rng = new Random(5);
            var written = new List<int>();
            for (int d = 0; d < 10; d++)
            {
                Directory.CreateDirectory(Path.Combine(dir, d.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                var samples = set.HeldOutInk.Where(s => s.Label == d).Take(3).ToList();
                for (int k = 0; k < samples.Count; k++)
                {
                    int size = 28 + rng.Next(60);
                    using var big = new Mat();
                    Cv2.Resize(samples[k].InkOnPaper, big, new Size(size, size), 0, 0, InterpolationFlags.Cubic);
                    if (d == 7 && k == 0) Cv2.BitwiseNot(big, big); // one light-on-dark image, like an MNIST export
                    Cv2.ImWrite(Path.Combine(dir, $"{d}", $"s{k}.png"), big);
                    written.Add(d);
                }
            }
            File.WriteAllText(Path.Combine(dir, "3", "notes.txt"), "not an image");

            var folder = DigitSet.LoadFolder(dir);
            Assert.Empty(folder.Training);
            Assert.Equal(30, folder.HeldOut.Count);
            Assert.Equal(30, folder.HeldOutInk.Count);
            Assert.Equal(written, folder.HeldOut.Select(s => s.Label));
            Assert.Equal(written, folder.HeldOutInk.Select(s => s.Label));
            foreach (var s in folder.HeldOut)
            {
                Assert.Equal((20, 20), (s.Image.Rows, s.Image.Cols));
                Cv2.MinMaxLoc(s.Image, out _, out double max);
                Assert.Equal(255, max); // ink was found in every image, the inverted one included
            }
            // HeldOutInk is dark on light even for the inverted file
            var seven = folder.HeldOutInk.First(s => s.Label == 7).InkOnPaper;
            Assert.True(seven.At<byte>(0, 0) > 200);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Load_folder_refuses_a_missing_or_empty_folder_and_an_unreadable_image()
    {
        Assert.Throws<DirectoryNotFoundException>(() => DigitSet.LoadFolder(Path.Combine(Path.GetTempPath(), "kpu-no-such-folder-" + Guid.NewGuid())));
        var dir = Directory.CreateTempSubdirectory("kpu-digits-empty-").FullName;
        try
        {
            Assert.Throws<InvalidDataException>(() => DigitSet.LoadFolder(dir));
            Directory.CreateDirectory(Path.Combine(dir, "4"));
            File.WriteAllText(Path.Combine(dir, "4", "broken.png"), "not a png");
            Assert.Throws<InvalidDataException>(() => DigitSet.LoadFolder(dir));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static byte[] Bytes(Mat m)
    {
        m.GetArray(out byte[] b);
        return b;
    }
}
