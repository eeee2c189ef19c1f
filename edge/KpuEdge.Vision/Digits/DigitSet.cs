using System.Reflection;
using OpenCvSharp;

namespace KpuEdge.Vision.Digits;

/// <summary>A labelled digit, normalized: 20×20 CV_8UC1, white ink on black.</summary>
public sealed record DigitSample(Mat Image, int Label);

/// <summary>
/// Handwritten digits for training and for measuring. <see cref="LoadBundled"/>: OpenCV's 5,000 sample digits
/// (500 per class, see Data/README.md), split per class into a fixed 70% for training and 30% held out; the split is
/// a SplitMix64 ordering of each digit's index, so it is the same on every machine and run. The held-out part is never
/// used for training or tuning. <see cref="LoadFolder"/>: any other set, all of it held out.
/// </summary>
public sealed class DigitSet
{
    /// <summary>Digits per class in the bundled set, and how many of them are for training.</summary>
    public const int BundledPerClass = 500, BundledTrainingPerClass = 350;
    internal const string ResourceName = "KpuEdge.Vision.Data.digits.png";
    private const int Cell = 20, PerRow = 100, RowsPerClass = 5;

    /// <summary>Normalized training digits (bundled: 350 per class; folder: empty).</summary>
    public IReadOnlyList<DigitSample> Training { get; }
    /// <summary>Normalized held-out digits (bundled: 150 per class; folder: every image).</summary>
    public IReadOnlyList<DigitSample> HeldOut { get; }
    /// <summary>The held-out digits as dark ink on light paper (CV_8UC1, original resolution), in the order of
    /// <see cref="HeldOut"/>: for drawing synthetic filled forms.</summary>
    public IReadOnlyList<(Mat InkOnPaper, int Label)> HeldOutInk { get; }
    /// <summary>The training digits as given (bundled: 20×20 white on black), in the order of <see cref="Training"/>:
    /// the input of augmentation.</summary>
    internal IReadOnlyList<(Mat Raw, int Label)> TrainingRaw { get; }
    /// <summary>Index of each bundled digit in digits.png (row-major cell index), in the order of Training / HeldOut.</summary>
    internal IReadOnlyList<int> TrainingCells { get; }
    internal IReadOnlyList<int> HeldOutCells { get; }

    private DigitSet(List<DigitSample> training, List<DigitSample> heldOut, List<(Mat, int)> heldOutInk,
        List<(Mat, int)> trainingRaw, List<int> trainingCells, List<int> heldOutCells)
    {
        Training = training; HeldOut = heldOut; HeldOutInk = heldOutInk; TrainingRaw = trainingRaw;
        TrainingCells = trainingCells; HeldOutCells = heldOutCells;
    }

