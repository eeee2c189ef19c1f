using KpuEdge.Core.Elections;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Transparency;

namespace KpuEdge.Verify;

/// <summary>
/// What the verifier trusts, brought by the verifier itself (never fetched from the server it checks): KPU's root
/// certificate, the issuing CA certificates, and a CRL when it has one.
/// </summary>
public sealed record TrustAnchors(string RootPem, string IssuingPem, byte[]? CrlDer = null);

/// <summary>The offline checks of one signed submission: its encoding, the device's signature and certificate, and the TPS it may sign for.</summary>
public static class SubmissionChecks
{
    /// <summary>Decodes strictly; adds the "decode" check and the submission's facts.</summary>
    public static SignedSubmission? Decode(ReadOnlyMemory<byte> wire, VerificationReport report)
    {
        SignedSubmission signed;
        try
        {
            signed = SignedSubmission.Decode(wire);
        }
        catch (SubmissionFormatException e)
        {
            string code = e.Error switch
            {
                SubmissionFormatError.Oversized => "oversized",
                SubmissionFormatError.UnsupportedVersion => "unsupported_version",
                _ => "malformed",
            };
            report.Add(Check.Fail("decode", code, e.Message));
            return null;
        }
        var s = signed.Submission;
        report.Add(Check.Pass("decode", $"A canonical {s.Contest.Slug()} submission of TPS {s.Tps} by device {s.DeviceId} ({wire.Length} bytes)."));
        report.Fact("submission_hash", signed.Hash);
        report.Fact("election", s.ElectionId);
        report.Fact("tps", s.Tps);
        report.Fact("contest", s.Contest.Slug());
        report.Fact("device_id", s.DeviceId);
        report.Fact("sequence", s.Sequence);
        report.Fact("device_time", s.DeviceTime.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture));
        report.Fact("suara_sah", s.Tally.SuaraSah);
        return signed;
    }

    /// <summary>
    /// Adds "signature" (with the certificate's Ed25519 key), "certificate" (chain to the given root, purpose signing,
    /// role TPS, valid at the device time), "revocation" (against the CRL, if any) and "assignment" (the certificate
    /// speaks for this device, TPS and election).
    /// </summary>
    /// <exception cref="CertificateFormatException">The root or issuing PEM holds no readable certificate.</exception>
    public static void CheckSigner(SignedSubmission signed, KpuCertificate certificate, TrustAnchors anchors, VerificationReport report)
    {
        var s = signed.Submission;
        report.Fact("certificate", $"{certificate.CommonName}, serial {certificate.SerialHex}, SHA-256 {certificate.Fingerprint}");

        if (certificate.SigningKey is null)
            report.Add(Check.Fail("signature", "not_a_signing_certificate", $"{certificate.CommonName} holds no Ed25519 key: it is not a signing certificate."));
        else if (signed.VerifySignature(certificate.SigningKey))
            report.Add(Check.Pass("signature", $"The Ed25519 signature verifies with the key of {certificate.CommonName}."));
        else
            report.Add(Check.Fail("signature", "bad_signature", $"The signature does not verify with the key of {certificate.CommonName}: the bytes were changed or another key signed them."));

        var root = KpuCertificate.FromPem(anchors.RootPem);
        var issuing = KpuCertificate.AllFromPem(anchors.IssuingPem);
        if (issuing.Count == 0) throw new CertificateFormatException("The issuing CA file holds no PEM CERTIFICATE block.");
        TrustStore? store = null;
        try
        {
            // Without CRLs: revocation is its own check below, with the device-time rule spelled out.
            store = new TrustStore(root, issuing);
        }
        catch (ArgumentException e)
        {
            report.Add(Check.Fail("certificate", "untrusted_issuing_ca", $"The issuing CA does not chain to the root you gave: {e.Message}"));
        }
        if (store is not null)
        {
            var verdict = store.Validate(certificate, CertificatePurpose.Signing, s.DeviceTime, KpuRole.Tps);
            report.Add(verdict.Ok
                ? Check.Pass("certificate", $"Chains to {root.CommonName} (SHA-256 {root.Fingerprint[..16]}…); {verdict.Detail}")
                : Check.Fail("certificate", verdict.Error ?? "untrusted", verdict.Detail));
        }

        report.Add(Revocation(certificate, anchors, store, s.DeviceTime));
        report.Add(Assignment(certificate, signed));
    }

    private static Check Revocation(KpuCertificate certificate, TrustAnchors anchors, TrustStore? store, DateTimeOffset deviceTime)
    {
        const string name = "revocation";
        if (anchors.CrlDer is null) return Check.Skip(name, "No CRL: revocation was not checked.");
        RevocationList crl;
        try
        {
            crl = RevocationList.Parse(anchors.CrlDer);
        }
        catch (CertificateFormatException e)
        {
            return Check.Fail(name, "malformed_crl", e.Message);
        }
        if (store is null) return Check.Fail(name, "untrusted_crl", "Without a trusted issuing CA the CRL's signature cannot be checked.");
        var signer = store.Issuing.Prepend(store.Root).FirstOrDefault(crl.VerifySignature);
        if (signer is null) return Check.Fail(name, "untrusted_crl", $"The CRL of '{crl.IssuerCommonName}' is not signed by a CA you trust.");
        string asOf = $"CRL of {signer.CommonName} of {crl.ThisUpdate:u}";

        KpuCertificate revocable;
        if (signer.CommonName == certificate.IssuerCommonName && signer != store.Root) revocable = certificate;
        else if (signer == store.Root && store.Issuing.FirstOrDefault(ca => ca.CommonName == certificate.IssuerCommonName) is { } issuer) revocable = issuer;
        else return Check.Fail(name, "crl_of_another_ca", $"The {asOf} does not cover {certificate.CommonName} (issued by {certificate.IssuerCommonName}).");

        if (!crl.TryGet(revocable.SerialHex, out var entry))
            return Check.Pass(name, $"{revocable.CommonName} (serial {revocable.SerialHex}) is not on the {asOf}.");
        string what = $"{revocable.CommonName} (serial {revocable.SerialHex}) was revoked at {entry.RevokedAt:u} ({entry.Reason.ToLogText()})";
        if (entry.RevokedAt <= deviceTime)
            return Check.Fail(name, "revoked", $"{what}, before the form was signed ({deviceTime.ToUniversalTime():u} device time).");
        // The device time is written by whoever holds the key: once the key is compromised, an early date proves nothing.
        if (entry.Reason == RevocationReason.KeyCompromise)
            return Check.Fail(name, "revoked", $"{what}; its device time {deviceTime.ToUniversalTime():u} is earlier, but a compromised key can write any time.");
        return Check.Pass(name, $"{what}, after the form was signed ({deviceTime.ToUniversalTime():u} device time).");
    }

    private static Check Assignment(KpuCertificate certificate, SignedSubmission signed)
    {
        const string name = "assignment";
        var s = signed.Submission;
        if (certificate.Identity is not { } identity)
            return Check.Fail(name, "not_a_kpu_certificate", $"{certificate.CommonName} carries no KPU identity: it names no TPS.");
        if (identity.Role != KpuRole.Tps)
            return Check.Fail(name, "wrong_role", $"{certificate.CommonName} is a {identity.Role.ToText()} certificate, not a TPS device's.");
        if (identity.Tps != s.Tps)
            return Check.Fail(name, "device_not_assigned_to_tps", $"{certificate.CommonName} is assigned to TPS {identity.Assignment}; the form is of TPS {s.Tps}.");
        if (identity.Name != s.DeviceId)
            return Check.Fail(name, "wrong_device", $"The form names device {s.DeviceId}; the certificate is of {identity.Name}.");
        if (identity.ElectionId != s.ElectionId)
            return Check.Fail(name, "wrong_election", $"The form is of election '{s.ElectionId}'; the certificate of '{identity.ElectionId}'.");
        return Check.Pass(name, $"{identity.Name} is the device of TPS {s.Tps} in {identity.ElectionId}.");
    }
}
