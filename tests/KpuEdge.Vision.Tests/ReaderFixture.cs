using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Simulator.Forms;
using KpuEdge.Vision.Digits;
using KpuEdge.Vision.Forms;
using KpuEdge.Vision.Reading;
using OpenCvSharp;

namespace KpuEdge.Vision.Tests;

/// <summary>One form scanner (classifier trained once, cached) and synthetic forms made from held-out real digits.</summary>
public sealed class ReaderFixture : IDisposable
{
    public RegionTree Tree { get; } = RegionTree.LoadEmbedded();
    public ElectionDefinition Election { get; } = ElectionDefinition.Default;
    public FormScanner Scanner { get; }
    public TpsCode Tps { get; } = TpsCode.Parse("3273011001003");
    private readonly Dictionary<int, Mat[]> _ink;

    public ReaderFixture()
    {
        Scanner = FormScanner.CreateDefault(Tree, Election);
        _ink = DigitSet.LoadBundled().HeldOutInk.GroupBy(d => d.Label).ToDictionary(g => g.Key, g => g.Select(d => d.InkOnPaper).ToArray());
    }

    public Mat Ink(int digit, Random random) => _ink[digit][random.Next(_ink[digit].Length)].Clone();

    public Ballot Ballot(ContestId contest) => Election.Ballots(Tree).For(contest, Tps)!;

    public C1Tally Tally(ContestId contest, int seed) =>
        SyntheticTally.ForTps(Tps, Election.Ballots(Tree), Election, seed).Single(t => t.Contest == contest);

    public FormLayout Layout(ContestId contest) => Scanner.Pages.LayoutFor(Ballot(contest));

    public IReadOnlyList<Mat> Blank(ContestId contest) => FormRenderer.RenderAll(Layout(contest), Tps, Tree);

    /// <summary>A filled form (one entry per page) for the given values.</summary>
    public FilledForm Fill(ContestId contest, IReadOnlyDictionary<string, int> values, int seed, FillOptions? options = null) =>
        new FormFiller(Ink, options).Fill(Layout(contest), Blank(contest), values, new Random(seed));

    public byte[][] Photograph(FilledForm form, int seed)
    {
        var random = new Random(seed);
        return form.Pages.Select(p => Photographer.PhotographJpeg(p, random)).ToArray();
    }

    public void Dispose() => Scanner.Dispose();
}

[CollectionDefinition(Name)]
public sealed class ReaderCollection : ICollectionFixture<ReaderFixture>
{
    public const string Name = "reader";
}
