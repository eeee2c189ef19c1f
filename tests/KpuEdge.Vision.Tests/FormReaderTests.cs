using KpuEdge.Core.Elections;
using KpuEdge.Core.Tally;
using KpuEdge.Simulator.Forms;
using KpuEdge.Vision.Digits;
using KpuEdge.Vision.Forms;
using KpuEdge.Vision.Reading;
using OpenCvSharp;

namespace KpuEdge.Vision.Tests;

[Collection(ReaderCollection.Name)]
public sealed class FormReaderTests(ReaderFixture f)
{
    private static readonly ScanExpectation AnyForm = new();

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Registers_a_photographed_page_under_rotation_and_perspective_and_reads_its_tag_from_the_QR(int seed)
    {
        var tally = f.Tally(ContestId.Ppwp, seed);
        var form = f.Fill(ContestId.Ppwp, TallyFields.ToValues(tally), seed);
        var photo = f.Photograph(form, seed)[0];

        var page = f.Scanner.Pages.Read(photo, new ScanExpectation(f.Tps, ContestId.Ppwp));

        Assert.Equal("qr", page.TagSource);
        Assert.Equal(f.Tps, page.Tag.Tps);
        Assert.Equal(ContestId.Ppwp, page.Tag.Contest);
        Assert.Equal(1, page.Tag.Page);
        // Registration is right when the fields land on their boxes: nearly every field reads its true value.
        var decided = FormDecider.Decide(f.Ballot(ContestId.Ppwp), f.Tps, f.Layout(ContestId.Ppwp), [page], new FormDecider.Settings(0.0));
        int right = decided.Fields.Count(d => d.HandwritingValue == form.Values[d.Key]);
        Assert.True(right >= decided.Fields.Count - 2, $"{right} of {decided.Fields.Count} fields read right");
    }

    [Fact]
    public void Reads_a_clean_photographed_form_and_accepts_it_only_when_every_field_is_right()
    {
        int accepted = 0;
        for (int seed = 10; seed < 16; seed++)
        {
            var tally = f.Tally(ContestId.Ppwp, seed);
            var form = f.Fill(ContestId.Ppwp, TallyFields.ToValues(tally), seed);
            var scan = f.Scanner.Scan(f.Photograph(form, seed), new ScanExpectation(f.Tps, ContestId.Ppwp));
            if (!scan.AutoAccepted) continue;
            accepted++;
            Assert.All(scan.Fields, d => Assert.Equal(form.Values[d.Key], d.Value));
            Assert.Empty(C1Validator.Validate(scan.Tally, f.Ballot(ContestId.Ppwp)));
        }
        Assert.True(accepted >= 3, $"only {accepted} of 6 clean forms were accepted without a human");
    }

    [Fact]
    public void Reads_the_printed_TPS_code_with_Tesseract_when_the_QR_is_damaged()
    {
        var tally = f.Tally(ContestId.Ppwp, 21);
        var form = f.Fill(ContestId.Ppwp, TallyFields.ToValues(tally), 21);
        var page = form.Pages[0];
        var qr = FormLayout.Frame.Qr;
        // Ink blots over the QR code: finder patterns and data destroyed.
        var random = new Random(5);
        for (int i = 0; i < 40; i++)
            Cv2.Circle(page, new Point(qr.X + random.Next(qr.Width), qr.Y + random.Next(qr.Height)), 12 + random.Next(14), Scalar.Black, -1);
        Cv2.Rectangle(page, new Rect(qr.X, qr.Y, qr.Width / 2, qr.Height / 2), Scalar.White, -1);

        var read = f.Scanner.Pages.Read(f.Photograph(form, 21)[0], new ScanExpectation(f.Tps, ContestId.Ppwp));

        Assert.Equal("ocr", read.TagSource);
        Assert.Equal(f.Tps, read.Tag.Tps);
        Assert.Equal(ContestId.Ppwp, read.Tag.Contest);
    }

    [Fact]
    public void Refuses_a_blank_image() => AssertRefused(ScanErrors.NotAForm, Encode(new Mat(1500, 2000, MatType.CV_8UC3, new Scalar(235, 235, 235))));

