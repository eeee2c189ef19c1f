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
/// Training digits as the device really sees them: forms filled with the bundled set's <i>training</i> digits by the
/// simulator's pen (<see cref="FormFiller"/>), photographed (<see cref="Photographer"/>) and read back by the real
/// <see cref="PageReader"/> — registration, box crop, blank test and <see cref="DigitNormalizer"/> — whose classifier
/// here only records the normalized image it is given. Form f draws its digits only from the training digits of fold
/// f mod 5, so a fold's model never trains on, nor is calibrated or tuned on, a digit of its own fold. Deterministic.
/// </summary>
internal static class FormPhotoSamples
{
    public sealed record Sample(byte[] Pixels, int Label, int Fold);

    /// <summary>One photographed form as the reader saw it: its pages read with the recording classifier (every
    /// written box's reading a placeholder), the normalized image of each box that had ink, in reading order, and the
    /// truth it was filled from.</summary>
    public sealed record PhotographedForm(int Fold, Ballot Ballot, TpsCode Tps, FormLayout Layout, IReadOnlyList<PageRead> Pages,
        IReadOnlyList<byte[]> Inked, IReadOnlyDictionary<string, int> Truth, bool LeadingZeros);

    /// <summary>The training samples of photographed PPWP forms (<c>--forms</c>): each written digit with its truth.</summary>
    public static List<Sample> Make(IReadOnlyList<(Mat Raw, int Label)> training, IReadOnlyList<int> foldOfDigit, int forms, int seed) =>
        Photograph(training, foldOfDigit, ContestId.Ppwp, forms, seed).SelectMany(Samples).ToList();

    private static IEnumerable<Sample> Samples(PhotographedForm form)
    {
        int next = 0;
        foreach (var field in form.Pages.SelectMany(p => p.Fields))
        {
            int truth = form.Truth[field.Key];
            for (int b = 0; b < field.Boxes.Count; b++)
            {
                if (field.Boxes[b].Handwriting is null) continue;
                var pixels = form.Inked[next++];
                int place = (int)Math.Pow(10, field.Boxes.Count - 1 - b);
                bool written = form.LeadingZeros || truth >= place || place == 1;
                if (written) yield return new Sample(pixels, truth / place % 10, form.Fold);
            }
        }
    }

    /// <summary>
    /// <paramref name="forms"/> forms of <paramref name="contest"/> filled with training digits (form f with those of
    /// fold f mod 5), photographed and read back; a form whose photo the reader refuses is left out.
    /// </summary>
    public static List<PhotographedForm> Photograph(IReadOnlyList<(Mat Raw, int Label)> training, IReadOnlyList<int> foldOfDigit,
        ContestId contest, int forms, int seed)
    {
        var tree = RegionTree.LoadEmbedded();
        var election = ElectionDefinition.Default;
        var ballots = election.Ballots(tree);
        var allTps = tree.TpsIn(RegionCode.Nasional).Where(t => election.ContestsAt(t).Contains(contest)).ToArray();
        // ink on paper (as the held-out digits are drawn for the benchmark), one pen source per fold
        var ink = training.Select(t => { var m = new Mat(); Cv2.BitwiseNot(t.Raw, m); return (InkOnPaper: m, t.Label); }).ToArray();
        var pens = Enumerable.Range(0, 5).Select(fold => DigitInks.FromSamples(ink.Where((_, i) => foldOfDigit[i] == fold))).ToArray();

        var made = new PhotographedForm?[forms];
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
                var ballot = ballots.For(contest, tps)!;
                var tally = SyntheticTally.ForTps(tps, ballots, election, seed + f).Single(t => t.Contest == contest);
                var layout = reader.LayoutFor(ballot);
                var blank = FormRenderer.RenderAll(layout, tps, tree);
                var filled = filler.Fill(layout, blank, TallyFields.ToValues(tally), random);
                var photos = filled.Pages.Select(p => Photographer.PhotographJpeg(p, random)).ToArray();
                foreach (var m in blank) m.Dispose();
                foreach (var m in filled.Pages) m.Dispose();
                recorder.Seen.Clear();
                try
                {
                    var pages = photos.Select(photo => reader.Read(photo)).ToArray();
                    made[f] = new PhotographedForm(fold, ballot, tps, layout, pages, recorder.Seen.ToArray(), filled.Values, filled.LeadingZeros);
                }
                catch (ScanException)
                {
                    // a photo the reader refuses gives no form
                }
            }
        });
        foreach (var (m, _) in ink) m.Dispose();
        return made.OfType<PhotographedForm>().ToList();
    }

    /// <summary>The form's pages with every inked box read by <paramref name="classifier"/> (in place of the recorder's
    /// placeholders).</summary>
    public static IReadOnlyList<PageRead> ReadWith(PhotographedForm form, IDigitClassifier classifier)
    {
        int next = 0;
        return form.Pages.Select(page => page with
        {
            Fields = page.Fields.Select(field => field with
            {
                Boxes = field.Boxes.Select(box =>
                {
                    if (box.Handwriting is null) return box;
                    using var m = Mat.FromPixelData(DigitNormalizer.Size, DigitNormalizer.Size, MatType.CV_8UC1, form.Inked[next++]);
                    return box with { Handwriting = classifier.Classify(m) };
                }).ToArray(),
            }).ToArray(),
        }).ToArray();
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
