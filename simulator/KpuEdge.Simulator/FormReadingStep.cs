using System.Diagnostics;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using KpuEdge.Simulator.Forms;
using KpuEdge.Vision.Digits;
using KpuEdge.Vision.Forms;
using KpuEdge.Vision.Reading;

namespace KpuEdge.Simulator;

/// <summary>
/// Election night at a few TPS, on paper: the KPPS fills the printed PPWP form by hand (held-out real digits),
/// the device photographs and reads it, the KPPS checks the fields the device flagged against the paper, and the
/// confirmed numbers are signed bound to the photo's hash. Shows the reader inside the end-to-end run.
/// </summary>
public static class FormReadingStep
{
    public sealed record Summary(int Forms, int AutoAccepted, int Flagged, int FlaggedFields, int FieldsReadRight, int Fields, int UndetectedWrong, double MsPerPage);

    public static (IReadOnlyList<SimulatedDevice> Devices, Summary Summary) Apply(
        IReadOnlyList<SimulatedDevice> devices, int count, RegionTree tree, ElectionDefinition election, int seed)
    {
        var ballots = election.Ballots(tree);
        var ink = DigitInks.FromSamples(DigitSet.LoadBundled().HeldOutInk);
        var filler = new FormFiller(ink);
        var random = new Random(seed);
        using var scanner = FormScanner.CreateDefault(tree, election);
        int accepted = 0, flagged = 0, flaggedFields = 0, right = 0, fields = 0, undetected = 0;
        double ms = 0;
        var result = devices.ToArray();
        for (int i = 0; i < Math.Min(count, result.Length); i++)
        {
            var device = result[i];
            var tally = device.Tallies.Single(t => t.Contest == ContestId.Ppwp);
            var layout = scanner.Pages.LayoutFor(ballots.For(ContestId.Ppwp, device.Identity.Tps)!);
            using var form = filler.Fill(layout, FormRenderer.RenderAll(layout, device.Identity.Tps, tree), TallyFields.ToValues(tally), random);
            var photos = form.Pages.Select(p => Photographer.PhotographJpeg(p, random)).ToArray();
            var watch = Stopwatch.StartNew();
            var scan = scanner.Scan(photos, new ScanExpectation(device.Identity.Tps, ContestId.Ppwp));
            ms += watch.Elapsed.TotalMilliseconds / photos.Length;
            fields += scan.Fields.Count;
            right += scan.Fields.Count(f => f.Value == form.Values[f.Key]);
            bool allRight = scan.Fields.All(f => f.Value == form.Values[f.Key]);
            if (scan.AutoAccepted)
            {
                accepted++;
                if (!allRight) undetected++;
            }
            else
            {
                flagged++;
                flaggedFields += scan.Flagged.Count();
            }
            // What is signed: the device's reading when it accepted the form by itself (right or not: no human looked);
            // otherwise the numbers the KPPS confirmed against the paper (here: the true numbers the pen wrote).
            var confirmed = scan.AutoAccepted ? scan.Tally : tally;
            var hashes = new Dictionary<ContestId, Sha256Hash>(device.ImageHashes) { [ContestId.Ppwp] = Sha256Hash.FromBytes(FormDecider.ImageHash(photos)) };
            result[i] = device with
            {
                Tallies = device.Tallies.Select(t => t.Contest == ContestId.Ppwp ? confirmed : t).ToArray(),
                ImageHashes = hashes,
            };
        }
        int forms = Math.Min(count, result.Length);
        return (result, new Summary(forms, accepted, flagged, flaggedFields, right, fields, undetected, forms == 0 ? 0 : ms / forms));
    }
}