    [Fact]
    public void Refuses_a_random_photo()
    {
        using var photo = new Mat(1500, 2000, MatType.CV_8UC3);
        Cv2.Randu(photo, Scalar.All(0), Scalar.All(255));
        var random = new Random(3);
        for (int i = 0; i < 60; i++)
            Cv2.Rectangle(photo, new Rect(random.Next(1900), random.Next(1400), 20 + random.Next(300), 20 + random.Next(300)),
                new Scalar(random.Next(256), random.Next(256), random.Next(256)), -1);
        AssertRefused(ScanErrors.NotAForm, Encode(photo));
    }

    [Fact]
    public void Refuses_bytes_that_are_not_an_image() => AssertRefused(ScanErrors.Unreadable, [1, 2, 3, 4, 5]);

    [Fact]
    public void Refuses_an_upside_down_photo()
    {
        var form = f.Fill(ContestId.Ppwp, TallyFields.ToValues(f.Tally(ContestId.Ppwp, 31)), 31);
        AssertRefused(ScanErrors.UpsideDown, Photographer.UpsideDown(form.Pages[0], new Random(31)));
    }

    [Fact]
    public void Refuses_a_photo_that_cuts_off_part_of_the_page()
    {
        var form = f.Fill(ContestId.Ppwp, TallyFields.ToValues(f.Tally(ContestId.Ppwp, 32)), 32);
        AssertRefused(ScanErrors.CutOff, Photographer.CutOff(form.Pages[0], new Random(32)));
    }

    [Fact]
    public void Refuses_a_form_of_another_contest_or_another_TPS()
    {
        var form = f.Fill(ContestId.Dpd, TallyFields.ToValues(f.Tally(ContestId.Dpd, 33)), 33);
        var photo = f.Photograph(form, 33)[0];

        var wrongContest = Assert.Throws<ScanException>(() => f.Scanner.Pages.Read(photo, new ScanExpectation(f.Tps, ContestId.Ppwp)));
        Assert.Equal(ScanErrors.WrongContest, wrongContest.Code);
        var wrongTps = Assert.Throws<ScanException>(() => f.Scanner.Pages.Read(photo, new ScanExpectation(KpuEdge.Core.Regions.TpsCode.Parse("3273011001004"), ContestId.Dpd)));
        Assert.Equal(ScanErrors.WrongTps, wrongTps.Code);
    }

    [Fact]
    public void Refuses_a_form_set_with_a_page_missing()
    {
        var tally = f.Tally(ContestId.Dpr, 34);
        var form = f.Fill(ContestId.Dpr, TallyFields.ToValues(tally), 34);
        var photos = f.Photograph(form, 34);
        var e = Assert.Throws<ScanException>(() => f.Scanner.Scan(photos.Skip(1).ToArray(), new ScanExpectation(f.Tps, ContestId.Dpr)));
        Assert.Equal(ScanErrors.MissingPage, e.Code);
    }

    [Fact]
    public void A_misread_of_a_vote_is_mended_by_the_rules_when_no_other_digit_could_mend_them()
    {
        // Make every box read exactly its truth, confidently, then misread the tens digit of pair 2's votes the way
        // classifiers do: sure of the wrong digit, with the right one as runner-up.
        var (form, truthful) = ReadTruthfully(40);
        string key = "suara[2].total";
        int truth = form.Values[key];
        int tens = truth / 10 % 10, wrong = (tens + 3) % 10;
        var misread = WithBox(truthful, key, 1, b => b with { Handwriting = Misread(wrong, tens) });

        var clean = Decide(truthful);
        var scan = Decide(misread);

        Assert.True(clean.AutoAccepted);
        Assert.DoesNotContain(clean.Fields, d => d.RepairedByRules);
        // Σ votes = suara sah breaks; mending pair 2's own doubted tens digit is far likelier than any other reading that
        // keeps the rules (each would change a digit read with near certainty), so it is taken without a human.
        Assert.True(scan.AutoAccepted);
        var field = scan.Fields.Single(d => d.Key == key);
        Assert.True(field.RepairedByRules);
        Assert.Equal(truth, field.Value);
        Assert.Equal(truth + (wrong - tens) * 10, field.HandwritingValue);
    }

