using System.Security.Cryptography;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Edge.Device;
using KpuEdge.Simulator.Forms;
using KpuEdge.Vision.Digits;
using KpuEdge.Vision.Forms;
using KpuEdge.Vision.Reading;

namespace KpuEdge.Edge.Tests;

public sealed class ScanToSubmissionTests
{
    [Fact]
    public void Binds_the_SHA256_of_the_photographed_form_into_the_signed_submission()
    {
        var tree = RegionTree.LoadEmbedded();
        var election = ElectionDefinition.Default;
        var tps = TpsCode.Parse("3273011001003");
        var ballots = election.Ballots(tree);
        var tally = SyntheticTally.ForTps(tps, ballots, election, 8).Single(t => t.Contest == ContestId.Ppwp);
        var ink = DigitSet.LoadBundled().HeldOutInk.GroupBy(d => d.Label).ToDictionary(g => g.Key, g => g.Select(d => d.InkOnPaper).ToArray());
        using var scanner = FormScanner.CreateDefault(tree, election);
        var layout = scanner.Pages.LayoutFor(ballots.For(ContestId.Ppwp, tps)!);
        var random = new Random(8);
        var form = new FormFiller((digit, r) => ink[digit][r.Next(ink[digit].Length)].Clone())
            .Fill(layout, FormRenderer.RenderAll(layout, tps, tree), TallyFields.ToValues(tally), random);
        var photo = Photographer.PhotographJpeg(form.Pages[0], random);

        var scan = scanner.Scan([photo], new ScanExpectation(tps, ContestId.Ppwp));
        // Whatever the reader decided, the numbers signed are those the KPPS confirmed: here, the truth.
        var confirmed = scan.AutoAccepted ? scan.Tally : tally;
        var device = new DeviceIdentity("dev-scan", tps, DeviceKey.Deterministic("dev-scan", 1));
        var signed = new FormSigner(device, election, ballots, TimeProvider.System).Sign(confirmed, Sha256Hash.FromBytes(FormDecider.ImageHash([photo])));

        var decoded = SignedSubmission.Decode(signed.Wire).Submission;
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(photo)), decoded.ImageHash.ToString());
        Assert.True(SignedSubmission.Decode(signed.Wire).VerifySignature(device.Key.PublicKey));
    }

    [Fact]
    public void Hashes_a_multi_page_form_as_the_hash_of_its_page_hashes_in_order()
    {
        byte[] a = [1, 2, 3], b = [4, 5];
        var expected = SHA256.HashData([.. SHA256.HashData(a), .. SHA256.HashData(b)]);
        Assert.Equal(expected, FormDecider.ImageHash([a, b]));
        Assert.NotEqual(expected, FormDecider.ImageHash([b, a]));
    }
}
