using KpuEdge.Core.Elections;
using KpuEdge.Simulator.Forms;
using KpuEdge.Vision.Forms;
using OpenCvSharp;

namespace KpuEdge.Simulator.Tests;

public class FormFillerTests
{
    private static FormLayout Layout => FormSamples.PpwpLayout;
    private static IReadOnlyList<Mat> Blanks => FormSamples.PpwpBlanks;

    private static FilledForm Fill(int seed, FillOptions options, IReadOnlyDictionary<string, int>? values = null) =>
        new FormFiller(FormSamples.ScriptInk, options).Fill(Layout, Blanks, values ?? FormSamples.Values(ContestId.Ppwp, seed), new Random(seed));

    [Fact]
    public void The_same_seed_fills_the_same_pixels()
    {
        var options = new FillOptions { BubbleShare = 1 };
        using var a = Fill(3, options);
        using var b = Fill(3, options);
        using var c = new FormFiller(FormSamples.ScriptInk, options).Fill(Layout, Blanks, FormSamples.Values(ContestId.Ppwp, 3), new Random(4));
        Assert.Equal(Bytes(a.Pages[0]), Bytes(b.Pages[0]));
        Assert.NotEqual(Bytes(a.Pages[0]), Bytes(c.Pages[0]));
        Assert.Equal(Layout.Width, a.Pages[0].Width);
        Assert.Equal(Layout.Height, a.Pages[0].Height);
        Assert.Equal(MatType.CV_8UC1, a.Pages[0].Type());
    }

    [Fact]
    public void Values_are_the_truth_of_every_field_and_the_blanks_stay_untouched()
    {
        var values = FormSamples.Values(ContestId.Ppwp, 5);
        var blankBefore = Bytes(Blanks[0]);
        using var form = Fill(5, new FillOptions(), values);
        Assert.Equal(Layout.AllFields.Select(f => f.Key).Order(), form.Values.Keys.Order());
        foreach (var field in Layout.AllFields) Assert.Equal(values[field.Key], form.Values[field.Key]);
        Assert.Equal(blankBefore, Bytes(Blanks[0]));
    }

    [Fact]
    public void Missing_or_impossible_values_are_refused()
    {
        var filler = new FormFiller(FormSamples.ScriptInk);
        var values = FormSamples.Values(ContestId.Ppwp, 5);
        var missing = new Dictionary<string, int>(values);
        missing.Remove("suara_sah");
        Assert.Throws<KeyNotFoundException>(() => filler.Fill(Layout, Blanks, missing, new Random(1)));
        var tooBig = new Dictionary<string, int>(values) { ["suara_sah"] = 1000 };
        Assert.Throws<ArgumentOutOfRangeException>(() => filler.Fill(Layout, Blanks, tooBig, new Random(1)));
        Assert.Throws<ArgumentException>(() => filler.Fill(Layout, [], values, new Random(1)));
    }