    [Fact]
    public void Mends_two_doubted_misreads_that_break_two_different_rules()
    {
        // Units digits of DPT L (breaks L + P = total) and of pair 1's votes (breaks Σ votes = suara sah), each read
        // wrongly with the truth as its close runner-up: mending both is far likelier than any other consistent reading.
        var (form, truthful) = ReadTruthfully(41);
        var misread = truthful;
        foreach (var key in new[] { "dpt.l", "suara[1].total" })
        {
            int truth = form.Values[key] % 10;
            misread = WithBox(misread, key, 2, b => b with { Handwriting = Misread((truth + 5) % 10, truth) });
        }

        var scan = Decide(misread);

        Assert.True(scan.AutoAccepted);
        Assert.Equal(["dpt.l", "suara[1].total"], scan.Fields.Where(d => d.RepairedByRules).Select(d => d.Key));
        Assert.All(scan.Fields, d => Assert.Equal(form.Values[d.Key], d.Value));
    }

    [Fact]
    public void Flags_a_form_whose_doubted_digits_add_up_to_another_reading_that_keeps_every_rule()
    {
        // Pair 1's units read one higher and pair 2's one lower than written, each doubted with the truth as runner-up:
        // what was read keeps every rule and is wrong; the truth keeps them too and is only a few times less likely.
        var (form, truthful) = ReadTruthfully(42);
        int one = form.Values["suara[1].total"] % 10, two = form.Values["suara[2].total"] % 10;
        int up = one < 9 && two > 0 ? 1 : -1;
        var read = WithBox(truthful, "suara[1].total", 2, b => b with { Handwriting = Misread(one + up, one) });
        read = WithBox(read, "suara[2].total", 2, b => b with { Handwriting = Misread(two - up, two) });

        var scan = Decide(read, confident: 0.99);

        Assert.Empty(scan.Violations); // the reading itself breaks nothing
        Assert.False(scan.AutoAccepted);
        foreach (var key in new[] { "suara[1].total", "suara[2].total" })
            Assert.Contains(FieldFlags.LowConfidence, scan.Fields.Single(d => d.Key == key).Flags);
    }

    [Fact]
    public void Does_not_mend_without_a_human_a_digit_read_with_near_certainty_however_unique_the_mend()
    {
        // Only pengguna_dpt.l's own digit mends its row and its column, but it was read with near certainty: a KPPS's
        // slip on paper is likelier than such a misread, so the KPPS decides; the mend is proposed.
        var (form, misread) = OneMisread(70, "pengguna_dpt.l", box: 2, delta: 3);
        int truth = form.Values["pengguna_dpt.l"] % 10;
        var sure = WithBox(misread, "pengguna_dpt.l", 2, b => b with { Handwriting = NearlyCertain((truth + 3) % 10) });

        var scan = Decide(sure);

        Assert.False(scan.AutoAccepted);
        Assert.DoesNotContain(scan.Fields, d => d.RepairedByRules);
        Assert.Equal(form.Values["pengguna_dpt.l"], scan.Fields.Single(d => d.Key == "pengguna_dpt.l").Proposed);
    }

    [Fact]
    public void Mends_without_a_human_a_misread_that_only_its_own_correction_can_mend()
    {
        // The voters who used the polls form a grid: each row sums L + P, each column DPT + DPTb + DPK. A misread in
        // one cell breaks its row and its column, and only that cell's own digit mends both.
        var (form, misread) = OneMisread(70, "pengguna_dpt.l", box: 2, delta: 3);

        var scan = Decide(misread);

        Assert.True(scan.AutoAccepted);
        Assert.Empty(scan.Violations);
        var field = Assert.Single(scan.Fields, d => d.RepairedByRules);
        Assert.Equal("pengguna_dpt.l", field.Key);
        Assert.NotEqual(form.Values[field.Key], field.HandwritingValue);
        Assert.All(scan.Fields, d => Assert.Equal(form.Values[d.Key], d.Value));
    }

