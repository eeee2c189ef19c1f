using KpuEdge.Vision.Digits;
using OpenCvSharp;
using Xunit.Abstractions;

namespace KpuEdge.Vision.Tests;

/// <summary>The vendored CNN (Data/digit-cnn.bin) with the SVM beside it, as the device reads digits: loaded, never
/// trained here.</summary>
public sealed class CnnModelFixture : IDisposable
{
    public CnnDigitClassifier Classifier { get; } = CnnDigitClassifier.LoadDefault();
    public DigitSet Set { get; } = DigitSet.LoadBundled();
    public void Dispose() => Classifier.Dispose();
}

public sealed class CnnDigitClassifierTests(CnnModelFixture model, ITestOutputHelper output) : IClassFixture<CnnModelFixture>
{
    // Floors are below the figures measured when the model was vendored (Data/README.md), with margin.
    private const double HeldOutAccuracyFloor = 0.985;
    private const double ConfidentShareFloor = 0.80;
    private const double ConfidentErrorCeiling = 0.003;
    private const double PhotoAccuracyFloor = 0.975;
    private const double PhotoConfidentErrorCeiling = 0.004;

    [Fact]
    public void The_vendored_network_loads_with_its_calibration_and_the_note_of_how_it_was_made()
    {
        var cnn = model.Classifier.Network;
        Assert.Equal((16, 32, 64), (cnn.Conv1Channels, cnn.Conv2Channels, cnn.Hidden));
        Assert.InRange(cnn.Temperature, 0.3, 6);
        Assert.InRange(cnn.ConfidentThreshold, 0.9, 1);
        Assert.Equal(0.5, cnn.SvmWeight);
        Assert.Contains("kpu-digit-training", cnn.Note);
        Assert.Equal(cnn.ConfidentThreshold, model.Classifier.ConfidentThreshold);
        output.WriteLine(cnn.Note);
    }

    [Fact]
    public void Held_out_digits_are_read_at_the_documented_accuracy_and_the_confident_ones_are_almost_never_wrong()
    {
        var (acc, share, wrong, confident) = Measure(model.Set.HeldOut.Select(s => ((Mat?)s.Image, s.Label)).ToList());
        output.WriteLine($"held out (1,500 digits never trained on): accuracy {acc:P2}, confident {share:P1}, wrong among confident {wrong} of {confident}");
        Assert.True(acc >= HeldOutAccuracyFloor, $"accuracy {acc:P2}");
        Assert.True(share >= ConfidentShareFloor, $"confident share {share:P1}");
        Assert.True(wrong <= ConfidentErrorCeiling * confident, $"{wrong} wrong among {confident} confident");
    }

    [Fact]
    public void Re_drawn_photographed_held_out_digits_confident_and_wrong_stay_rare()
    {
        var items = DigitMeasure.RedrawnHeldOut(model.Set);
        var (acc, share, wrong, confident) = Measure(items);
        output.WriteLine($"re-drawn and photographed held-out digits ({items.Length}): accuracy {acc:P2}, confident {share:P1}, wrong among confident {wrong} of {confident}");
        Assert.True(acc >= PhotoAccuracyFloor, $"accuracy {acc:P2}");
        Assert.True(wrong <= PhotoConfidentErrorCeiling * confident, $"{wrong} wrong among {confident} confident");
        foreach (var (m, _) in items) m?.Dispose();
    }

    [Fact]
    public void A_reading_ranks_all_ten_digits_with_probabilities()
    {
        foreach (var s in model.Set.HeldOut.Take(200))
        {
            var r = model.Classifier.Classify(s.Image);
            Assert.Equal(Enumerable.Range(0, 10), r.Ranked.Select(x => x.Digit).Order());
            Assert.Equal(r.Digit, r.Ranked[0].Digit);
            Assert.Equal(1.0, r.Ranked.Sum(x => x.Score), 6);
            Assert.Equal(r.Ranked[0].Score, r.Confidence);
            for (int i = 1; i < 10; i++) Assert.True(r.Ranked[i].Score <= r.Ranked[i - 1].Score);
        }
    }

    [Fact]
    public void Ink_that_is_no_digit_is_never_confident()
    {
        using var black = new Mat(20, 20, MatType.CV_8UC1, Scalar.All(0));
        Assert.Equal(0, model.Classifier.Classify(black).Confidence);
        foreach (var junk in DigitMeasure.Junk())
            using (junk)
                Assert.True(model.Classifier.Classify(junk).Confidence < model.Classifier.ConfidentThreshold);
    }

    [Fact]
    public void The_weights_file_round_trips_and_a_damaged_one_is_refused()
    {
        var cnn = model.Classifier.Network;
        using var ms = new MemoryStream();
        cnn.Write(ms);
        var bytes = ms.ToArray();
        var again = DigitCnn.Read(new MemoryStream(bytes));
        Span<float> a = stackalloc float[10], b = stackalloc float[10];
        var pixels = new float[400];
        model.Set.HeldOut[3].Image.GetArray(out byte[] px);
        for (int i = 0; i < 400; i++) pixels[i] = px[i] / 255f;
        cnn.Logits(pixels, a);
        again.Logits(pixels, b);
        Assert.True(a.SequenceEqual(b));
        Assert.Equal(cnn.Note, again.Note);

        Assert.Throws<InvalidDataException>(() => DigitCnn.Read(new MemoryStream(bytes[..^7])));
        var wrongMagic = (byte[])bytes.Clone();
        wrongMagic[0] = (byte)'X';
        Assert.Throws<InvalidDataException>(() => DigitCnn.Read(new MemoryStream(wrongMagic)));
        Assert.Throws<InvalidDataException>(() => DigitCnn.Read(new MemoryStream([.. bytes, 0])));
    }

    [Fact]
    public void A_network_calibrated_with_the_svm_refuses_to_run_without_it()
    {
        Assert.Throws<ArgumentException>(() => new CnnDigitClassifier(model.Classifier.Network, null));
    }

    private (double Accuracy, double ConfidentShare, int Wrong, int Confident) Measure(IReadOnlyList<(Mat? Image, int Label)> items)
    {
        var r = DigitMeasure.Of(model.Classifier, items);
        return (r.Accuracy, r.ConfidentShare, r.Wrong, r.Confident);
    }
}
