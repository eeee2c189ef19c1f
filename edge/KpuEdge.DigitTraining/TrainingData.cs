using KpuEdge.Vision.Digits;
using OpenCvSharp;

namespace KpuEdge.DigitTraining;

/// <summary>
/// The training inputs, made exactly as the reader makes its own: every training digit of the bundled set
/// (<see cref="DigitSet.TrainingRaw"/>, 350 per class; never the held-out part) through
/// <see cref="DigitNormalizer.NormalizeInk"/>, and <c>augment</c> distortions of each through
/// <see cref="DigitAugment.Distort"/> (rotation, slant, scale, elastic warp, pen, stroke, blur, and a quarter through
/// the photographed path and <see cref="DigitNormalizer.Normalize"/>). Deterministic: distortion k of digit i uses
/// its own seeded <see cref="Random"/>, whatever the thread.
/// </summary>
internal sealed class TrainingData
{
    public const int Pixels = DigitNormalizer.Size * DigitNormalizer.Size;

    /// <summary>Row-major 20×20 images in [0,1], ink = 1.</summary>
    public required float[] X { get; init; }
    public required int[] Label { get; init; }
    /// <summary>The training digit (index into TrainingRaw) a sample was made from; −1 for one read off a form.</summary>
    public required int[] Digit { get; init; }
    /// <summary>How a sample was made.</summary>
    public required SampleKind[] Kind { get; init; }
    /// <summary>Cross-validation fold of each sample: that of the training digit it was made from.</summary>
    public required int[] Fold { get; init; }
    /// <summary>Cross-validation fold of each training digit: its rank within its class, modulo 5.</summary>
    public required int[] FoldOfDigit { get; init; }
    public int Count => Label.Length;

    public static TrainingData Build(IReadOnlyList<(Mat Raw, int Label)> raw, int augment, int seed, IReadOnlyList<FormPhotoSamples.Sample>? photographed = null)
    {
        photographed ??= [];
        int per = 1 + augment;
        var images = new float[]?[raw.Count * per];
        Parallel.For(0, raw.Count, i =>
        {
            var (digit, _) = raw[i];
            images[i * per] = ToFloats(DigitNormalizer.NormalizeInk(digit));
            for (int a = 1; a < per; a++)
            {
                var rng = new Random(unchecked(seed + 7919 * i + 104729 * a));
                images[i * per + a] = ToFloats(DigitAugment.Distort(digit, rng));
            }
        });
        var fold = FoldsOf(raw);
        var keep = Enumerable.Range(0, images.Length).Where(k => images[k] is not null).ToArray();
        int n = keep.Length + photographed.Count;
        var x = new float[n * Pixels];
        var label = new int[n];
        var source = new int[n];
        var kind = new SampleKind[n];
        var sampleFold = new int[n];
        for (int j = 0; j < keep.Length; j++)
        {
            images[keep[j]]!.CopyTo(x, j * Pixels);
            source[j] = keep[j] / per;
            label[j] = raw[source[j]].Label;
            kind[j] = keep[j] % per != 0 ? SampleKind.Distorted : SampleKind.AsGiven;
            sampleFold[j] = fold[source[j]];
        }
        for (int k = 0; k < photographed.Count; k++)
        {
            int j = keep.Length + k;
            var p = photographed[k];
            for (int i = 0; i < Pixels; i++) x[j * Pixels + i] = p.Pixels[i] / 255f;
            source[j] = -1;
            label[j] = p.Label;
            kind[j] = SampleKind.OnForm;
            sampleFold[j] = p.Fold;
        }
        return new TrainingData { X = x, Label = label, Digit = source, Kind = kind, Fold = sampleFold, FoldOfDigit = fold };
    }

    /// <summary>Cross-validation fold of each training digit: its rank within its class, modulo 5.</summary>
    public static int[] FoldsOf(IReadOnlyList<(Mat Raw, int Label)> raw)
    {
        var fold = new int[raw.Count];
        var seen = new int[10];
        for (int i = 0; i < raw.Count; i++) fold[i] = seen[raw[i].Label]++ % 5;
        return fold;
    }

    private static float[]? ToFloats(Mat? normalized)
    {
        if (normalized is null) return null;
        using (normalized)
        {
            normalized.GetArray(out byte[] b);
            var f = new float[b.Length];
            for (int i = 0; i < f.Length; i++) f[i] = b[i] / 255f;
            return f;
        }
    }
}

internal enum SampleKind
{
    /// <summary>A training digit as given, normalized.</summary>
    AsGiven,
    /// <summary>A <see cref="DigitAugment"/> distortion of one.</summary>
    Distorted,
    /// <summary>Written on a form, photographed and read back by the reader (<see cref="FormPhotoSamples"/>).</summary>
    OnForm,
}