    [Fact]
    public void Leaves_a_misread_to_a_human_when_another_doubted_digit_could_mend_the_rules_as_well()
    {
        // DPT is summed only across (L + P = total): raising L's units digit can be mended at L or at the total, and the
        // total's units digit was doubted too, with the mending digit as its runner-up.
        var (form, misread) = DptLMisreadMendableAtTheTotal(71);
        int total = form.Values["dpt.total"] % 10, raised = misread.Fields.Single(x => x.Key == "dpt.l").Boxes[2].Handwriting!.Digit - form.Values["dpt.l"] % 10;
        misread = WithBox(misread, "dpt.total", 2, b => b with { Handwriting = Misread(total, total + raised) });

        var scan = Decide(misread);

        Assert.False(scan.AutoAccepted);
        Assert.DoesNotContain(scan.Fields, d => d.RepairedByRules);
        Assert.Contains(scan.Fields.Single(d => d.Key == "dpt.l").Flags, flag => flag.StartsWith(FieldFlags.RulePrefix));
    }

    [Fact]
    public void Mends_the_doubted_digit_when_the_other_mends_would_change_digits_read_with_near_certainty()
    {
        // L + P = total can be mended at L or at the total; the classifier doubted L (truth its close runner-up) and
        // was near-certain of every other digit, so mending L is over a thousand times likelier than the others.
        var (form, misread) = DptLMisreadMendableAtTheTotal(71);
        int truth = form.Values["dpt.l"] % 10;
        var doubted = misread with
        {
            Fields = misread.Fields.Select(field => field with
            {
                Boxes = field.Boxes.Select((b, i) => b.Handwriting is not { } hw ? b
                    : field.Key == "dpt.l" && i == 2 ? b with { Handwriting = Doubted(hw.Digit, truth) }
                    : b with { Handwriting = NearlyCertain(hw.Digit) }).ToArray(),
            }).ToArray(),
        };

        var scan = Decide(doubted, confident: 0.99);

        Assert.True(scan.AutoAccepted);
        var field = Assert.Single(scan.Fields, d => d.RepairedByRules);
        Assert.Equal("dpt.l", field.Key);
        Assert.All(scan.Fields, d => Assert.Equal(form.Values[d.Key], d.Value));
    }

    [Fact]
    public void Does_not_choose_between_mends_by_the_far_tails_of_readings_the_classifier_was_sure_of()
    {
        // The same misread, but read with near certainty like every other digit: mending L or the total differ only in
        // the far tails of two sure readings, which the floor evens out (they are not calibrated there); the KPPS decides.
        var (_, misread) = DptLMisreadMendableAtTheTotal(71);
        var sure = misread with
        {
            Fields = misread.Fields.Select(field => field with
            {
                Boxes = field.Boxes.Select(b => b.Handwriting is not { } hw ? b : b with { Handwriting = NearlyCertain(hw.Digit) }).ToArray(),
            }).ToArray(),
        };

        var scan = Decide(sure);

        Assert.False(scan.AutoAccepted);
        Assert.DoesNotContain(scan.Fields, d => d.RepairedByRules);
    }

    [Fact]
    public void Overrules_a_stray_bubble_when_the_handwriting_keeps_every_rule_and_the_bubble_would_break_one()
    {
        var (form, truthful) = ReadTruthfully(73);
        int units = form.Values["pengguna_dpt.l"] % 10;
        PageRead WithStrayBubble(DigitReading? handwriting) =>
            WithBox(truthful, "pengguna_dpt.l", 2, b => b with { Bubble = (units + 3) % 10, Handwriting = handwriting ?? b.Handwriting });

        var sure = Decide(WithStrayBubble(null));
        var unsure = Decide(WithStrayBubble(Misread(units, (units + 3) % 10)), confident: 0.9);

        Assert.True(sure.AutoAccepted);
        Assert.True(sure.Fields.Single(d => d.Key == "pengguna_dpt.l").BubblesOverruledByRules);
        Assert.All(sure.Fields, d => Assert.Equal(form.Values[d.Key], d.Value));
        // handwriting the classifier doubted does not overrule the bubble, even where the rules side with it: the KPPS decides
        Assert.False(unsure.AutoAccepted);
        Assert.DoesNotContain(unsure.Fields, d => d.BubblesOverruledByRules || d.RepairedByRules);
    }

