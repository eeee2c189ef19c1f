using OpenCvSharp;

namespace KpuEdge.Simulator.Forms;

/// <summary>
/// Supplies a handwritten digit as DARK ink on LIGHT paper (CV_8UC1, any size) for a label; the caller owns the Mat.
/// </summary>
public delegate Mat DigitInk(int digit, Random random);

/// <summary>How the simulated KPPS member fills a form.</summary>
public sealed record FillOptions
{
    /// <summary>Share of forms whose KPPS also fills the bubbles.</summary>
    public double BubbleShare { get; init; } = 0.5;

    /// <summary>Of the forms with bubbles, share with one bubble column filled with a wrong digit.</summary>
    public double WrongBubbleShare { get; init; } = 0.05;

    /// <summary>
    /// Share of forms where leading zeros are written (e.g. "007"); on the others the leading boxes stay blank and
    /// 0 itself is written as one "0" in the units box.
    /// </summary>
    public double LeadingZeroShare { get; init; } = 0.3;
}

/// <summary>
/// A filled C.Hasil form: the pages with the handwriting (grayscale, the size of the blank pages) and the truth
/// they were filled from. Owns its page Mats; dispose it (or the pages) when done.
/// </summary>
/// <param name="Pages">Grayscale pages, same size as the blank ones.</param>
/// <param name="Values">The true value of every field key.</param>
/// <param name="BubblesFilled">Whether the bubble columns of the written digits were filled.</param>
/// <param name="LeadingZeros">Whether leading zeros were written (else leading boxes are blank).</param>
/// <param name="WrongBubbles">Bubbles deliberately disagreeing with the handwriting: the field, the box index
/// (0 hundreds, 1 tens, 2 units) and the digit whose bubble was filled instead of the written one.</param>
public sealed record FilledForm(
    IReadOnlyList<Mat> Pages,
    IReadOnlyDictionary<string, int> Values,
    bool BubblesFilled,
    bool LeadingZeros,
    IReadOnlyList<(string FieldKey, int DigitIndex, int BubbleDigit)> WrongBubbles) : IDisposable
{
    public void Dispose()
    {
        foreach (var page in Pages) page.Dispose();
    }
}

/// <summary>Ready-made <see cref="DigitInk"/> sources.</summary>
public static class DigitInks
{
    /// <summary>
    /// Draws a random sample of the wanted label from a labelled set of digit images (dark ink on light paper, e.g.
    /// <c>DigitSet.LoadBundled().HeldOutInk</c>). The returned Mat is a copy the caller owns; the samples stay the
    /// caller's and must outlive the delegate.
    /// </summary>
    public static DigitInk FromSamples(IEnumerable<(Mat InkOnPaper, int Label)> samples)
    {
        var byLabel = new Mat[10][];
        var grouped = samples.GroupBy(s => s.Label).ToDictionary(g => g.Key, g => g.Select(s => s.InkOnPaper).ToArray());
        for (int d = 0; d < 10; d++)
        {
            if (!grouped.TryGetValue(d, out var list) || list.Length == 0)
                throw new ArgumentException($"The digit set has no sample of the digit {d}.", nameof(samples));
            byLabel[d] = list;
        }
        return (digit, random) =>
        {
            var list = byLabel[digit];
            return list[random.Next(list.Length)].Clone();
        };
    }
}
