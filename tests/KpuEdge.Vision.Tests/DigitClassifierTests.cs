using System.Diagnostics;
using KpuEdge.Vision.Digits;
using OpenCvSharp;
using Xunit.Abstractions;

namespace KpuEdge.Vision.Tests;

/// <summary>Trains the digit model once per test run, in a fresh temporary cache folder (so the training path itself is
/// tested), then loads it back from that cache.</summary>
public sealed class DigitModelFixture : IDisposable
{
    public string CacheDirectory { get; } = Directory.CreateTempSubdirectory("kpu-digit-model-").FullName;
    public DigitClassifier Fresh { get; }
    public DigitClassifier Cached { get; }
    public DigitSet Set { get; } = DigitSet.LoadBundled();
    public double TrainSeconds { get; }
    public double LoadSeconds { get; }

    public DigitModelFixture()
    {
        var sw = Stopwatch.StartNew();
        Fresh = DigitClassifier.LoadOrTrain(CacheDirectory);
        TrainSeconds = sw.Elapsed.TotalSeconds;
        sw.Restart();
        Cached = DigitClassifier.LoadOrTrain(CacheDirectory);
        LoadSeconds = sw.Elapsed.TotalSeconds;
    }

    public void Dispose()
    {
        Fresh.Dispose();
        Cached.Dispose();
        try { Directory.Delete(CacheDirectory, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class DigitModelCollection : ICollectionFixture<DigitModelFixture>
{
    public const string Name = "digit model";
}

[Collection(DigitModelCollection.Name)]
public sealed class DigitClassifierTests(DigitModelFixture model, ITestOutputHelper output)
{
    // Floors are below the figures measured when the model was built (Data/README.md), with margin.
    private const double HeldOutAccuracyFloor = 0.98;          // measured 99.07%
    private const double ConfidentShareFloor = 0.85;           // measured 90.5%
    private const double ConfidentErrorCeiling = 0.005;        // measured 0.07% (1 of 1,358)
    private const double PhotoAccuracyFloor = 0.97;            // measured 98.8%
    private const double PhotoConfidentShareFloor = 0.85;      // measured 90.7%
    private const double PhotoConfidentErrorCeiling = 0.006;   // measured 0.18% (5 of 2,720)

    [Fact]
    public void Training_ran_once_and_the_second_call_loaded_the_cache()
    {
        Assert.NotNull(model.Fresh.TrainingSeconds);
        Assert.Null(model.Cached.TrainingSeconds);
        Assert.Equal(model.Fresh.ModelDirectory, model.Cached.ModelDirectory);
        Assert.StartsWith(model.CacheDirectory, model.Cached.ModelDirectory);
        Assert.Equal(DigitClassifier.CacheKey(), Path.GetFileName(model.Cached.ModelDirectory));
        Assert.InRange(model.Fresh.TrainingSamples, 30000, 31500);
        Assert.Equal(model.Fresh.TrainingSamples, model.Cached.TrainingSamples);
        Assert.Empty(Directory.GetDirectories(model.CacheDirectory, ".*tmp*"));
        output.WriteLine($"trained in {model.TrainSeconds:F1} s on {model.Fresh.TrainingSamples} samples; loaded from the cache in {model.LoadSeconds:F2} s");
    }

    [Fact]
    public void Held_out_accuracy_and_confidence_are_above_their_floors()
    {
        var (acc, share, err) = Measure(model.Set.HeldOut.Select(s => ((Mat?)s.Image, s.Label)).ToList());
        output.WriteLine($"held out (1,500 digits never trained on): accuracy {acc:P2}, confident {share:P1}, wrong among confident {err:P2}");
        Assert.True(acc >= HeldOutAccuracyFloor, $"accuracy {acc:P2}");
        Assert.True(share >= ConfidentShareFloor, $"confident share {share:P1}");
        Assert.True(err <= ConfidentErrorCeiling, $"error among confident {err:P2}");
    }

    [Fact]
    public void Re_drawn_photographed_held_out_digits_read_nearly_as_well()
    {
        // each held-out digit drawn 40–70 px tall into a box (offset, pen width, slant, blur, noise, JPEG), twice:
        // once clean-cut, once with a sliver of the box line at an edge
        var items = DigitMeasure.RedrawnHeldOut(model.Set);
        int blank = items.Count(x => x.Item1 is null);
        var (acc, share, err) = Measure(items);
        output.WriteLine($"re-drawn and photographed held-out digits ({items.Length}): accuracy {acc:P2}, confident {share:P1}, wrong among confident {err:P2}, taken for blank {blank}");
        Assert.True(blank <= 3, $"{blank} written boxes taken for blank");
        Assert.True(acc >= PhotoAccuracyFloor, $"accuracy {acc:P2}");
        Assert.True(share >= PhotoConfidentShareFloor, $"confident share {share:P1}");
        Assert.True(err <= PhotoConfidentErrorCeiling, $"error among confident {err:P2}");
        foreach (var (m, _) in items) m?.Dispose();
    }

    [Fact]
    public void The_cached_model_gives_the_same_answers_as_the_freshly_trained_one()
    {
        foreach (var s in model.Set.HeldOut.Where((_, i) => i % 3 == 0))
        {
            var a = model.Fresh.Classify(s.Image);
            var b = model.Cached.Classify(s.Image);
            Assert.Equal(a.Digit, b.Digit);
            Assert.Equal(a.Confidence, b.Confidence);
            Assert.Equal(a.Ranked, b.Ranked);
        }
    }

    [Fact]
    public void The_managed_svm_evaluation_agrees_with_opencv_predict()
    {
        static int Vote(double[,] d)
        {
            var v = new int[10];
            for (int i = 0; i < 10; i++)
                for (int j = i + 1; j < 10; j++)
                    v[d[i, j] > 0 ? i : j]++;
            int best = 0;
            for (int i = 1; i < 10; i++) if (v[i] > v[best]) best = i;
            return best;
        }
        foreach (var s in model.Set.HeldOut.Take(500))
        {
            var (pa, pb) = model.Cached.OpenCvPredict(s.Image);
            var (da, db) = model.Cached.Decisions(s.Image);
            Assert.Equal(pa, Vote(da));
            Assert.Equal(pb, Vote(db));
        }
    }

    [Fact]
    public void A_reading_ranks_all_ten_digits_and_its_confidence_is_a_probability()
    {
        foreach (var s in model.Set.HeldOut.Take(300))
        {
            var r = model.Cached.Classify(s.Image);
            Assert.Equal(10, r.Ranked.Count);
            Assert.Equal(Enumerable.Range(0, 10), r.Ranked.Select(x => x.Digit).Order());
            Assert.Equal(r.Digit, r.Ranked[0].Digit);
            Assert.InRange(r.Confidence, 0, 1);
            Assert.Equal(1.0, r.Ranked.Sum(x => x.Score), 6);
            for (int i = 1; i < 10; i++) Assert.True(r.Ranked[i].Score <= r.Ranked[i - 1].Score);
        }
        Assert.Equal(DigitClassifier.DefaultConfidentThreshold, model.Cached.ConfidentThreshold);
    }

    [Fact]
    public void An_all_black_or_garbage_image_does_not_throw_and_is_not_confident()
    {
        using var black = new Mat(20, 20, MatType.CV_8UC1, Scalar.All(0));
        var r = model.Cached.Classify(black);
        Assert.InRange(r.Digit, 0, 9);
        Assert.Equal(0, r.Confidence);
        Assert.Equal(10, r.Ranked.Count);

        foreach (var junk in DigitMeasure.Junk())
            using (junk)
                Assert.True(model.Cached.Classify(junk).Confidence < model.Cached.ConfidentThreshold);
    }

    [Fact]
    public void A_wrongly_shaped_input_is_refused()
    {
        using var big = new Mat(28, 28, MatType.CV_8UC1, Scalar.All(0));
        using var colour = new Mat(20, 20, MatType.CV_8UC3, Scalar.All(0));
        Assert.Throws<ArgumentException>(() => model.Cached.Classify(big));
        Assert.Throws<ArgumentException>(() => model.Cached.Classify(colour));
    }

    [Fact]
    public void Classify_is_thread_safe()
    {
        var images = model.Set.HeldOut.Take(400).Select(s => s.Image).ToArray();
        var sequential = images.Select(m => model.Cached.Classify(m)).ToArray();
        var parallel = new DigitReading[images.Length];
        Parallel.For(0, images.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => parallel[i] = model.Cached.Classify(images[i]));
        for (int i = 0; i < images.Length; i++)
        {
            Assert.Equal(sequential[i].Digit, parallel[i].Digit);
            Assert.Equal(sequential[i].Confidence, parallel[i].Confidence);
        }
    }

    [Fact]
    public void Concurrent_callers_all_load_the_cached_model()
    {
        var models = new DigitClassifier[4];
        Parallel.For(0, models.Length, i => models[i] = DigitClassifier.LoadOrTrain(model.CacheDirectory));
        try
        {
            var probe = model.Set.HeldOut[42].Image;
            var expected = model.Fresh.Classify(probe);
            foreach (var m in models)
            {
                Assert.Null(m.TrainingSeconds);
                Assert.Equal(expected.Confidence, m.Classify(probe).Confidence);
            }
        }
        finally
        {
            foreach (var m in models) m.Dispose();
        }
    }

    [Fact]
    public void Saving_over_an_existing_entry_keeps_it_and_a_damaged_entry_is_dropped()
    {
        var root = Directory.CreateTempSubdirectory("kpu-digit-cache-").FullName;
        try
        {
            var dir = Path.Combine(root, DigitClassifier.CacheKey());
            model.Fresh.SaveAtomically(dir);
            var first = Directory.GetLastWriteTimeUtc(Path.Combine(dir, "model.json"));
            model.Fresh.SaveAtomically(dir); // a second writer loses the race quietly
            Assert.Equal(first, Directory.GetLastWriteTimeUtc(Path.Combine(dir, "model.json")));
            Assert.Single(Directory.GetDirectories(root));
            using (var loaded = DigitClassifier.TryLoad(dir))
            {
                Assert.NotNull(loaded);
                var s = model.Set.HeldOut[7];
                Assert.Equal(model.Fresh.Classify(s.Image).Confidence, loaded.Classify(s.Image).Confidence);
            }

            File.WriteAllText(Path.Combine(dir, "svm-hog5x9.yml.gz"), "not a model");
            Assert.Null(DigitClassifier.TryLoad(dir));
            Assert.False(Directory.Exists(dir));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private (double Accuracy, double ConfidentShare, double ConfidentError) Measure(IReadOnlyList<(Mat? Image, int Label)> items)
    {
        var r = DigitMeasure.Of(model.Cached, items);
        return (r.Accuracy, r.ConfidentShare, r.ConfidentError);
    }
}