    [Fact]
    public void Does_not_overrule_bubbles_that_together_keep_the_rules()
    {
        // Disabled voters L and total both misread higher by the same, with near certainty: L + P = total still holds,
        // and so do the bubbles, which say the truth. Each field's bubbles alone break the row; together they keep it.
        var (form, truthful) = ReadTruthfully(75);
        int l = form.Values["disabilitas.l"] % 10, total = form.Values["disabilitas.total"] % 10;
        int delta = Enumerable.Range(1, 9).First(d => l + d <= 9 && total + d <= 9);
        var read = WithBox(truthful, "disabilitas.l", 2, b => b with { Handwriting = NearlyCertain(l + delta), Bubble = l });
        read = WithBox(read, "disabilitas.total", 2, b => b with { Handwriting = NearlyCertain(total + delta), Bubble = total });

        var scan = Decide(read);

        Assert.False(scan.AutoAccepted);
        Assert.DoesNotContain(scan.Fields, d => d.BubblesOverruledByRules);
        Assert.Contains(FieldFlags.BubbleDisagreement, scan.Fields.Single(d => d.Key == "disabilitas.l").Flags);
    }

    /// <summary>The decision on one read PPWP page, with the reader's settings and the given confident threshold.</summary>
    private FormScan Decide(PageRead page, double confident = 0.5) =>
        FormDecider.Decide(f.Ballot(ContestId.Ppwp), f.Tps, f.Layout(ContestId.Ppwp), [page], new FormDecider.Settings(confident));

    private static DigitReading NearlyCertain(int digit) =>
        new(digit, 0.99999, Enumerable.Range(0, 10).Select(d => (d, d == digit ? 0.99999 : 0.00001 / 9)).OrderByDescending(r => r.Item2).ToArray());

    private static DigitReading Doubted(int read, int truth) =>
        new(read, 0.55, Enumerable.Range(0, 10).Select(d => (d, d == read ? 0.55 : d == truth ? 0.44 : 0.01 / 8)).OrderByDescending(r => r.Item2).ToArray());

    [Fact]
    public void Leaves_a_misread_to_a_human_when_anything_else_on_the_form_is_flagged()
    {
        var (form, misread) = OneMisread(72, "pengguna_dpt.l", box: 2, delta: 3);
        // a second field the reader cannot settle: two bubbles filled in one column
        var ambiguous = WithBox(misread, "surat.diterima", 2, b => b with { Bubble = -1 });

        var scan = Decide(ambiguous);

        Assert.False(scan.AutoAccepted);
        Assert.DoesNotContain(scan.Fields, d => d.RepairedByRules);
        Assert.Equal(form.Values["pengguna_dpt.l"], scan.Fields.Single(d => d.Key == "pengguna_dpt.l").Proposed);
    }

    /// <summary>DPT L's units digit read higher by an amount the total's units digit could also rise by.</summary>
    private (FilledForm Form, PageRead Misread) DptLMisreadMendableAtTheTotal(int seed)
    {
        var values = TallyFields.ToValues(f.Tally(ContestId.Ppwp, seed));
        int delta = Enumerable.Range(1, 9).First(d => values["dpt.l"] % 10 + d <= 9 && values["dpt.total"] % 10 + d <= 9);
        return OneMisread(seed, "dpt.l", box: 2, delta);
    }

    /// <summary>A form read right and with near certainty except one digit, read <paramref name="delta"/> higher (mod 10)
    /// with the truth as its close runner-up.</summary>
    private (FilledForm Form, PageRead Misread) OneMisread(int seed, string key, int box, int delta)
    {
        var (form, truthful) = ReadTruthfully(seed);
        int place = (int)Math.Pow(10, 2 - box);
        int truth = form.Values[key] / place % 10;
        return (form, WithBox(truthful, key, box, b => b with { Handwriting = Misread((truth + delta) % 10, truth) }));
    }

