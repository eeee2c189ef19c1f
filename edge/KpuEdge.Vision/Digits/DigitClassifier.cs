using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using OpenCvSharp;
using OpenCvSharp.ML;

namespace KpuEdge.Vision.Digits;

/// <summary>A classified digit. <see cref="Ranked"/> holds all ten digits, best first (its first entry is
/// <see cref="Digit"/>); <see cref="Confidence"/> in [0,1] estimates the probability that <see cref="Digit"/> is right.</summary>
public sealed record DigitReading(int Digit, double Confidence, IReadOnlyList<(int Digit, double Score)> Ranked);

/// <summary>
/// Reads one normalized digit (<see cref="DigitNormalizer"/>) and says how sure it is.
/// <para>
/// <b>Models</b> (all OpenCV ML, trained from the bundled set's 3,500 training digits at first use):
/// two RBF support-vector machines (C = 2.67, γ = 5.383, the values of OpenCV's digits sample) on two
/// histogram-of-oriented-gradients descriptors of the deskewed digit — 4×4 cells × 8 orientations (128 values) and
/// 5×5 cells × 9 orientations (225 values) — plus a k-nearest-neighbour model (k = 5) on the 128-value descriptor of
/// the 3,500 unaugmented training digits. The SVMs are trained on the training digits and 8 random distortions of each
/// (<see cref="DigitAugment"/>: rotation, slant, scale, elastic warp, pen binarization, thinner/thicker stroke, blur,
/// and the whole photographed path through <see cref="DigitNormalizer.Normalize"/>), about 31,500 samples.
/// </para>
/// <para>
/// <b>Reading</b>: the two SVMs' one-vs-one decision values (evaluated in managed code from the OpenCV models, see
/// <see cref="OvoSvm"/>) are averaged; each digit's rank score r is its worst pairwise margin (the smallest decision
/// value against any other digit), the reading is the digit with the highest r (the vote winner whenever one digit
/// beats all nine others). <b>Confidence</b> = logistic(b0 + b1·r + b2·s), where s is the share of the 5 nearest
/// training digits that agree; b0..b2 were fitted on out-of-fold readings from 5-fold cross-validation on the training
/// part only (clean digits and the same digits re-drawn and photographed), so the held-out part never informed it;
/// out of fold it is well calibrated (readings at 0.99–0.995 were right 99.1% of the time, at ≥ 0.998 99.99%).
/// An image with almost no ink, or farther from every training digit than any real digit was out of fold, gets
/// confidence 0. <see cref="DigitReading.Ranked"/> scores are softmax(κ·r) with κ
/// fitted the same way, so they estimate each digit's probability; when the reading is wrong the truth is ranked
/// second about 80% of the time.
/// </para>
/// <para>
/// <b>Why this</b>, by cross-validation on the training part only (models trained on 4/5 of it, read on the other
/// 1/5 clean and re-drawn/photographed): HOG + RBF SVM was the most accurate of what was tried — HOG 4×4×8, 4×4×12 and
/// 5×5×9 ≈ 98.8% on clean digits, 3×3×12 98.5%, 10×10 pixels 97.7%; KNN alone ≈ 98.5%; OpenCV's ANN_MLP (64 or 100
/// hidden units) no better on clean digits and 5–20× slower to train; other C/γ made no measurable difference. Eight
/// distortions per digit cut the error on re-drawn, photographed digits from 2.1% (none) to 1.5% (clean unchanged at
/// ≈ 98.7%); more gave little for the training time. Averaging the two descriptors plus the KNN agreement put more
/// readings above the threshold at the same error rate than any single SVM margin. Out of fold, at
/// <see cref="DefaultConfidentThreshold"/>: 91.3% of clean readings confident with 0.09% of those wrong, 90.5% of
/// photographed ones with 0.14% wrong (held-out figures: Data/README.md and the tests).
/// </para>
/// Thread-safe: <see cref="Classify"/> may be called concurrently.
/// </summary>
public sealed class DigitClassifier : IDigitClassifier
{
    /// <summary>Bump when training or normalization code changes in a way the parameter strings do not show:
    /// it is part of the cache key.</summary>
    internal const int ModelVersion = 1;
    internal const int AugmentPerDigit = 8;
    internal const int Seed = 20240214;
    internal const double SvmC = 2.67, SvmGamma = 5.383;
    internal const int KnnK = 5;
    private const int HogAGrid = 4, HogABins = 8, HogBGrid = 5, HogBBins = 9;
    internal const int DimA = HogAGrid * HogAGrid * HogABins, DimB = HogBGrid * HogBGrid * HogBBins;