    [Theory]
    [InlineData(0, false, new[] { 2 }, new[] { 0 })]
    [InlineData(7, false, new[] { 2 }, new[] { 7 })]
    [InlineData(45, false, new[] { 1, 2 }, new[] { 4, 5 })]
    [InlineData(908, false, new[] { 0, 1, 2 }, new[] { 9, 0, 8 })]
    [InlineData(0, true, new[] { 0, 1, 2 }, new[] { 0, 0, 0 })]
    [InlineData(45, true, new[] { 0, 1, 2 }, new[] { 0, 4, 5 })]
    public void Digits_are_written_right_aligned(int value, bool leadingZeros, int[] boxes, int[] digits)
    {
        var written = FormFiller.WrittenDigits(value, leadingZeros);
        Assert.Equal(boxes, written.Select(w => w.DigitIndex));
        Assert.Equal(digits, written.Select(w => w.Digit));
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    public void A_filled_page_differs_from_the_blank_only_inside_the_written_boxes_and_their_bubbles(int seed)
    {
        using var form = Fill(seed, new FillOptions { BubbleShare = 1, LeadingZeroShare = 0 });
        var page = Layout.Pages[0];
        int extent = FormFiller.BubbleExtent(Layout);
        using var allowed = new Mat(Blanks[0].Size(), MatType.CV_8UC1, Scalar.Black);
        int writtenBoxes = 0;
        foreach (var field in page.Fields)
        foreach (var (index, _) in FormFiller.WrittenDigits(form.Values[field.Key], form.LeadingZeros))
        {
            var digit = field.Digits[index];
            Cv2.Rectangle(allowed, new Rect(digit.Box.X, digit.Box.Y, digit.Box.Width, digit.Box.Height), Scalar.White, -1);
            foreach (var bubble in digit.Bubbles)
                Cv2.Rectangle(allowed, new Rect(bubble.X - extent, bubble.Y - extent, 2 * extent + 1, 2 * extent + 1), Scalar.White, -1);
            writtenBoxes++;
            Assert.True(FormSamples.InkPixels(form.Pages[0], digit.Box) > 40, $"{field.Key} box {index} has no ink");
        }
        Assert.True(writtenBoxes >= page.Fields.Count);

        using var diff = new Mat();
        Cv2.Absdiff(form.Pages[0], Blanks[0], diff);
        using var outside = new Mat();
        Cv2.BitwiseNot(allowed, outside);
        using var changedOutside = new Mat();
        Cv2.BitwiseAnd(diff, outside, changedOutside);
        Assert.Equal(0, Cv2.CountNonZero(changedOutside));
        // And the ink is really there: a few hundred changed pixels per written box.
        Assert.True(Cv2.CountNonZero(diff) > writtenBoxes * 100);
    }

    [Fact]
    public void Leading_zeros_are_written_on_some_forms_and_left_blank_on_the_others()
    {
        var values = Layout.AllFields.Select((f, i) => (f.Key, Value: i % 3 == 0 ? 0 : i % 3 == 1 ? 7 : 45))
            .ToDictionary(v => v.Key, v => v.Value);
        using var zeros = Fill(21, new FillOptions { LeadingZeroShare = 1, BubbleShare = 0 }, values);
        using var blanks = Fill(21, new FillOptions { LeadingZeroShare = 0, BubbleShare = 0 }, values);
        Assert.True(zeros.LeadingZeros);
        Assert.False(blanks.LeadingZeros);
        foreach (var field in Layout.Pages[0].Fields)
        {
            int value = values[field.Key];
            int[] zerosInk = field.Digits.Select(d => FormSamples.InkPixels(zeros.Pages[0], d.Box)).ToArray();
            int[] blankInk = field.Digits.Select(d => FormSamples.InkPixels(blanks.Pages[0], d.Box)).ToArray();
            Assert.All(zerosInk, ink => Assert.True(ink > 40, $"{field.Key} ({value}) with leading zeros: {string.Join(",", zerosInk)}"));
            int written = value.ToString().Length;
            for (int i = 0; i < FormLayout.DigitsPerField; i++)
            {
                if (i >= FormLayout.DigitsPerField - written) Assert.True(blankInk[i] > 40, $"{field.Key} ({value}) box {i} should be written");
                else Assert.Equal(0, blankInk[i]);
            }
        }
    }

    [Fact]
    public void Bubbles_are_filled_at_the_written_digit_and_nowhere_else()
    {
        var options = new FillOptions { BubbleShare = 1, WrongBubbleShare = 0 };
        for (int seed = 30; seed < 33; seed++)
        {
            using var form = Fill(seed, options);
            Assert.True(form.BubblesFilled);
            Assert.Empty(form.WrongBubbles);
            foreach (var field in Layout.Pages[0].Fields)
            {
                var written = FormFiller.WrittenDigits(form.Values[field.Key], form.LeadingZeros).ToDictionary(w => w.DigitIndex, w => w.Digit);
                for (int index = 0; index < FormLayout.DigitsPerField; index++)
                {
                    var means = field.Digits[index].Bubbles.ToDictionary(b => b.Digit, b => FormSamples.BubbleMean(form.Pages[0], b, Layout.BubbleRadius));
                    if (!written.TryGetValue(index, out int digit))
                    {
                        Assert.All(means.Values, m => Assert.True(m > 225, $"{field.Key} box {index}: an unwritten column has a dark bubble ({m:F0})"));
                        continue;
                    }
                    Assert.True(means[digit] < 200, $"{field.Key} box {index}: bubble {digit} is light ({means[digit]:F0})");
                    foreach (var (other, mean) in means.Where(m => m.Key != digit))
                        Assert.True(mean > 225, $"{field.Key} box {index}: bubble {other} is dark ({mean:F0}) though {digit} was written");
                }
            }
        }
    }

    [Fact]
    public void Forms_without_bubbles_leave_every_bubble_empty()
    {
        using var form = Fill(40, new FillOptions { BubbleShare = 0, WrongBubbleShare = 1 });
        Assert.False(form.BubblesFilled);
        Assert.Empty(form.WrongBubbles);
        foreach (var bubble in Layout.Pages[0].Fields.SelectMany(f => f.Digits).SelectMany(d => d.Bubbles))
            Assert.True(FormSamples.BubbleMean(form.Pages[0], bubble, Layout.BubbleRadius) > 225);
    }

    [Fact]
    public void Wrong_bubbles_are_recorded_exactly_when_drawn()
    {
        var options = new FillOptions { BubbleShare = 1, WrongBubbleShare = 0.5 };
        int withWrong = 0;
        for (int seed = 50; seed < 58; seed++)
        {
            using var form = Fill(seed, options);
            // Read every column's darkest bubble and compare it with the handwriting's digit.
            var disagreeing = new List<(string, int, int)>();
            foreach (var field in Layout.Pages[0].Fields)
            foreach (var (index, digit) in FormFiller.WrittenDigits(form.Values[field.Key], form.LeadingZeros))
            {
                var darkest = field.Digits[index].Bubbles.MinBy(b => FormSamples.BubbleMean(form.Pages[0], b, Layout.BubbleRadius))!;
                if (darkest.Digit != digit) disagreeing.Add((field.Key, index, darkest.Digit));
            }
            Assert.Equal(disagreeing, form.WrongBubbles.Select(w => (w.FieldKey, w.DigitIndex, w.BubbleDigit)).ToList());
            Assert.True(form.WrongBubbles.Count <= 1);
            if (form.WrongBubbles.Count == 1)
            {
                withWrong++;
                var (key, index, bubbleDigit) = form.WrongBubbles[0];
                int written = FormFiller.WrittenDigits(form.Values[key], form.LeadingZeros).Single(w => w.DigitIndex == index).Digit;
                Assert.NotEqual(written, bubbleDigit);
            }
        }
        Assert.InRange(withWrong, 1, 7); // half of the forms, give or take
    }

    [Fact]
    public void Every_page_of_a_multi_page_form_is_filled()
    {
        var (layout, blanks) = FormSamples.Form(ContestId.Dpr);
        try
        {
            var values = FormSamples.Values(ContestId.Dpr, 8);
            using var form = new FormFiller(FormSamples.ScriptInk, new FillOptions { LeadingZeroShare = 1 }).Fill(layout, blanks, values, new Random(8));
            Assert.Equal(layout.Pages.Count, form.Pages.Count);
            Assert.True(form.Pages.Count > 1);
            for (int p = 0; p < layout.Pages.Count; p++)
            foreach (var field in layout.Pages[p].Fields)
                Assert.All(field.Digits, d => Assert.True(FormSamples.InkPixels(form.Pages[p], d.Box) > 40, $"page {p + 1} {field.Key}"));
        }
        finally
        {
            foreach (var blank in blanks) blank.Dispose();
        }
    }

    [Fact]
    public void Ink_from_a_labelled_digit_set_is_drawn_by_label()
    {
        var samples = Enumerable.Range(0, 10).Select(d => (FormSamples.ScriptInk(d, new Random(d)), d)).ToList();
        try
        {
            var ink = DigitInks.FromSamples(samples);
            using var drawn = ink(7, new Random(1));
            Assert.Equal(Bytes(samples[7].Item1), Bytes(drawn));
            Assert.Throws<ArgumentException>(() => DigitInks.FromSamples(samples.Take(9)));
        }
        finally
        {
            foreach (var (mat, _) in samples) mat.Dispose();
        }
    }

    internal static byte[] Bytes(Mat mat)
    {
        using var copy = mat.Clone(); // continuous
        copy.GetArray(out byte[] data);
        return data;
    }
}