    [Fact]
    public void Flags_bubbles_that_disagree_with_the_handwriting_unless_the_rules_side_with_the_handwriting()
    {
        var tally = f.Tally(ContestId.Ppwp, 50);
        var form = f.Fill(ContestId.Ppwp, TallyFields.ToValues(tally), 50, new FillOptions { BubbleShare = 1, WrongBubbleShare = 1, LeadingZeroShare = 0 });
        Assert.NotEmpty(form.WrongBubbles);

        var scan = f.Scanner.Scan(f.Photograph(form, 50), AnyForm);

        // Flagged for the KPPS, or — confident handwriting that keeps every rule where the bubbles' value breaks one —
        // overruled by the rules; never taken from the wrong bubble.
        foreach (var (key, _, _) in form.WrongBubbles)
        {
            var field = scan.Fields.Single(d => d.Key == key);
            Assert.True(field.Flags.Contains(FieldFlags.BubbleDisagreement) || field.BubblesOverruledByRules, key);
            if (field.BubblesOverruledByRules) Assert.Equal(form.Values[key], field.Value);
        }
        if (scan.AutoAccepted) Assert.All(scan.Fields, d => Assert.Equal(form.Values[d.Key], d.Value));
    }

    [Fact]
    public void Never_auto_accepts_a_form_whose_written_numbers_break_a_rule()
    {
        var tally = f.Tally(ContestId.Ppwp, 60);
        var values = TallyFields.ToValues(tally);
        values["suara[1].total"] += 100; // the KPPS wrote a sum that does not add up: 58 where 158 was meant, or the like
        var form = f.Fill(ContestId.Ppwp, values, 60);

        var scan = f.Scanner.Scan(f.Photograph(form, 60), AnyForm);

        Assert.False(scan.AutoAccepted);
        Assert.NotEmpty(scan.Violations);
        Assert.Contains(scan.Fields, d => d.Flags.Any(flag => flag.StartsWith(FieldFlags.RulePrefix)));
    }

    /// <summary>A PPWP form filled and photographed, its page read, then every box made to read exactly its truth,
    /// with near certainty (bubbles unread).</summary>
    private (FilledForm Form, PageRead Truthful) ReadTruthfully(int seed)
    {
        var form = f.Fill(ContestId.Ppwp, TallyFields.ToValues(f.Tally(ContestId.Ppwp, seed)), seed);
        var page = f.Scanner.Pages.Read(f.Photograph(form, seed)[0], AnyForm);
        return (form, page with { Fields = page.Fields.Select(field => Truthful(field, form.Values[field.Key])).ToArray() });
    }

    /// <summary>The page with one box of one field changed.</summary>
    private static PageRead WithBox(PageRead page, string key, int box, Func<BoxReading, BoxReading> change) => page with
    {
        Fields = page.Fields.Select(field => field.Key != key ? field : field with
        {
            Boxes = field.Boxes.Select((b, i) => i != box ? b : change(b)).ToArray(),
        }).ToArray(),
    };

    private static FieldRead Truthful(FieldRead field, int value) => field with
    {
        Boxes = field.Boxes.Select((b, i) =>
        {
            int place = (int)Math.Pow(10, field.Boxes.Count - 1 - i);
            bool written = value >= place || place == 1;
            return new BoxReading(written ? NearlyCertain(value / place % 10) : null, null, b.InkFraction);
        }).ToArray(),
    };

    private static DigitReading Misread(int wrong, int truth) =>
        new(wrong, 0.7, Enumerable.Range(0, 10).Select(d => (d, d == wrong ? 0.7 : d == truth ? 0.25 : 0.005)).OrderByDescending(r => r.Item2).ToArray());

    private void AssertRefused(string code, byte[] image)
    {
        var e = Assert.Throws<ScanException>(() => f.Scanner.Pages.Read(image, AnyForm));
        Assert.Equal(code, e.Code);
        Assert.False(string.IsNullOrWhiteSpace(e.Message));
    }

    private static byte[] Encode(Mat image)
    {
        Cv2.ImEncode(".jpg", image, out var bytes);
        return bytes;
    }
}
