using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Simulator.Forms;
using KpuEdge.Vision.Digits;
using KpuEdge.Vision.Forms;
using KpuEdge.Vision.Reading;
using OpenCvSharp;

namespace KpuEdge.DigitTraining;

/// <summary>
/// Training digits as the device really sees them: PPWP forms filled with the bundled set's <i>training</i> digits
/// by the simulator's pen (<see cref="FormFiller"/>), photographed (<see cref="Photographer"/>) and read back by the
/// real <see cref="PageReader"/> — registration, box crop, blank test and <see cref="DigitNormalizer"/> — whose
/// classifier here only records the normalized image it is given. Form f draws its digits only from the training
/// digits of fold f mod 5, so a fold's model never trains on a digit it is calibrated on. Deterministic.
/// </summary>
internal static class FormPhotoSamples
{
    public sealed record Sample(byte[] Pixels, int Label, int Fold);

    public static List<Sample> Make(IReadOnlyList<(Mat Raw, int Label)> training, IReadOnlyList<int> foldOfDigit, int forms, int seed)
    {
        var tree = RegionTree.LoadEmbedded();
        var election = ElectionDefinition.Default;
        var ballots = election.Ballots(tree);
        var allTps = tree.TpsIn(RegionCode.Nasional).Where(t => election.ContestsAt(t).Contains(ContestId.Ppwp)).ToArray();
        // ink on paper (as the held-out digits are drawn for the benchmark), one pen source per fold
        var ink = training.Select(t => { var m = new Mat(); Cv2.BitwiseNot(t.Raw, m); return (InkOnPaper: m, t.Label); }).ToArray();
        var pens = Enumerable.Range(0, 5).Select(fold => DigitInks.FromSamples(ink.Where((_, i) => foldOfDigit[i] == fold))).ToArray();

        var perForm = new List<Sample>[forms];
        const int Workers = 2;
        Parallel.For(0, Workers, worker =>
        {
            var recorder = new Recorder();
            using var reader = new PageReader(recorder, tree, election, ocr: null);
            for (int f = worker; f < forms; f += Workers)
            {
                int fold = f % 5;
                var random = new Random(unchecked(seed * 7919 + f));
                var filler = new FormFiller(pens[fold]);
                var tps = allTps[random.Next(allTps.Length)];
                var ballot = ballots.For(ContestId.Ppwp, tps)!;
                var tally = SyntheticTally.ForTps(tps, ballots, election, seed + f).Single(t => t.Contest == ContestId.Ppwp);
                var layout = reader.LayoutFor(ballot);
                var blank = FormRenderer.RenderAll(layout, tps, tree);
                var filled = filler.Fill(layout, blank, TallyFields.ToValues(tally), random);
                var photo = Photographer.PhotographJpeg(filled.Pages[0], random);
                foreach (var m in blank) m.Dispose();
                foreach (var m in filled.Pages) m.Dispose();
                recorder.Seen.Clear();
                var samples = new List<Sample>();
                try
                {
                    var page = reader.Read(photo);
                    int next = 0;
                    foreach (var field in page.Fields)
                    {
                        int truth = filled.Values[field.Key];
                        for (int b = 0; b < field.Boxes.Count; b++)
                        {
                            if (field.Boxes[b].Handwriting is null) continue;
                            var pixels = recorder.Seen[next++];
                            int place = (int)Math.Pow(10, field.Boxes.Count - 1 - b);
                            bool written = filled.LeadingZeros || truth >= place || place == 1;
                            if (written) samples.Add(new Sample(pixels, truth / place % 10, fold));
                        }
                    }
                }
                catch (ScanException)
                {
                    // a photo the reader refuses gives no samples
                }
                perForm[f] = samples;
            }
        });
        foreach (var (m, _) in ink) m.Dispose();
        return perForm.SelectMany(s => s).ToList();
    }

    /// <summary>Keeps every normalized digit it is asked about; answers "0, unsure".</summary>
    private sealed class Recorder : IDigitClassifier
    {
        private static readonly DigitReading Nothing = new(0, 0, Enumerable.Range(0, 10).Select(d => (d, 0.1)).ToArray());
        public List<byte[]> Seen { get; } = [];
        public double ConfidentThreshold => 1;

        public DigitReading Classify(Mat normalized)
        {
            normalized.GetArray(out byte[] b);
            Seen.Add(b);
            return Nothing;
        }

        public void Dispose() { }
    }
}