    // Calibration, fitted on out-of-fold readings of the training part (see the class comment).
    internal const double CalBias = -0.6250, CalMargin = 4.4155, CalKnn = 0.8916;
    internal const double ScoreSharpness = 3.0;
    /// <summary>Less ink than this (sum of normalized intensities, in full pixels) is not a digit: confidence 0.</summary>
    private const double MinInk = 6;
    /// <summary>Farther than this from every training digit (HOG 4×4×8, L2) is not a digit as the training set knows
    /// them: confidence 0. Out of fold the farthest real digit was 0.55 (photographed) and 0.47 (clean).</summary>
    private const double MaxNearest = 0.6;

    /// <summary>The default <see cref="ConfidentThreshold"/>.</summary>
    public const double DefaultConfidentThreshold = 0.985;

    private readonly SVM _svmA, _svmB;
    private readonly KNearest _knn;
    private readonly OvoSvm _ovoA, _ovoB;
    private int _disposed;

    /// <summary>Readings with <see cref="DigitReading.Confidence"/> at or above this are "confident".</summary>
    public double ConfidentThreshold { get; } = DefaultConfidentThreshold;

    /// <summary>Where the model was loaded from or saved to (null for a model only in memory).</summary>
    public string? ModelDirectory { get; private set; }

    /// <summary>Seconds the training took when this instance was trained (null when loaded from the cache).</summary>
    public double? TrainingSeconds { get; private set; }

    /// <summary>Number of samples the SVMs were trained on.</summary>
    public int TrainingSamples { get; private set; }

    private DigitClassifier(SVM svmA, SVM svmB, KNearest knn)
    {
        _svmA = svmA; _svmB = svmB; _knn = knn;
        _ovoA = new OvoSvm(svmA);
        _ovoB = new OvoSvm(svmB);
        if (_ovoA.Dim != DimA || _ovoB.Dim != DimB || knn.GetVarCount() != DimA)
            throw new InvalidDataException("digit model has unexpected feature sizes");
    }

    // ---------------------------------------------------------------- reading

    /// <summary>Classifies a normalized digit (20×20 CV_8UC1, white on black, from <see cref="DigitNormalizer"/>).</summary>
    public DigitReading Classify(Mat normalized)
    {
        var a = Analyze(normalized);
        var order = Enumerable.Range(0, 10).OrderByDescending(d => a.Rank[d]).ThenBy(d => d).ToArray();
        double max = a.Rank[order[0]];
        var exp = a.Rank.Select(r => Math.Exp(ScoreSharpness * (r - max))).ToArray();
        double sum = exp.Sum();
        var ranked = order.Select(d => (d, exp[d] / sum)).ToArray();
        return new DigitReading(a.Top, a.Confidence, ranked);
    }

    /// <summary>The pieces of a reading: per-digit rank score r, the winner, its KNN agreement and the confidence.</summary>
    internal readonly record struct Analysis(double[] Rank, int Top, double Margin, double KnnShare, double NearestDistance, double Ink, double Confidence);

