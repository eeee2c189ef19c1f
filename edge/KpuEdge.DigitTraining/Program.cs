using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using KpuEdge.DigitTraining;
using KpuEdge.Vision.Digits;
using OpenCvSharp;

// kpu-digit-training: trains the reader's digit CNN on the bundled set's training part (never the held-out part),
// calibrates it on out-of-fold readings, and writes the weights file the Vision library embeds.
var outOption = new Option<string?>("--out") { Description = "Write the calibrated weights here (e.g. edge/KpuEdge.Vision/Data/digit-cnn.bin); without it only the folds run" };
var seedOption = new Option<int>("--seed") { Description = "Seed of the distortions, the initial weights and the batch order", DefaultValueFactory = _ => 20240214 };
var epochsOption = new Option<int>("--epochs") { Description = "Passes over the training samples", DefaultValueFactory = _ => 12 };
var augmentOption = new Option<int>("--augment") { Description = "Distortions per training digit (DigitAugment)", DefaultValueFactory = _ => 16 };
var foldsOption = new Option<int>("--folds") { Description = "How many of the 5 cross-validation folds to run for calibration (5 for the vendored model; 1 for a quick look)", DefaultValueFactory = _ => 5 };
var svmOption = new Option<bool>("--svm") { Description = "Also train the SVM per fold and report the two models' agreement" };
var targetOption = new Option<double>("--target-error") { Description = "Out of fold, the confident readings may be wrong at most this often", DefaultValueFactory = _ => 0.001 };
var formsOption = new Option<int>("--forms") { Description = "PPWP forms filled with training digits, photographed and read back for more samples", DefaultValueFactory = _ => 0 };
var tuningFormsOption = new Option<int>("--tuning-forms") { Description = "PPWP forms filled with training digits (seeds apart from --forms), read out of fold by each fold's models, to measure the form decision on", DefaultValueFactory = _ => 0 };
var tuningDprOption = new Option<int>("--tuning-dpr-forms") { Description = "The same for DPR forms (five pages each)", DefaultValueFactory = _ => 0 };
var readingsOutOption = new Option<string?>("--readings-out") { Description = "Write the out-of-fold readings of the tuning forms here (JSON lines), for study" };
var readingsInOption = new Option<string?>("--readings-in") { Description = "Only measure the form decision on readings written by --readings-out (no training)" };
var sizeOption = new Option<string>("--size") { Description = "conv1/conv2/dense widths", DefaultValueFactory = _ => "16/32/64" };
var gradCheckOption = new Option<bool>("--gradient-check") { Description = "Only compare back-propagation with finite differences" };

var root = new RootCommand("Trains the C.Hasil reader's digit CNN on the bundled training digits.")
    { outOption, seedOption, epochsOption, augmentOption, foldsOption, svmOption, targetOption, formsOption, tuningFormsOption, tuningDprOption, readingsOutOption, readingsInOption, sizeOption, gradCheckOption };
root.SetAction(parse =>
{
    var size = parse.GetValue(sizeOption)!.Split('/').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
    var recipe = new Recipe(size[0], size[1], size[2], parse.GetValue(epochsOption), 64, 2e-3, 1e-4, 0.25, parse.GetValue(seedOption));
    if (parse.GetValue(readingsInOption) is { } readingsIn)
    {
        var forms = FormDecisionTuning.ReadReadings(readingsIn);
        Console.WriteLine(FormDecisionTuning.TailTable(forms));
        Console.WriteLine(FormDecisionTuning.Report(forms, DigitCnn.LoadBundled().ConfidentThreshold));
        return 0;
    }
    if (parse.GetValue(gradCheckOption))
    {
        var small = TrainingData.Build(DigitSet.LoadBundled().TrainingRaw.Take(8).ToList(), 0, recipe.Seed);
        double worst = CnnTrainer.GradientCheck(small, recipe);
        Console.WriteLine(FormattableString.Invariant($"largest relative gradient error {worst:E2}"));
        return worst < 0.05 ? 0 : 1;
    }
    return Run(recipe, parse.GetValue(augmentOption), parse.GetValue(foldsOption), parse.GetValue(svmOption), parse.GetValue(targetOption),
        parse.GetValue(formsOption), new TuningRequest(parse.GetValue(tuningFormsOption), parse.GetValue(tuningDprOption), parse.GetValue(readingsOutOption)),
        parse.GetValue(outOption), string.Join(' ', args));
});
return root.Parse(args).Invoke();