    /// <summary>The bytes of the embedded digits.png.</summary>
    internal static byte[] BundledPng()
    {
        using var s = Assembly.GetExecutingAssembly().GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"embedded resource {ResourceName} is missing");
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }

    /// <summary>The bundled set (OpenCV's digits.png, embedded in this assembly).</summary>
    public static DigitSet LoadBundled()
    {
        using var img = Cv2.ImDecode(BundledPng(), ImreadModes.Grayscale);
        return FromSheet(img);
    }

    /// <summary>Whether the bundled digit in cell <paramref name="cell"/> (row-major index in digits.png) is a
    /// training digit: the first 350 of its class in SplitMix64 order of the cell index.</summary>
    internal static bool IsTrainingCell(int cell) => TrainingCellSet.Value.Contains(cell);

    private static readonly Lazy<HashSet<int>> TrainingCellSet = new(() =>
    {
        var set = new HashSet<int>();
        for (int d = 0; d < 10; d++)
        {
            var cells = Enumerable.Range(d * BundledPerClass, BundledPerClass).OrderBy(c => SplitMix64((ulong)c)).ThenBy(c => c);
            foreach (var c in cells.Take(BundledTrainingPerClass)) set.Add(c);
        }
        return set;
    });

    internal static ulong SplitMix64(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    /// <summary>Cuts a digits.png-shaped sheet (2000×1000, 20×20 cells, 5 rows per class) into the split set.</summary>
    internal static DigitSet FromSheet(Mat sheet)
    {
        if (sheet.Cols != Cell * PerRow || sheet.Rows != Cell * RowsPerClass * 10 || sheet.Type() != MatType.CV_8UC1)
            throw new InvalidDataException($"digits sheet must be a {Cell * PerRow}×{Cell * RowsPerClass * 10} grayscale image, got {sheet.Cols}×{sheet.Rows} {sheet.Type()}");
        int total = 10 * BundledPerClass;
        var raw = new Mat[total];
        var norm = new Mat[total];
        Parallel.For(0, total, cell =>
        {
            int row = cell / PerRow, col = cell % PerRow;
            using var view = new Mat(sheet, new Rect(col * Cell, row * Cell, Cell, Cell));
            raw[cell] = view.Clone();
            norm[cell] = DigitNormalizer.NormalizeInk(raw[cell]) ?? new Mat(Cell, Cell, MatType.CV_8UC1, Scalar.All(0));
        });
        var training = new List<DigitSample>(); var trainingRaw = new List<(Mat, int)>(); var trainingCells = new List<int>();
        var heldOut = new List<DigitSample>(); var heldOutInk = new List<(Mat, int)>(); var heldOutCells = new List<int>();
        for (int cell = 0; cell < total; cell++)
        {
            int label = cell / BundledPerClass;
            if (IsTrainingCell(cell))
            {
                training.Add(new DigitSample(norm[cell], label));
                trainingRaw.Add((raw[cell], label));
                trainingCells.Add(cell);
            }
            else
            {
                heldOut.Add(new DigitSample(norm[cell], label));
                var ink = new Mat();
                Cv2.BitwiseNot(raw[cell], ink);
                raw[cell].Dispose();
                heldOutInk.Add((ink, label));
                heldOutCells.Add(cell);
            }
        }
        return new DigitSet(training, heldOut, heldOutInk, trainingRaw, trainingCells, heldOutCells);
    }

    private static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".tif", ".tiff", ".webp"];

    /// <summary>
    /// A folder with subfolders <c>0</c>–<c>9</c> of grayscale images of single digits (dark ink on light paper, any
    /// size; PNG, also JPEG/BMP/PGM/TIFF/WebP), all held out. Files are taken in ordinal name order. An image whose
    /// border is darker than its middle's brightest part is taken as light ink on dark (e.g. MNIST exports) and
    /// inverted. An image in which <see cref="DigitNormalizer.Normalize"/> finds no ink still counts, as an all-black
    /// digit, so that it is measured as the miss it is.
    /// </summary>
    public static DigitSet LoadFolder(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"digit folder not found: {directory}");
        var files = new List<(string Path, int Label)>();
        for (int d = 0; d < 10; d++)
        {
            var sub = Path.Combine(directory, d.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (!Directory.Exists(sub)) continue;
            files.AddRange(Directory.EnumerateFiles(sub)
                .Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                .OrderBy(f => Path.GetFileName(f), StringComparer.Ordinal)
                .Select(f => (f, d)));
        }
        if (files.Count == 0) throw new InvalidDataException($"no digit images in subfolders 0-9 of {directory}");
        var ink = new (Mat, int)[files.Count];
        for (int i = 0; i < files.Count; i++)
        {
            var (path, label) = files[i];
            var img = Cv2.ImRead(path, ImreadModes.Grayscale);
            if (img.Empty())
            {
                img.Dispose();
                throw new InvalidDataException($"not a readable image: {path}");
            }
            if (LooksInverted(img)) Cv2.BitwiseNot(img, img);
            ink[i] = (img, label);
        }
        var heldOut = new DigitSample[files.Count];
        Parallel.For(0, files.Count, i =>
        {
            var norm = DigitNormalizer.Normalize(ink[i].Item1, out _) ?? new Mat(DigitNormalizer.Size, DigitNormalizer.Size, MatType.CV_8UC1, Scalar.All(0));
            heldOut[i] = new DigitSample(norm, ink[i].Item2);
        });
        return new DigitSet([], [.. heldOut], [.. ink], [], [], []);
    }

    /// <summary>Light ink on a dark ground: the border (where paper is) is darker than the image's mean.</summary>
    private static bool LooksInverted(Mat img)
    {
        int w = img.Cols, h = img.Rows;
        if (w < 3 || h < 3) return false;
        double border = 0; int n = 0;
        for (int x = 0; x < w; x++) { border += img.At<byte>(0, x) + img.At<byte>(h - 1, x); n += 2; }
        for (int y = 1; y < h - 1; y++) { border += img.At<byte>(y, 0) + img.At<byte>(y, w - 1); n += 2; }
        border /= n;
        double mean = Cv2.Mean(img).Val0;
        return border < mean;
    }
}