    internal Analysis Analyze(Mat normalized)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        ArgumentNullException.ThrowIfNull(normalized);
        if (normalized.Rows != DigitNormalizer.Size || normalized.Cols != DigitNormalizer.Size || normalized.Type() != MatType.CV_8UC1)
            throw new ArgumentException($"a {DigitNormalizer.Size}×{DigitNormalizer.Size} CV_8UC1 image is expected (DigitNormalizer.Normalize)", nameof(normalized));
        var px = Pixels(normalized, out double ink);
        Span<float> fa = stackalloc float[DimA];
        Span<float> fb = stackalloc float[DimB];
        DigitFeatures.Hog(px, HogAGrid, HogABins, fa);
        DigitFeatures.Hog(px, HogBGrid, HogBBins, fb);
        var da = new double[10, 10];
        var db = new double[10, 10];
        _ovoA.Decide(fa, da);
        _ovoB.Decide(fb, db);
        var rank = new double[10];
        int top = 0;
        for (int i = 0; i < 10; i++)
        {
            double m = double.PositiveInfinity;
            for (int j = 0; j < 10; j++) if (j != i) m = Math.Min(m, (da[i, j] + db[i, j]) / 2);
            rank[i] = m;
            if (m > rank[top]) top = i;
        }
        double share = KnnShare(fa, top, out double nearest);
        double conf = ink < MinInk || nearest > MaxNearest ? 0 : Logistic(CalBias + CalMargin * rank[top] + CalKnn * share);
        return new Analysis(rank, top, rank[top], share, nearest, ink, conf);
    }

    private double KnnShare(ReadOnlySpan<float> features, int digit, out double nearest)
    {
        using var q = new Mat(1, features.Length, MatType.CV_32FC1);
        q.SetArray(features.ToArray());
        using var results = new Mat();
        using var neighbours = new Mat();
        using var dist = new Mat();
        _knn.FindNearest(q, KnnK, results, neighbours, dist);
        neighbours.GetArray(out float[] labels);
        dist.GetArray(out float[] d2);
        nearest = Math.Sqrt(d2.Length > 0 ? d2[0] : 0);
        int agree = 0;
        foreach (var l in labels) if ((int)Math.Round(l) == digit) agree++;
        return (double)agree / KnnK;
    }

    private static double Logistic(double z) => 1 / (1 + Math.Exp(-z));

    private static float[] Pixels(Mat img, out double ink)
    {
        using var copy = img.IsContinuous() ? null : img.Clone();
        (copy ?? img).GetArray(out byte[] b);
        var a = new float[b.Length];
        double sum = 0;
        for (int i = 0; i < a.Length; i++) { a[i] = b[i] / 255f; sum += a[i]; }
        ink = sum;
        return a;
    }

    /// <summary>What OpenCV's own SVM.Predict says for each of the two models (for checking the managed evaluation).</summary>
    internal (int A, int B) OpenCvPredict(Mat normalized)
    {
        var px = Pixels(normalized, out _);
        var fa = new float[DimA];
        var fb = new float[DimB];
        DigitFeatures.Hog(px, HogAGrid, HogABins, fa);
        DigitFeatures.Hog(px, HogBGrid, HogBBins, fb);
        using var qa = new Mat(1, DimA, MatType.CV_32FC1);
        qa.SetArray(fa);
        using var qb = new Mat(1, DimB, MatType.CV_32FC1);
        qb.SetArray(fb);
        return ((int)_svmA.Predict(qa), (int)_svmB.Predict(qb));
    }

    /// <summary>The two SVMs' own pairwise decision values (for checking).</summary>
    internal (double[,] A, double[,] B) Decisions(Mat normalized)
    {
        var px = Pixels(normalized, out _);
        var fa = new float[DimA];
        var fb = new float[DimB];
        DigitFeatures.Hog(px, HogAGrid, HogABins, fa);
        DigitFeatures.Hog(px, HogBGrid, HogBBins, fb);
        var da = new double[10, 10];
        var db = new double[10, 10];
        _ovoA.Decide(fa, da);
        _ovoB.Decide(fb, db);
        return (da, db);
    }

    // ---------------------------------------------------------------- training

    /// <summary>Trains on raw 20×20 white-on-black digits (the bundled set's <see cref="DigitSet.TrainingRaw"/>, or a
    /// part of it for cross-validation) with <see cref="AugmentPerDigit"/> distortions each. Deterministic.</summary>
    internal static DigitClassifier Train(IReadOnlyList<(Mat Raw, int Label)> digits, int augmentPerDigit = AugmentPerDigit)
    {
        var sw = Stopwatch.StartNew();
        int per = 1 + augmentPerDigit;
        var images = new Mat?[digits.Count * per];
        Parallel.For(0, digits.Count, i =>
        {
            var (raw, _) = digits[i];
            images[i * per] = DigitNormalizer.NormalizeInk(raw);
            var rng = new Random(unchecked(Seed + 7919 * i));
            for (int a = 1; a < per; a++) images[i * per + a] = DigitAugment.Distort(raw, rng);
        });
        var idx = Enumerable.Range(0, images.Length).Where(i => images[i] is not null).ToArray();
        var fa = new float[idx.Length * DimA];
        var fb = new float[idx.Length * DimB];
        var labels = new int[idx.Length];
        Parallel.For(0, idx.Length, k =>
        {
            var img = images[idx[k]]!;
            var px = Pixels(img, out _);
            DigitFeatures.Hog(px, HogAGrid, HogABins, fa.AsSpan(k * DimA, DimA));
            DigitFeatures.Hog(px, HogBGrid, HogBBins, fb.AsSpan(k * DimB, DimB));
            labels[k] = digits[idx[k] / per].Label;
        });
        foreach (var m in images) m?.Dispose();

        // KNN memory: the unaugmented digits (the first sample of each digit)
        var origK = Enumerable.Range(0, idx.Length).Where(k => idx[k] % per == 0).ToArray();
        var ka = new float[origK.Length * DimA];
        var kl = new float[origK.Length];
        for (int j = 0; j < origK.Length; j++)
        {
            Array.Copy(fa, origK[j] * DimA, ka, j * DimA, DimA);
            kl[j] = labels[origK[j]];
        }

        using var xa = Mat.FromPixelData(idx.Length, DimA, MatType.CV_32FC1, fa);
        using var xb = Mat.FromPixelData(idx.Length, DimB, MatType.CV_32FC1, fb);
        using var y = Mat.FromPixelData(idx.Length, 1, MatType.CV_32SC1, labels);
        var svmA = NewSvm();
        var svmB = NewSvm();
        Parallel.Invoke(
            () => svmA.Train(xa, SampleTypes.RowSample, y),
            () => svmB.Train(xb, SampleTypes.RowSample, y));
        var knn = KNearest.Create();
        knn.DefaultK = KnnK;
        knn.IsClassifier = true;
        using (var xk = Mat.FromPixelData(origK.Length, DimA, MatType.CV_32FC1, ka))
        using (var yk = Mat.FromPixelData(origK.Length, 1, MatType.CV_32FC1, kl))
            knn.Train(xk, SampleTypes.RowSample, yk);
        return new DigitClassifier(svmA, svmB, knn) { TrainingSeconds = sw.Elapsed.TotalSeconds, TrainingSamples = idx.Length };
    }

    private static SVM NewSvm()
    {
        var svm = SVM.Create();
        svm.Type = SVM.Types.CSvc;
        svm.KernelType = SVM.KernelTypes.Rbf;
        svm.C = SvmC;
        svm.Gamma = SvmGamma;
        svm.TermCriteria = new TermCriteria(CriteriaTypes.MaxIter | CriteriaTypes.Eps, 1000, 1e-3);
        return svm;
    }

    // ---------------------------------------------------------------- cache

    private const string SvmAFile = "svm-hog4x8.yml.gz", SvmBFile = "svm-hog5x9.yml.gz", KnnFile = "knn-hog4x8.yml.gz", InfoFile = "model.json";
    private static readonly ConcurrentDictionary<string, object> ProcessLocks = new(StringComparer.Ordinal);

    /// <summary>Everything the trained model depends on, for the cache key.</summary>
    internal static string TrainingParameters => FormattableString.Invariant(
        $"v={ModelVersion};aug={AugmentPerDigit};seed={Seed};svm=C{SvmC}/g{SvmGamma};hog={HogAGrid}x{HogABins}+{HogBGrid}x{HogBBins};knn={KnnK};split={DigitSet.BundledTrainingPerClass}/{DigitSet.BundledPerClass};norm[{DigitNormalizer.Parameters}];aug[{DigitAugment.Parameters}]");

    /// <summary>The cache key: model version + SHA-256 of the training parameters and the bundled digits.png.</summary>
    internal static string CacheKey()
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(Encoding.UTF8.GetBytes(TrainingParameters));
        sha.AppendData(DigitSet.BundledPng());
        return FormattableString.Invariant($"digits-v{ModelVersion}-{Convert.ToHexStringLower(sha.GetHashAndReset())[..16]}");
    }

    /// <summary>The default cache root: $XDG_CACHE_HOME/kpu-edge, else ~/.cache/kpu-edge.</summary>
    public static string DefaultCacheDirectory()
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var root = !string.IsNullOrWhiteSpace(xdg) && Path.IsPathRooted(xdg)
            ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "kpu-edge");
    }

    /// <summary>
    /// Loads the model from the cache, or trains it on <see cref="DigitSet.LoadBundled"/>().Training (with
    /// augmentation) and caches it. The cache entry is a folder named by <see cref="CacheKey"/> under
    /// <paramref name="cacheDirectory"/> (default <see cref="DefaultCacheDirectory"/>), written to a temporary folder and
    /// renamed into place, so readers never see a partial model. Safe from several threads (one trains, the others
    /// wait) and processes (a lock file makes the others wait; were the lock unavailable, the rename still keeps the
    /// entry whole). A damaged entry is replaced.
    /// </summary>
    public static DigitClassifier LoadOrTrain(string? cacheDirectory = null)
    {
        var root = Path.GetFullPath(cacheDirectory ?? DefaultCacheDirectory());
        var key = CacheKey();
        var dir = Path.Combine(root, key);
        if (TryLoad(dir) is { } cached) return cached;
        try
        {
            Directory.CreateDirectory(root);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return TrainBundled(); // no usable cache folder: train, keep in memory only
        }
        lock (ProcessLocks.GetOrAdd(dir, _ => new object()))
        {
            if (TryLoad(dir) is { } again) return again;
            using var fileLock = AcquireFileLock(Path.Combine(root, key + ".lock"));
            if (TryLoad(dir) is { } third) return third;
            var model = TrainBundled();
            try
            {
                model.SaveAtomically(dir);
                model.ModelDirectory = dir;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or OpenCVException)
            {
                // the cache could not be written: the model still works, the next run trains again
            }
            return model;
        }
    }

    private static DigitClassifier TrainBundled()
    {
        using var set = new DisposableSet(DigitSet.LoadBundled());
        return Train(set.Set.TrainingRaw);
    }

    private sealed class DisposableSet(DigitSet set) : IDisposable
    {
        public DigitSet Set { get; } = set;
        public void Dispose()
        {
            foreach (var s in Set.Training) s.Image.Dispose();
            foreach (var s in Set.HeldOut) s.Image.Dispose();
            foreach (var (m, _) in Set.HeldOutInk) m.Dispose();
            foreach (var (m, _) in Set.TrainingRaw) m.Dispose();
        }
    }

    /// <summary>Loads a saved model folder; null when it is absent or unreadable (an unreadable one is deleted).</summary>
    internal static DigitClassifier? TryLoad(string dir)
    {
        if (!File.Exists(Path.Combine(dir, InfoFile))) return null;
        SVM? a = null, b = null;
        KNearest? k = null;
        try
        {
            var info = JsonSerializer.Deserialize<ModelInfo>(File.ReadAllText(Path.Combine(dir, InfoFile)));
            a = SVM.Load(Path.Combine(dir, SvmAFile));
            b = SVM.Load(Path.Combine(dir, SvmBFile));
            k = KNearest.Load(Path.Combine(dir, KnnFile));
            if (!a.IsTrained() || !b.IsTrained() || !k.IsTrained()) throw new InvalidDataException("untrained model in cache");
            k.DefaultK = KnnK;
            return new DigitClassifier(a, b, k) { ModelDirectory = dir, TrainingSamples = info?.TrainingSamples ?? 0 };
        }
        catch (Exception e) when (e is IOException or InvalidDataException or OpenCVException or JsonException or UnauthorizedAccessException)
        {
            a?.Dispose(); b?.Dispose(); k?.Dispose();
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            return null;
        }
    }

    internal sealed record ModelInfo(string Key, int ModelVersion, string Parameters, int TrainingSamples, double TrainingSeconds, DateTimeOffset Created);

    /// <summary>Writes the model to a temporary sibling folder and renames it to <paramref name="dir"/>; if another
    /// writer got there first, keeps theirs.</summary>
    internal void SaveAtomically(string dir)
    {
        var parent = Path.GetDirectoryName(dir)!;
        Directory.CreateDirectory(parent);
        var tmp = Path.Combine(parent, $".{Path.GetFileName(dir)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(tmp);
        try
        {
            _svmA.Save(Path.Combine(tmp, SvmAFile));
            _svmB.Save(Path.Combine(tmp, SvmBFile));
            _knn.Save(Path.Combine(tmp, KnnFile));
            var info = new ModelInfo(Path.GetFileName(dir), ModelVersion, TrainingParameters, TrainingSamples, TrainingSeconds ?? 0, DateTimeOffset.UtcNow);
            File.WriteAllText(Path.Combine(tmp, InfoFile), JsonSerializer.Serialize(info));
            try
            {
                Directory.Move(tmp, dir);
            }
            catch (IOException) when (Directory.Exists(dir))
            {
                // another process or thread finished first: its model is identical (training is deterministic)
            }
        }
        finally
        {
            if (Directory.Exists(tmp)) try { Directory.Delete(tmp, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>An exclusive lock on a file (flock on Linux), waited for up to ten minutes; null if it cannot be had
    /// (read-only folder, timeout): the atomic rename still protects the cache.</summary>
    private static FileStream? AcquireFileLock(string path)
    {
        var deadline = DateTime.UtcNow.AddMinutes(10);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(200);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return null;
            }
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _svmA.Dispose();
        _svmB.Dispose();
        _knn.Dispose();
    }
}
