using KpuEdge.Core.Elections;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Ppk;
using KpuEdge.Crypto.Transparency;

namespace KpuEdge.Verify;

public sealed partial class Verifier
{
    /// <summary>
    /// `kpu-verify dhasil`: a kecamatan's D.Hasil, from the log — proven in a checkpoint signed with your key, signed by
    /// its PPK station under a certificate that chains to your root and names that kecamatan — then every form it sums,
    /// each proven in the log and signed by its TPS device (or by the same kecamatan's PPK, for a plenary correction),
    /// and their sum, field by field, against the D.Hasil's numbers. Nothing the server says is taken on its word.
    /// </summary>
    public async Task<VerificationReport> VerifyDhasilAsync(Uri log, NoteVerifierKey key, TrustAnchors anchors, Sha256Hash hash, CancellationToken cancellationToken = default)
    {
        var report = new VerificationReport("dhasil");
        var client = new LogClient(http, log);
        var entry = await CheckStatementInclusionAsync(client, key, hash, report, "", cancellationToken);
        if (entry is null) return report;
        var signed = entry.Statement!;
        if (signed.Statement is not KecamatanRecap recap)
            return Done(report, Check.Fail("statement", "not_a_dhasil", $"The statement {hash} is a {signed.Statement.Kind}, not a D.Hasil."));
        report.Add(Check.Pass("statement", $"The D.Hasil {recap.Contest.Slug()} of kecamatan {recap.Kecamatan}, sequence {recap.Sequence} of station {recap.StationId}, summing {recap.Summed.Count} forms."));
        report.Fact("kecamatan", recap.Kecamatan.Value);
        report.Fact("contest", recap.Contest.Slug());
        report.Fact("station", recap.StationId);
        report.Fact("forms", recap.Summed.Count);
        report.Fact("suara_sah", recap.Totals.SuaraSah);
        TrustStore store;
        try
        {
            store = Anchors(anchors);
        }
        catch (Exception e) when (e is CertificateFormatException or ArgumentException)
        {
            return report.CannotCheck("bad_trust_anchor_file", $"The root, issuing CA or CRL file: {e.Message}");
        }
        if (!report.Add(StationSigner(signed, store))) return report;

        // Each form it sums: proven, signed by whom it may be, of the TPS and contest it is listed for.
        if (anchors.CrlDer is null)
        {
            try { anchors = anchors with { CrlDer = await client.CrlAsync(cancellationToken) }; }
            catch (LogApiException) { /* no CRL from the log: each form's revocation check says it was skipped */ }
        }
        var tallies = new List<ITallyNumbers>();
        var problems = new List<string>();
        foreach (var form in recap.Summed)
        {
            var scratch = new VerificationReport("form");
            var formEntry = await CheckStatementInclusionAsync(client, key, form.Hash, scratch, $"{form}: ", cancellationToken, any: true);
            if (scratch.Error is not null) return report.CannotCheck(scratch.Error, scratch.ErrorDetail ?? "");
            if (formEntry is null)
            {
                problems.Add(string.Join("; ", scratch.Checks.Where(c => !c.Ok).Select(c => c.Detail)));
                continue;
            }
            if (formEntry.Submission is { } submission)
            {
                if (submission.Submission.Tps != form.Tps || submission.Submission.Contest != form.Contest)
                {
                    problems.Add($"{form}: the log's entry is {submission.Submission.Contest.Slug()} of TPS {submission.Submission.Tps}");
                    continue;
                }
                if (!await CheckSignerFromLogAsync(client, submission, anchors, scratch, cancellationToken)) { }
                if (scratch.Error is not null) return report.CannotCheck(scratch.Error, scratch.ErrorDetail ?? "");
                if (!scratch.Ok)
                {
                    problems.Add($"{form}: {string.Join("; ", scratch.Checks.Where(c => !c.Ok).Select(c => c.Detail))}");
                    continue;
                }
                tallies.Add(submission.Submission.Tally);
            }
            else if (formEntry.Statement is { Statement: PpkCorrection correction } byPpk)
            {
                var signer = StationSigner(byPpk, store);
                if (correction.Tally.Tps != form.Tps || correction.Tally.Contest != form.Contest || correction.Kecamatan != recap.Kecamatan)
                    problems.Add($"{form}: the log's entry is a correction of {correction.Replaces} by kecamatan {correction.Kecamatan}");
                else if (!signer.Ok) problems.Add($"{form}: {signer.Detail}");
                else tallies.Add(correction.Tally);
            }
            else problems.Add($"{form}: the log's entry is neither a form nor a PPK correction");
        }
        if (!report.Add(problems.Count == 0
                ? Check.Pass("forms", $"All {recap.Summed.Count} forms are in the log, each signed by its TPS device or by this kecamatan's PPK (chains to your root).")
                : Check.Fail("forms", "form_not_verified", $"{problems.Count} of {recap.Summed.Count} forms do not check out: {string.Join(" | ", problems.Take(10))}{(problems.Count > 10 ? " | …" : "")}")))
            return report;

        var sum = TallySum.Of(recap.Contest, tallies);
        var differences = sum.Differences(recap.Totals);
        report.Add(differences.Count == 0
            ? Check.Pass("sum", $"The D.Hasil's numbers are the sum of the {tallies.Count} forms, field by field (suara sah {sum.SuaraSah:N0}).")
            : Check.Fail("sum", "dhasil_mismatch", $"The D.Hasil differs from the sum of the forms it names in: {string.Join(", ", differences)} (e.g. suara sah: D.Hasil {recap.Totals.SuaraSah:N0}, forms {sum.SuaraSah:N0})."));
        return report;
    }

