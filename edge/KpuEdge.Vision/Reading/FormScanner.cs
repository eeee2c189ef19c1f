using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Vision.Digits;

namespace KpuEdge.Vision.Reading;

/// <summary>The device's form reader: photos of a contest's pages in, a decided <see cref="FormScan"/> out.</summary>
public sealed class FormScanner : IDisposable
{
    private readonly IDigitClassifier _classifier;
    private readonly RegionTree _tree;
    private readonly ElectionDefinition _election;
    private readonly TpsCodeOcr? _ocr;
    private readonly PageReader _pages;

    public FormScanner(IDigitClassifier classifier, RegionTree tree, ElectionDefinition election, TpsCodeOcr? ocr)
    {
        _classifier = classifier;
        _tree = tree;
        _election = election;
        _ocr = ocr;
        _pages = new PageReader(classifier, tree, election, ocr);
    }

    /// <summary>The device's reader: the vendored CNN with the SVM beside it (<see cref="CnnDigitClassifier.LoadDefault"/>:
    /// the SVM loaded from its cache, or trained once), or the given classifier; and Tesseract's data.</summary>
    public static FormScanner CreateDefault(RegionTree tree, ElectionDefinition election, IDigitClassifier? classifier = null) =>
        new(classifier ?? CnnDigitClassifier.LoadDefault(), tree, election, TpsCodeOcr.TryCreate());

    public PageReader Pages => _pages;

    /// <summary>Reads every page photo of one contest's form (any order) and decides every field.</summary>
    public FormScan Scan(IReadOnlyList<byte[]> pageImages, ScanExpectation? expected = null)
    {
        if (pageImages.Count == 0) throw new ArgumentException("No page images.", nameof(pageImages));
        var reads = pageImages.Select(image => _pages.Read(image, expected)).ToArray();
        var first = reads[0].Tag;
        foreach (var read in reads)
        {
            if (read.Tag.Contest != first.Contest)
                throw new ScanException(ScanErrors.WrongContest, $"Halaman dari formulir berbeda: {first.Contest.Slug()} dan {read.Tag.Contest.Slug()}.");
            if (read.Tag.Tps != first.Tps)
                throw new ScanException(ScanErrors.WrongTps, $"Halaman dari TPS berbeda: {first.Tps} dan {read.Tag.Tps}.");
        }
        var ballot = _election.Ballots(_tree).For(first.Contest, first.Tps)!;
        return FormDecider.Decide(ballot, first.Tps, _pages.LayoutFor(ballot), reads, new FormDecider.Settings(_classifier.ConfidentThreshold));
    }

    public void Dispose()
    {
        _pages.Dispose();
        _ocr?.Dispose();
        _classifier.Dispose();
    }
}
