using System.Text.Json;
using KpuEdge.Core.Elections;
using KpuEdge.Crypto.Pki;

namespace KpuEdge.Verify.Tests;

/// <summary>`kpu-verify submission`: a signed form checked offline against the device certificate and the verifier's own root.</summary>
public sealed class SubmissionCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kpu-verify-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private string Write(string name, string text) => Write(name, System.Text.Encoding.UTF8.GetBytes(text));

    private static VerificationReport Verify(byte[] wire, string? certificatePem = null, TrustAnchors? anchors = null) =>
        Verifier.VerifySubmission(wire, certificatePem ?? World.Device.SigningCertificate.ToPem(), anchors ?? World.Anchors());

    private static async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await Cli.RunAsync(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void Accepts_a_good_submission_of_a_certified_device()
    {
        var signed = World.Sign(ContestId.Ppwp);
        var report = Verify(signed.Wire, anchors: World.Anchors(World.Crl()));

        Assert.True(report.Ok, string.Join("\n", report.Checks));
        Assert.Equal(0, report.ExitCode);
        Assert.Equal(["decode", "signature", "certificate", "revocation", "assignment"], report.Checks.Select(c => c.Name));
        Assert.All(report.Checks, c => Assert.Equal(CheckStatus.Passed, c.Status));
        Assert.Equal(signed.Hash.ToString(), report.Facts["submission_hash"]);
        Assert.Equal("3273011001003", report.Facts["tps"]);
    }

    [Fact]
    public void Says_revocation_was_not_checked_without_a_crl()
    {
        var report = Verify(World.Sign(ContestId.Dpr).Wire);
        Assert.Equal(0, report.ExitCode);
        Assert.Equal(CheckStatus.Skipped, report["revocation"]!.Status);
    }

    [Fact]
    public void Refuses_a_changed_signature_or_changed_numbers()
    {
        var wire = World.Sign(ContestId.Ppwp).Wire;
        var badSignature = (byte[])wire.Clone();
        badSignature[^1] ^= 0x01;
        var report = Verify(badSignature);
        Assert.Equal(1, report.ExitCode);
        Assert.Equal("bad_signature", report["signature"]!.Error);

        // Signed by another key: the device certificate's key does not verify it.
        var forged = World.Sign(ContestId.Ppwp, key: KpuEdge.Crypto.DeviceKey.Deterministic("attacker", 1));
        Assert.Equal("bad_signature", Verify(forged.Wire)["signature"]!.Error);

        var garbage = Verify([0x82, 0x40]);
        Assert.Equal(1, garbage.ExitCode);
        Assert.Equal("malformed", garbage["decode"]!.Error);
    }

    [Fact]
    public void Refuses_a_certificate_that_does_not_chain_to_the_root_you_gave()
    {
        var wire = World.Sign(ContestId.Ppwp).Wire;
        // Your root, someone else's "issuing CA" (same names, other keys).
        var report = Verify(wire, anchors: new TrustAnchors(World.RootPem, World.OtherPki.Issuing.Certificate.ToPem()));
        Assert.Equal(1, report.ExitCode);
        Assert.Equal("untrusted_issuing_ca", report["certificate"]!.Error);

        // A whole lookalike PKI as trust anchors: the device certificate's signature does not verify.
        report = Verify(wire, anchors: new TrustAnchors(World.OtherPki.Root.Certificate.ToPem(), World.OtherPki.Issuing.Certificate.ToPem()));
        Assert.Equal(1, report.ExitCode);
        Assert.Contains(report["certificate"]!.Error, new[] { "unknown_issuer", "bad_signature" });

        // A device of the lookalike PKI with the same name, the form signed by its key.
        var impostor = World.OtherPki.IssueDevice(World.DeviceId, KpuRole.Tps, World.Tps.Value);
        report = Verify(World.Sign(ContestId.Ppwp, key: impostor.SigningKey).Wire, impostor.SigningCertificate.ToPem());
        Assert.Equal(CheckStatus.Passed, report["signature"]!.Status);
        Assert.Equal(CheckStatus.Failed, report["certificate"]!.Status);
        Assert.Equal(1, report.ExitCode);
    }

    [Fact]
    public void Refuses_a_device_revoked_before_it_signed()
    {
        var signed = World.Sign(ContestId.Ppwp);
        string serial = World.Device.SigningCertificate.SerialHex;

        var before = Verify(signed.Wire, anchors: World.Anchors(World.Crl(new RevokedCertificate(serial, World.SignedAt.AddHours(-2), RevocationReason.Superseded))));
        Assert.Equal(1, before.ExitCode);
        Assert.Equal("revoked", before["revocation"]!.Error);

        // Superseded after it signed: the form predates the revocation.
        var after = Verify(signed.Wire, anchors: World.Anchors(World.Crl(new RevokedCertificate(serial, World.SignedAt.AddHours(2), RevocationReason.Superseded))));
        Assert.Equal(0, after.ExitCode);
        Assert.Contains("after the form was signed", after["revocation"]!.Detail);

        // Key compromise: whoever holds the key writes the device time, so an earlier date proves nothing.
        var compromised = Verify(signed.Wire, anchors: World.Anchors(World.Crl(new RevokedCertificate(serial, World.SignedAt.AddHours(2), RevocationReason.KeyCompromise))));
        Assert.Equal(1, compromised.ExitCode);
        Assert.Equal("revoked", compromised["revocation"]!.Error);

        // A CRL signed by a lookalike CA proves nothing.
        var foreign = World.OtherPki.Issuing.CreateCrl([], World.SignedAt, World.SignedAt.AddDays(7));
        Assert.Equal("untrusted_crl", Verify(signed.Wire, anchors: World.Anchors(foreign))["revocation"]!.Error);
    }

    [Fact]
    public void Refuses_a_form_of_a_tps_the_device_is_not_assigned_to()
    {
        // The device's own key and certificate (TPS ...003), signing a form of TPS ...004.
        var report = Verify(World.Sign(ContestId.Ppwp, tps: World.OtherTps).Wire);
        Assert.Equal(CheckStatus.Passed, report["signature"]!.Status);
        Assert.Equal("device_not_assigned_to_tps", report["assignment"]!.Error);
        Assert.Equal(1, report.ExitCode);

        // A form naming another device id than the certificate's.
        var renamed = Verify(World.Sign(ContestId.Ppwp, deviceId: "dev-3273011001003-b").Wire);
        Assert.Equal("wrong_device", renamed["assignment"]!.Error);

        // Not a TPS device's certificate at all.
        var (logKey, logCertificate) = World.Pki.IssueSigner("kpu-log", KpuRole.Log);
        var byLogKey = Verify(World.Sign(ContestId.Ppwp, key: logKey).Wire, logCertificate.ToPem());
        Assert.Equal("wrong_role", byLogKey["certificate"]!.Error);
        Assert.Equal("wrong_role", byLogKey["assignment"]!.Error);
    }

    [Fact]
    public async Task Runs_from_the_command_line_with_exit_codes_and_json()
    {
        var signed = World.Sign(ContestId.Dpd);
        string wire = Write("dpd.cbor", signed.Wire), cert = Write("signing.crt", World.Device.SigningCertificate.ToPem());
        string root = Write("root.pem", World.RootPem), issuing = Write("issuing.pem", World.IssuingPem), crl = Write("crl.der", World.Crl());

        var (code, output, _) = await Run("submission", wire, "--root", root, "--issuing", issuing, "--cert", cert, "--crl", crl);
        Assert.Equal(0, code);
        Assert.Contains("✓ signature:", output);
        Assert.Contains("All checks passed.", output);

        var tampered = (byte[])signed.Wire.Clone();
        tampered[^5] ^= 0x10;
        (code, output, _) = await Run("submission", Write("bad.cbor", tampered), "--root", root, "--issuing", issuing, "--cert", cert, "--json");
        Assert.Equal(1, code);
        using var json = JsonDocument.Parse(output);
        Assert.False(json.RootElement.GetProperty("ok").GetBoolean());
        Assert.Equal(1, json.RootElement.GetProperty("exit_code").GetInt32());
        var signature = json.RootElement.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "signature");
        Assert.Equal("bad_signature", signature.GetProperty("error").GetString());
        Assert.Equal("failed", signature.GetProperty("status").GetString());

        (code, output, _) = await Run("submission", Path.Combine(_dir, "missing.cbor"), "--root", root, "--issuing", issuing, "--cert", cert);
        Assert.Equal(2, code);
        Assert.Contains("could not check", output);

        (code, _, var error) = await Run("submission", wire, "--root", root);
        Assert.Equal(2, code);
        Assert.Contains("--issuing", error);

        (code, output, _) = await Run("submission", wire, "--root", root, "--issuing", issuing, "--cert", root.Replace("root.pem", "crl.der"));
        Assert.Equal(2, code);
    }
}