    /// <summary>The station's certificate chains to the root, is a PPK's signing certificate valid when it signed, names that station and kecamatan, and its key made the signature.</summary>
    private static Check StationSigner(SignedPpkStatement signed, TrustStore store)
    {
        var verdict = store.Validate(signed.Certificate, CertificatePurpose.Signing, signed.Statement.StationTime, KpuRole.Ppk);
        if (!verdict.Ok) return Check.Fail("station", verdict.Error ?? "untrusted", $"The certificate of {signed.Certificate.CommonName}: {verdict.Detail}");
        if (signed.SignerProblem() is { } problem) return Check.Fail("station", "bad_signature", $"Statement of {signed.Statement.StationId}: {problem}.");
        return Check.Pass("station", $"Signed by {signed.Statement.StationId}, PPK station of kecamatan {signed.Statement.Kecamatan}; its certificate chains to {store.Root.CommonName} and was valid when it signed.");
    }

    private static TrustStore Anchors(TrustAnchors anchors)
    {
        var root = KpuCertificate.FromPem(anchors.RootPem);
        var issuing = KpuCertificate.AllFromPem(anchors.IssuingPem);
        if (issuing.Count == 0) throw new CertificateFormatException("The issuing CA file holds no PEM CERTIFICATE block.");
        return new TrustStore(root, issuing, anchors.CrlDer is { } crl ? [RevocationList.Parse(crl)] : null);
    }

    /// <summary>
    /// Proves the entry with this hash in a checkpoint signed with <paramref name="key"/> and decodes it: a PPK statement
    /// (or, with <paramref name="any"/>, a form too) whose bytes hash to <paramref name="hash"/>. Null when it does not check out.
    /// </summary>
    private static async Task<LogEntry?> CheckStatementInclusionAsync(LogClient client, NoteVerifierKey key, Sha256Hash hash, VerificationReport report,
        string prefix, CancellationToken cancellationToken, bool any = false)
    {
        InclusionAnswer answer;
        try
        {
            answer = await client.InclusionByHashAsync(hash.ToString(), cancellationToken: cancellationToken);
        }
        catch (LogApiException e) when (e.NotFound)
        {
            report.Add(Check.Fail("in_log", "not_in_log", $"{prefix}the log has no entry with hash {hash}: {e.Message}"));
            return null;
        }
        catch (LogApiException e)
        {
            report.CannotCheck("log_unreachable", e.Message);
            return null;
        }
        if (answer.Checkpoint is null || !TryDecodeHashes(answer.Proof, out var proof))
        {
            report.Add(Check.Fail("inclusion_proof", LogErrors.BadProof, $"{prefix}the log sent no checkpoint, or a proof that is not base64."));
            return null;
        }
        if (!report.Add(ToCheck("checkpoint_signature", LogVerification.VerifyCheckpoint(answer.Checkpoint, key, out var checkpoint)))) return null;
        byte[] entry;
        try { entry = Convert.FromBase64String(answer.Entry); }
        catch (FormatException)
        {
            report.Add(Check.Fail("entry", LogErrors.LeafMismatch, $"{prefix}the log's entry is not base64."));
            return null;
        }
        if (!report.Add(ToCheck("inclusion_proof", LogVerification.VerifyInclusion(entry, answer.LeafIndex, proof, checkpoint!, key, answer.TreeSize)))) return null;
        if (!LogEntry.TryDecode(entry, out var decoded, out string? error))
        {
            report.Add(Check.Fail("entry", LogErrors.LeafMismatch, $"{prefix}the log's entry cannot be read: {error}"));
            return null;
        }
        var entryHash = decoded.Statement?.Hash ?? (any ? decoded.Submission?.Hash : null);
        if (entryHash != hash)
        {
            report.Add(Check.Fail("entry", LogErrors.LeafMismatch, $"{prefix}the log's entry at {answer.LeafIndex} is not the {(any ? "form or statement" : "PPK statement")} {hash}."));
            return null;
        }
        report.Add(Check.Pass("in_log", $"{prefix}entry {answer.LeafIndex} of a tree of {checkpoint!.Checkpoint.Size}, signed with your key."));
        return decoded;
    }
}
