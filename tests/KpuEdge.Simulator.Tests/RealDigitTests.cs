using KpuEdge.Core.Elections;
using KpuEdge.Simulator.Forms;
using KpuEdge.Vision.Forms;
using OpenCvSharp;
using Xunit.Abstractions;

namespace KpuEdge.Simulator.Tests;

/// <summary>Fills a form with real handwriting: the held-out part of the bundled OpenCV digits.</summary>
public class RealDigitTests(ITestOutputHelper output)
{
    [Fact]
    public void A_form_filled_with_real_handwritten_digits_has_ink_in_exactly_the_written_boxes()
    {
        var samples = KpuEdge.Vision.Digits.DigitSet.LoadBundled().HeldOutInk;
        output.WriteLine($"{samples.Count} held-out digits");
        {
            var layout = FormSamples.PpwpLayout;
            var values = FormSamples.Values(ContestId.Ppwp, 9);
            using var form = new FormFiller(DigitInks.FromSamples(samples), new FillOptions { BubbleShare = 1, LeadingZeroShare = 0 })
                .Fill(layout, FormSamples.PpwpBlanks, values, new Random(9));
            foreach (var field in layout.Pages[0].Fields)
            {
                var written = FormFiller.WrittenDigits(values[field.Key], leadingZeros: false).Select(w => w.DigitIndex).ToHashSet();
                for (int i = 0; i < FormLayout.DigitsPerField; i++)
                {
                    int ink = FormSamples.InkPixels(form.Pages[0], field.Digits[i].Box);
                    if (written.Contains(i)) Assert.True(ink > 40, $"{field.Key} box {i}: {ink} ink pixels");
                    else Assert.Equal(0, ink);
                }
            }
            var jpeg = Photographer.PhotographJpeg(form.Pages[0], new Random(9));
            using var photo = Cv2.ImDecode(jpeg, ImreadModes.Color);
            var markers = FormSamples.Markers(photo);
            Assert.All(layout.Pages[0].Markers, m => Assert.True(markers.ContainsKey(m.Id)));

            string? folder = Environment.GetEnvironmentVariable("KPU_SIM_SAMPLES");
            if (!string.IsNullOrEmpty(folder))
            {
                Directory.CreateDirectory(folder);
                Cv2.ImWrite(Path.Combine(folder, "real-digits-filled.png"), form.Pages[0]);
                File.WriteAllBytes(Path.Combine(folder, "real-digits-photo.jpg"), jpeg);
            }
        }
    }
}
