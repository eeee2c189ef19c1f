using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Transparency;
using KpuEdge.Edge.Commands;
using KpuEdge.Verify;
using OpenCvSharp;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// kpu-verify's checks against the real cloud's API, trusting nothing from it but what its signatures prove: a
/// witness can take the QR the device shows, photograph it, and prove the form is signed by a genuine device and is
/// in the log; an auditor can recompute the whole log; a forged log key is caught.
/// </summary>
public sealed class VerifierAgainstCloudTests(CloudFixture fixture) : IClassFixture<CloudFixture>
{
    private static readonly TpsCode Tps = CloudFixture.Tree.TpsIn(RegionCode.Parse("6471")).First(); // Kota Balikpapan

    private TrustAnchors Anchors => new(fixture.Pki.Pki.Root.Certificate.ToPem(), fixture.Pki.Pki.Issuing.Certificate.ToPem());

    private Verifier Verifier => new(fixture.Http);

    private async Task<(TestDevice Device, IReadOnlyList<SignedSubmission> Forms)> SubmitAsync(params ContestId[] contests)
    {
        var device = fixture.NewDevice(Tps);
        var forms = contests.Select(c => device.Next(c)).ToList();
        await using var client = await device.ConnectAsync();
        foreach (var form in forms)
            Assert.Equal(ReceiptStatus.Accepted, (await client.SubmitAsync(form, TimeSpan.FromSeconds(30))).Status);
        return (device, forms);
    }

    private static void AssertOk(VerificationReport report)
    {
        using var text = new StringWriter();
        report.WriteHuman(text);
        Assert.True(report.Ok, text.ToString());
        Assert.Equal(VerificationReport.ExitOk, report.ExitCode);
    }

    [Fact]
    public async Task A_witness_checks_a_photographed_QR_against_the_log_with_only_the_root_and_the_log_key()
    {
        var (_, forms) = await SubmitAsync(ContestId.Ppwp);
        // The device shows the QR; the witness photographs it, a little skewed, as a JPEG.
        using var qr = Cv2.ImDecode(WitnessQrCommand.RenderPng(forms[0]), ImreadModes.Grayscale);
        using var canvas = new Mat(qr.Rows + 400, qr.Cols + 400, MatType.CV_8UC1, Scalar.All(235));
        qr.CopyTo(canvas[new Rect(200, 200, qr.Cols, qr.Rows)]);
        using var rotation = Cv2.GetRotationMatrix2D(new Point2f(canvas.Cols / 2f, canvas.Rows / 2f), 7, 1.0);
        using var photo = new Mat();
        Cv2.WarpAffine(canvas, photo, rotation, canvas.Size(), InterpolationFlags.Linear, BorderTypes.Constant, Scalar.All(235));
        Cv2.ImEncode(".jpg", photo, out var jpeg, [new ImageEncodingParam(ImwriteFlags.JpegQuality, 80)]);

        AssertOk(await Verifier.VerifyQrPhotoAsync(fixture.Cloud.ApiBase, fixture.Pki.LogKey, jpeg, Anchors));
    }

    [Fact]
    public async Task Inclusion_by_hash_and_by_TPS_and_consistency_between_checkpoints_verify()
    {
        string older = await fixture.Http.GetStringAsync("api/v1/log/checkpoint?fresh=true");
        var (device, forms) = await SubmitAsync(ContestId.Dpr, ContestId.Dpd);
        AssertOk(await Verifier.VerifyInclusionAsync(fixture.Cloud.ApiBase, fixture.Pki.LogKey, new InclusionTarget.ByHash(forms[0].Hash)));
        AssertOk(await Verifier.VerifyInclusionAsync(fixture.Cloud.ApiBase, fixture.Pki.LogKey, new InclusionTarget.ByTps(Tps, ContestId.Dpd)));
        AssertOk(await Verifier.VerifyInclusionAsync(fixture.Cloud.ApiBase, fixture.Pki.LogKey, new InclusionTarget.BySubmission(forms[1].Wire)));
        AssertOk(Verifier.VerifySubmission(forms[0].Wire, device.Credentials.SigningCertificate.ToPem(), Anchors));
        if (SignedCheckpoint.Parse(older).Checkpoint.Size > 0)
            AssertOk(await Verifier.VerifyConsistencyAsync(fixture.Cloud.ApiBase, fixture.Pki.LogKey, older));
    }

    [Fact]
    public async Task An_auditor_recomputes_the_whole_log_and_gets_the_signed_root()
    {
        await SubmitAsync(ContestId.Ppwp, ContestId.DprdProvinsi);
        AssertOk(await Verifier.AuditAsync(fixture.Cloud.ApiBase, fixture.Pki.LogKey));
    }

    [Fact]
    public async Task A_log_whose_checkpoints_are_not_signed_by_the_published_key_is_caught()
    {
        var (_, forms) = await SubmitAsync(ContestId.Ppwp);
        var impostor = NoteVerifierKey.Create(fixture.Pki.LogKey.Name, DeviceKey.Generate());
        var report = await Verifier.VerifyInclusionAsync(fixture.Cloud.ApiBase, impostor, new InclusionTarget.ByHash(forms[0].Hash));
        Assert.False(report.Ok);
        Assert.Equal(VerificationReport.ExitCheckFailed, report.ExitCode);
    }

    [Fact]
    public void A_submission_checked_against_another_root_fails()
    {
        var device = fixture.NewDevice(Tps);
        var form = device.Next();
        var other = EphemeralPkiFor(seed: 5);
        var report = Verifier.VerifySubmission(form.Wire, device.Credentials.SigningCertificate.ToPem(),
            new TrustAnchors(other.Root.Certificate.ToPem(), other.Issuing.Certificate.ToPem()));
        Assert.False(report.Ok);
    }

    private static Crypto.Pki.EphemeralPki EphemeralPkiFor(int seed) =>
        Crypto.Pki.EphemeralPki.Create(CloudFixture.Election.ElectionId, DateTimeOffset.UtcNow, seed);
}
