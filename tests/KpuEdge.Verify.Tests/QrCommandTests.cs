using KpuEdge.Core.Elections;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Transparency;
using OpenCvSharp;
using QRCoder;

namespace KpuEdge.Verify.Tests;

/// <summary>`kpu-verify qr`: a witness's phone photo of the device's QR, read and checked end to end.</summary>
public sealed class QrCommandTests : IAsyncLifetime
{
    private TestLog _log = null!;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };
    private readonly SignedSubmission _form = World.Sign(ContestId.Ppwp);

    public async Task InitializeAsync()
    {
        _log = await TestLog.StartAsync(World.LogSigner);
        _log.DeviceCertificates[World.DeviceId] = World.Device.SigningCertificate.ToPem();
        _log.Append(World.Sign(ContestId.Dpr));
        _log.Append(_form);
        _log.Append(World.Sign(ContestId.Dpd));
    }

    public async Task DisposeAsync()
    {
        await _log.DisposeAsync();
        _http.Dispose();
    }

    /// <summary>The QR as the device renders it: QRCoder, ECC level M, PNG.</summary>
    private static byte[] QrPng(string payload, int pixelsPerModule = 6)
    {
        using var generator = new QRCodeGenerator();
        using var data = generator.CreateQrCode(payload, QRCodeGenerator.ECCLevel.M);
        return new PngByteQRCode(data).GetGraphic(pixelsPerModule);
    }

    /// <summary>
    /// A phone photo of the device: the QR on a screen-sized card among other marks, seen at an angle (perspective),
    /// slightly out of focus, unevenly lit, noisy, saved as JPEG.
    /// </summary>
    private static byte[] Photograph(byte[]? qrPng, int seed = 1, int quality = 70)
    {
        using var card = new Mat(1000, 1000, MatType.CV_8UC3, new Scalar(236, 240, 243));
        Cv2.PutText(card, "KPU - C.HASIL PPWP - TPS 003", new OpenCvSharp.Point(40, 80), HersheyFonts.HersheySimplex, 1.3, new Scalar(40, 40, 40), 3);
        Cv2.Rectangle(card, new Rect(40, 880, 920, 60), new Scalar(90, 90, 90), -1);
        if (qrPng is not null)
        {
            using var qr = Cv2.ImDecode(qrPng, ImreadModes.Color);
            using var scaled = new Mat();
            Cv2.Resize(qr, scaled, new OpenCvSharp.Size(700, 700), 0, 0, InterpolationFlags.Nearest);
            scaled.CopyTo(new Mat(card, new Rect(150, 140, 700, 700)));
        }
        var corners = new[] { new Point2f(0, 0), new Point2f(999, 0), new Point2f(999, 999), new Point2f(0, 999) };
        var seen = new[] { new Point2f(260, 120), new Point2f(1330, 190), new Point2f(1260, 1130), new Point2f(200, 1050) };
        using var homography = Cv2.GetPerspectiveTransform(corners, seen);
        using var photo = new Mat();
        Cv2.WarpPerspective(card, photo, homography, new OpenCvSharp.Size(1600, 1200), InterpolationFlags.Linear, BorderTypes.Constant, new Scalar(70, 80, 95));
        Cv2.GaussianBlur(photo, photo, new OpenCvSharp.Size(5, 5), 1.3);
        // Light falling off to the right (two pixels stretched into a gradient), and seeded sensor noise.
        using var ends = new Mat(1, 2, MatType.CV_32FC3);
        ends.Set(0, 0, new Vec3f(1f, 1f, 1f));
        ends.Set(0, 1, new Vec3f(0.6f, 0.6f, 0.6f));
        using var light = new Mat();
        Cv2.Resize(ends, light, photo.Size(), 0, 0, InterpolationFlags.Linear);
        using var lit = new Mat();
        photo.ConvertTo(lit, MatType.CV_32FC3);
        Cv2.Multiply(lit, light, lit);
        using var noise = new Mat(photo.Size(), MatType.CV_32FC3);
        new RNG((ulong)seed).Fill(noise, DistributionType.Normal, new Scalar(0, 0, 0), new Scalar(6, 6, 6));
        Cv2.Add(lit, noise, lit);
        lit.ConvertTo(photo, MatType.CV_8UC3);
        Cv2.ImEncode(".jpg", photo, out var jpeg, new ImageEncodingParam(ImwriteFlags.JpegQuality, quality));
        return jpeg;
    }

    private Task<VerificationReport> Verify(byte[] photo, TrustAnchors? anchors = null) =>
        new Verifier(_http).VerifyQrPhotoAsync(_log.Url, World.LogKey, photo, anchors ?? World.Anchors());

    [Fact]
    public void Reads_every_clean_witness_QR_among_many_forms()
    {
        // A clean, straight QR must never be "unreadable": OpenCV's detector alone missed about one in ten of them.
        var failures = new List<string>();
        for (ulong sequence = 1; sequence <= 120; sequence++)
        {
            var contest = Contests.All[(int)(sequence % 4)];
            var signed = SignedSubmission.Sign(World.Sign(contest).Submission with { Sequence = sequence }, World.Device.SigningKey);
            string payload = WitnessQr.Encode(signed);
            var reading = QrPhotoReader.Read(QrPng(payload, pixelsPerModule: 8));
            if (reading.Payload != payload) failures.Add($"#{sequence} {contest.Slug()}: {reading.Error}");
        }
        Assert.Empty(failures);
    }

    [Theory]
    [InlineData(ContestId.Ppwp, 1)]
    [InlineData(ContestId.Dpr, 2)]   // the largest form of this TPS: a denser code
    [InlineData(ContestId.Dpd, 3)]
    public void Reads_the_witness_qr_from_a_photograph(ContestId contest, int seed)
    {
        string payload = WitnessQr.Encode(World.Sign(contest));
        var reading = QrPhotoReader.Read(Photograph(QrPng(payload), seed));
        Assert.True(reading.Found, reading.Detail);
        Assert.Equal(payload, reading.Payload);
    }

    [Fact]
    public async Task Checks_a_photographed_form_end_to_end()
    {
        var report = await Verify(Photograph(QrPng(WitnessQr.Encode(_form))));

        Assert.True(report.Ok, string.Join("\n", report.Checks));
        Assert.Equal(["qr", "decode", "device_certificate", "signature", "certificate", "revocation", "assignment", "checkpoint_signature", "inclusion_proof", "entry"],
            report.Checks.Select(c => c.Name));
        Assert.Equal(CheckStatus.Skipped, report["revocation"]!.Status);
        Assert.Equal(_form.Hash.ToString(), report.Facts["submission_hash"]);
        Assert.Equal("1", report.Facts["leaf_index"]);
    }

    [Fact]
    public async Task Uses_the_logs_crl_only_after_checking_its_signature()
    {
        _log.Crl = World.Crl(new RevokedCertificate(World.Device.SigningCertificate.SerialHex, World.SignedAt.AddHours(-1), RevocationReason.KeyCompromise));
        var revoked = await Verify(Photograph(QrPng(WitnessQr.Encode(_form))));
        Assert.Equal("revoked", revoked["revocation"]!.Error);

        _log.Crl = World.OtherPki.Issuing.CreateCrl([], World.SignedAt, World.SignedAt.AddDays(7));
        Assert.Equal("untrusted_crl", (await Verify(Photograph(QrPng(WitnessQr.Encode(_form)))))["revocation"]!.Error);
    }

    [Fact]
    public async Task Validates_the_logs_device_certificate_against_the_local_root()
    {
        // The log serves a certificate of a lookalike PKI for the device, whose key signed a forged form.
        var impostor = World.OtherPki.IssueDevice(World.DeviceId, KpuRole.Tps, World.Tps.Value);
        _log.DeviceCertificates[World.DeviceId] = impostor.SigningCertificate.ToPem();
        var forged = World.Sign(ContestId.Ppwp, key: impostor.SigningKey, seed: 7);
        _log.Append(forged);

        var report = await Verify(Photograph(QrPng(WitnessQr.Encode(forged))));
        Assert.Equal(CheckStatus.Passed, report["signature"]!.Status);
        Assert.Equal(CheckStatus.Failed, report["certificate"]!.Status);
        Assert.Equal(1, report.ExitCode);
    }

    [Fact]
    public async Task Fails_a_genuine_form_the_log_does_not_have()
    {
        var unlogged = World.Sign(ContestId.DprdProvinsi);
        var report = await Verify(Photograph(QrPng(WitnessQr.Encode(unlogged))));
        Assert.Equal(CheckStatus.Passed, report["signature"]!.Status);
        Assert.Equal("not_in_log", report["in_log"]!.Error);
        Assert.Equal(1, report.ExitCode);
    }

    [Fact]
    public async Task Refuses_a_photo_without_a_qr_code()
    {
        var report = await Verify(Photograph(null));
        Assert.Equal(2, report.ExitCode);
        Assert.Equal("no_qr", report.Error);
        Assert.Contains("No readable QR code", report.ErrorDetail);
    }

    [Fact]
    public async Task Refuses_an_unreadable_photo_and_other_qr_codes()
    {
        var unreadable = await Verify("not an image at all"u8.ToArray());
        Assert.Equal("unreadable_photo", unreadable.Error);
        Assert.Equal(2, unreadable.ExitCode);

        var website = await Verify(Photograph(QrPng("https://pemilu2024.kpu.go.id/")));
        Assert.Equal("not_a_witness_qr", website.Error);
        Assert.Equal(2, website.ExitCode);

        // Starts like a witness QR, but the rest is not one: a failed check, not a usage error.
        var broken = await Verify(Photograph(QrPng(WitnessQr.Prefix + "not*base64")));
        Assert.Equal("bad_base64", broken["qr"]!.Error);
        Assert.Equal(1, broken.ExitCode);

        var notASubmission = await Verify(Photograph(QrPng(WitnessQr.Encode("hello, saksi"u8))));
        Assert.Equal("malformed", notASubmission["decode"]!.Error);
    }

    [Fact]
    public async Task Runs_from_the_command_line()
    {
        string dir = Directory.CreateTempSubdirectory("kpu-verify-").FullName;
        try
        {
            string photo = Path.Combine(dir, "qr.jpg"), root = Path.Combine(dir, "root.pem"), issuing = Path.Combine(dir, "issuing.pem");
            File.WriteAllBytes(photo, Photograph(QrPng(WitnessQr.Encode(_form))));
            File.WriteAllText(root, World.RootPem);
            File.WriteAllText(issuing, World.IssuingPem);
            var stdout = new StringWriter();
            int code = await Cli.RunAsync(["qr", photo, "--log", _log.Url.ToString(), "--key", World.LogKey.Format(), "--root", root, "--issuing", issuing], stdout, new StringWriter(), _http);
            Assert.Equal(0, code);
            Assert.Contains("✓ qr:", stdout.ToString());
            Assert.Contains("– revocation:", stdout.ToString());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
