using OpenCvSharp;

namespace KpuEdge.Vision.Digits;

/// <summary>
/// The reader's digit classifier: the vendored CNN (<see cref="DigitCnn"/>, Data/digit-cnn.bin), its probabilities
/// averaged with the HOG + SVM <see cref="DigitClassifier"/>'s ranked scores when the network was calibrated so
/// (<see cref="DigitCnn.SvmWeight"/>). <see cref="DigitReading.Confidence"/> is the combined probability of the digit
/// read, and <see cref="ConfidentThreshold"/> the network file's, both fitted out of fold on the training part only
/// (Data/README.md). An image with almost no ink, or one the SVM finds farther from every training digit than any
/// real digit (its confidence 0), gets confidence 0. Thread-safe.
/// </summary>
public sealed class CnnDigitClassifier : IDigitClassifier
{
    /// <summary>Less ink than this (sum of normalized intensities, in full pixels) is not a digit: confidence 0.</summary>
    private const double MinInk = 6;
    private readonly DigitCnn _cnn;
    private readonly DigitClassifier? _svm;

    public CnnDigitClassifier(DigitCnn cnn, DigitClassifier? svm)
    {
        _cnn = cnn ?? throw new ArgumentNullException(nameof(cnn));
        if (cnn.SvmWeight > 0 && svm is null) throw new ArgumentException("this network was calibrated together with the SVM", nameof(svm));
        _svm = cnn.SvmWeight > 0 ? svm : null;
    }

    /// <summary>The vendored network, with the SVM (loaded from its cache, or trained once) when it is calibrated with it.</summary>
    public static CnnDigitClassifier LoadDefault(string? svmCacheDirectory = null)
    {
        var cnn = DigitCnn.LoadBundled();
        return new CnnDigitClassifier(cnn, cnn.SvmWeight > 0 ? DigitClassifier.LoadOrTrain(svmCacheDirectory) : null);
    }

    public DigitCnn Network => _cnn;

    public double ConfidentThreshold => _cnn.ConfidentThreshold;

    public DigitReading Classify(Mat normalized)
    {
        ArgumentNullException.ThrowIfNull(normalized);
        if (normalized.Rows != DigitNormalizer.Size || normalized.Cols != DigitNormalizer.Size || normalized.Type() != MatType.CV_8UC1)
            throw new ArgumentException($"a {DigitNormalizer.Size}×{DigitNormalizer.Size} CV_8UC1 image is expected (DigitNormalizer.Normalize)", nameof(normalized));
        using var copy = normalized.IsContinuous() ? null : normalized.Clone();
        (copy ?? normalized).GetArray(out byte[] bytes);
        Span<float> pixels = stackalloc float[bytes.Length];
        double ink = 0;
        for (int i = 0; i < bytes.Length; i++) ink += pixels[i] = bytes[i] / 255f;

        Span<double> p = stackalloc double[10];
        _cnn.Probabilities(pixels, p);
        bool junk = ink < MinInk;
        if (_svm is not null)
        {
            var second = _svm.Classify(normalized);
            double w = _cnn.SvmWeight;
            for (int d = 0; d < 10; d++) p[d] *= 1 - w;
            foreach (var (d, score) in second.Ranked) p[d] += w * score;
            junk |= second.Confidence == 0;
        }
        var ranked = new (int Digit, double Score)[10];
        for (int d = 0; d < 10; d++) ranked[d] = (d, p[d]);
        Array.Sort(ranked, (a, b) => b.Score != a.Score ? b.Score.CompareTo(a.Score) : a.Digit.CompareTo(b.Digit));
        return new DigitReading(ranked[0].Digit, junk ? 0 : ranked[0].Score, ranked);
    }

    public void Dispose() => _svm?.Dispose();
}