static int Run(Recipe recipe, int augment, int folds, bool svm, double target, int forms, TuningRequest tuning, string? output, string commandLine)
{
    void Log(string s) => Console.WriteLine(s);
    var total = Stopwatch.StartNew();
    var set = DigitSet.LoadBundled();
    var photographed = forms > 0 ? FormPhotoSamples.Make(set.TrainingRaw, TrainingData.FoldsOf(set.TrainingRaw), forms, recipe.Seed) : [];
    var data = TrainingData.Build(set.TrainingRaw, augment, recipe.Seed, photographed);
    // Forms for measuring the form decision: their own seeds, so none is a --forms training form.
    var tuningForms = tuning.Any
        ? FormPhotoSamples.Photograph(set.TrainingRaw, TrainingData.FoldsOf(set.TrainingRaw), KpuEdge.Core.Elections.ContestId.Ppwp, tuning.PpwpForms, recipe.Seed + TuningRequest.SeedOffset)
            .Concat(FormPhotoSamples.Photograph(set.TrainingRaw, TrainingData.FoldsOf(set.TrainingRaw), KpuEdge.Core.Elections.ContestId.Dpr, tuning.DprForms, recipe.Seed + 2 * TuningRequest.SeedOffset)).ToList()
        : [];
    Log($"{data.Count:N0} samples from {set.TrainingRaw.Count:N0} training digits ({augment} distortions each, {photographed.Count:N0} read off {forms} photographed forms) in {total.Elapsed.TotalSeconds:F0} s; recipe: {recipe}");

    var oof = new List<OutOfFold>();
    var foldModels = new List<(DigitCnn Net, DigitClassifier? Svm)>();
    for (int fold = 0; fold < folds; fold++)
    {
        var watch = Stopwatch.StartNew();
        var fit = Enumerable.Range(0, data.Count).Where(s => data.Fold[s] != fold).ToArray();
        var val = Enumerable.Range(0, data.Count).Where(s => data.Fold[s] == fold).ToArray();
        Log($"fold {fold + 1}/{folds}: training on {fit.Length:N0} samples, reading {val.Length:N0} of digits it never saw");
        var net = CnnTrainer.Train(data, fit, recipe, Log);
        DigitClassifier? svmModel = null;
        if (svm)
        {
            var fitDigits = Enumerable.Range(0, set.TrainingRaw.Count).Where(i => data.FoldOfDigit[i] != fold).Select(i => set.TrainingRaw[i]).ToList();
            svmModel = DigitClassifier.Train(fitDigits);
        }
        var part = new OutOfFold[val.Length];
        Parallel.For(0, val.Length, j =>
        {
            int s = val[j];
            var logits = new float[10];
            var pixels = data.X.AsSpan(s * TrainingData.Pixels, TrainingData.Pixels);
            net.Logits(pixels, logits);
            double[]? svmScores = null;
            if (svmModel is not null)
            {
                var bytes = new byte[TrainingData.Pixels];
                for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)Math.Round(pixels[i] * 255);
                using var m = Mat.FromPixelData(DigitNormalizer.Size, DigitNormalizer.Size, MatType.CV_8UC1, bytes);
                svmScores = new double[10];
                foreach (var (d, score) in svmModel.Classify(m).Ranked) svmScores[d] = score;
            }
            part[j] = new OutOfFold(logits, data.Label[s], data.Kind[s], svmScores);
        });
        if (tuning.Any) foldModels.Add((net, svmModel));
        else svmModel?.Dispose();
        oof.AddRange(part);
        var acc = part.Count(p => Array.IndexOf(p.Logits, p.Logits.Max()) == p.Label) / (double)part.Length;
        Log(FormattableString.Invariant($"fold {fold + 1}: out-of-fold accuracy {acc:P2} ({watch.Elapsed.TotalSeconds:F0} s)"));
    }

    double temperature = 1, threshold = 0.99, svmWeight = 0;
    if (oof.Count > 0)
    {
        temperature = Calibration.FitTemperature(oof);
        threshold = Calibration.ChooseThreshold(oof, temperature, target);
        Log(FormattableString.Invariant($"temperature {temperature}; confident threshold {threshold} (out of fold, at most {target:P2} wrong among confident)"));
        Log(Calibration.Table(oof, temperature, new[] { 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999, threshold }.Distinct().Order()));
        if (svm)
        {
            double both = Calibration.ChooseThreshold(oof, temperature, target, ensemble: true);
            threshold = both;
            svmWeight = 0.5;
            Log(FormattableString.Invariant($"the CNN averaged with the SVM: confident threshold {both}"));
            Log(Calibration.Table(oof, temperature, new[] { 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999, both }.Distinct().Order(), ensemble: true));
        }
    }

    if (tuning.Any && foldModels.Count == 5)
    {
        var classifiers = foldModels.Select(m => new CnnDigitClassifier(m.Net.WithCalibration(temperature, threshold, svmWeight, ""), m.Svm)).ToArray();
        var read = FormDecisionTuning.FromPhotographed(tuningForms.Select(f => (f, FormPhotoSamples.ReadWith(f, classifiers[f.Fold]))));
        if (tuning.ReadingsOut is not null) FormDecisionTuning.WriteReadings(tuning.ReadingsOut, read);
        Log(FormDecisionTuning.TailTable(read));
        Log(FormDecisionTuning.Report(read, threshold));
        foreach (var c in classifiers) c.Dispose();
    }

    if (output is not null)
    {
        if (folds < 5) { Console.Error.WriteLine("--out needs all 5 folds: the vendored model is calibrated out of fold on the whole training part"); return 2; }
        Log($"final model: training on all {data.Count:N0} samples");
        var final = CnnTrainer.Train(data, Enumerable.Range(0, data.Count).ToArray(), recipe, Log);
        string note = FormattableString.Invariant(
            $"kpu-digit-training {commandLine}; {recipe}; {augment} distortions per digit, {photographed.Count} digits read off {forms} photographed forms; trained on the bundled set's 3,500 training digits; T and threshold from 5-fold out-of-fold readings (target {target}){(svmWeight > 0 ? ", probabilities averaged with the SVM's" : "")}");
        final = final.WithCalibration(temperature, threshold, svmWeight, note);
        using (var f = File.Create(output)) final.Write(f);
        Log($"wrote {output} ({new FileInfo(output).Length:N0} bytes, sha256 {Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(output)))})");
    }
    Log($"done in {total.Elapsed.TotalMinutes:F1} min");
    return 0;
}

/// <summary>Forms to measure the form decision on, read out of fold (<see cref="FormDecisionTuning"/>).</summary>
internal sealed record TuningRequest(int PpwpForms, int DprForms, string? ReadingsOut)
{
    /// <summary>Added to the seed for the tuning forms' own seeds (PPWP once, DPR twice).</summary>
    public const int SeedOffset = 1_000_003;
    public bool Any => PpwpForms + DprForms > 0;
}
