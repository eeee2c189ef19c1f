using KpuEdge.Cloud.Recap;
using KpuEdge.Cloud.Security;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Ppk;
using Microsoft.Extensions.Options;

namespace KpuEdge.Cloud.Ppk;

/// <summary>The verdict on one incoming PPK statement before its station's grain judges it against the record.</summary>
/// <param name="Signed">The decoded statement (null when it could not be read).</param>
/// <param name="Reason">Why it is refused (<see cref="RejectReasons"/>); null when every stateless check passed.</param>
public sealed record StatementCheck(Sha256Hash Hash, SignedPpkStatement? Signed, string? Reason = null, string? Detail = null, IReadOnlyList<string>? Violations = null)
{
    public bool Passed => Reason is null;
    /// <summary>The statement's signature verified with the certificate inside, which KPU's CA issued to that station.</summary>
    public bool Genuine { get; init; }
}

/// <summary>
/// Every check of a PPK statement that needs no record, in order of cost: size, topic, encoding, the station's
/// certificate (issued by KPU's CA to a PPK station, valid, not revoked), its signature, that the certificate is the
/// station's own for the kecamatan the statement speaks for, that the station sent it itself, election, clock, region,
/// ballot, and for a correction every rule of the C.Hasil form. Thread-safe.
/// </summary>
public sealed class PpkStatementChecker(CloudPki pki, RecapContext context, TimeProvider time, IOptions<CloudOptions> options)
{
    public StatementCheck Check(string topic, ReadOnlyMemory<byte> payload)
    {
        var hash = Sha256Hash.Of(payload.Span);
        if (payload.Length > PpkStatementCodec.MaxWireBytes)
            return new StatementCheck(hash, null, RejectReasons.Oversized, $"A statement of {payload.Length} bytes; the limit is {PpkStatementCodec.MaxWireBytes}.");
        if (!Topics.TryParsePpkStatement(topic, out string sender))
            return new StatementCheck(hash, null, RejectReasons.Misaddressed, $"'{topic}' is not a PPK statement topic.");
        SignedPpkStatement signed;
        try
        {
            signed = SignedPpkStatement.Decode(payload);
        }
        catch (PpkStatementFormatException e)
        {
            return new StatementCheck(hash, null, RejectReasons.Malformed, e.Message);
        }
        var s = signed.Statement;
        StatementCheck Refuse(string reason, string detail, bool genuine, IReadOnlyList<string>? violations = null) =>
            new(hash, signed, reason, detail, violations) { Genuine = genuine };

        var now = time.GetUtcNow();
        var verdict = pki.Trust.Validate(signed.Certificate, CertificatePurpose.Signing, now, KpuRole.Ppk);
        if (!verdict.Ok)
            return Refuse(verdict.Error == CertificateErrors.Revoked ? RejectReasons.RevokedDevice : RejectReasons.UntrustedCertificate,
                $"The certificate in the statement of '{s.StationId}' is refused: {verdict.Detail}", genuine: false);
        if (signed.SignerProblem() is { } problem)
            return Refuse(problem.StartsWith("the signature", StringComparison.Ordinal) ? RejectReasons.BadSignature : RejectReasons.StationNotAssigned,
                $"Statement of '{s.StationId}' for kecamatan {s.Kecamatan}: {problem}.", genuine: false);
        // Genuine from here on: the station did sign it.
        if (sender != s.StationId)
            return Refuse(RejectReasons.ReplayedByOtherDevice, $"'{sender}' sent a statement signed by station '{s.StationId}'; a station sends only its own.", genuine: true);
        if (s.ElectionId != context.Election.ElectionId)
            return Refuse(RejectReasons.WrongElection, $"Statement is for election '{s.ElectionId}', this cloud counts '{context.Election.ElectionId}'.", genuine: true);
        if (s.StationTime > now + options.Value.MaxDeviceClockAhead)
            return Refuse(RejectReasons.DeviceTimeOutOfRange, $"Signed at {s.StationTime:O}, more than {options.Value.MaxDeviceClockAhead} ahead of the cloud's clock ({now:O}).", genuine: true);
        if (!context.Tree.TryGet(s.Kecamatan, out _))
            return Refuse(RejectReasons.UnknownTps, $"Kecamatan {s.Kecamatan} is not in the region tree.", genuine: true);
        foreach (var form in s.Forms)
        {
            if (!context.Tree.Contains(form.Tps)) return Refuse(RejectReasons.UnknownTps, $"TPS {form.Tps} is not in the region tree.", genuine: true);
            if (context.Ballots.For(form.Contest, form.Tps) is null)
                return Refuse(RejectReasons.ContestNotHeld, $"{form.Contest.Slug()} is not held at TPS {form.Tps}.", genuine: true);
        }
        if (s is PpkCorrection correction)
        {
            var violations = C1Validator.Validate(correction.Tally, context.Ballots.For(correction.Tally.Contest, correction.Tally.Tps));
            if (violations.Count > 0)
                return Refuse(RejectReasons.InvalidTally, string.Join("; ", violations.Select(v => v.Message)), genuine: true,
                    violations.Select(v => $"{v.Field}: {v.Rule}").ToArray());
        }
        return new StatementCheck(hash, signed) { Genuine = true };
    }
}
