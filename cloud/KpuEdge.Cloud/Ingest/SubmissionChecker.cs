using KpuEdge.Core.Elections;
using KpuEdge.Cloud.Recap;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Tally;
using KpuEdge.Cloud.Security;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using Microsoft.Extensions.Options;

namespace KpuEdge.Cloud.Ingest;

/// <summary>The verdict on one incoming message before it meets the ledger.</summary>
public abstract record CheckOutcome(Sha256Hash Hash);

/// <summary>Signed by the registered device, for its own TPS, consistent: ready to be sequenced and recorded.</summary>
public sealed record Verified(Sha256Hash Hash, SignedSubmission Signed, ContestTotals Totals) : CheckOutcome(Hash);

/// <summary>Refused: never recorded as accepted, never counted.</summary>
public sealed record Refused(Sha256Hash Hash, string Reason, string Detail, Submission? Submission = null, IReadOnlyList<string>? Violations = null)
    : CheckOutcome(Hash)
{
    /// <summary>The form's signature verified with its device's registered key: the device it names did sign it.</summary>
    public bool Genuine { get; init; }
}

/// <summary>
/// Every stateless check of an incoming submission, in order of cost: size, topic, encoding, device, signature, sender
/// (a device sends only its own forms), certificate validity and revocation, assignment, address (the topic's TPS and
/// contest), election, region, ballot, consistency rules. Thread-safe.
/// A revoked device's forms are refused when signed at or after the revocation (all of them for a compromised key);
/// earlier ones stay counted and are marked in the API.
/// </summary>
public sealed class SubmissionChecker(DeviceRegistryProvider devices, RecapContext context, CloudPki pki, TimeProvider time, IOptions<CloudOptions> options)
{
    public async Task<CheckOutcome> CheckAsync(string topic, ReadOnlyMemory<byte> payload)
    {
        var hash = Sha256Hash.Of(payload.Span);
        if (payload.Length > options.Value.MaxPayloadBytes)
            return new Refused(hash, RejectReasons.Oversized, $"Payload is {payload.Length} bytes; the limit is {options.Value.MaxPayloadBytes}.");
        if (!Topics.TryParseSubmission(topic, out var address))
            return new Refused(hash, RejectReasons.Misaddressed, $"'{topic}' is not a submission topic.");

        SignedSubmission signed;
        try
        {
            signed = SignedSubmission.Decode(payload);
        }
        catch (SubmissionFormatException e)
        {
            return new Refused(hash, e.RejectReason, e.Message);
        }

        var s = signed.Submission;
        if (await devices.FindAsync(s.DeviceId) is not { } device)
            return new Refused(hash, RejectReasons.UnknownDevice, $"Device '{s.DeviceId}' is not registered.", s);
        if (device.SigningCertificate is not { } certificate)
            return new Refused(hash, RejectReasons.UnknownDevice, $"Device '{s.DeviceId}' has no signing certificate from KPU's CA.", s);
        if (!signed.VerifySignature(device.PublicKey))
            return new Refused(hash, RejectReasons.BadSignature, $"The signature does not verify with the registered key of '{s.DeviceId}'.", s);
        // Genuine from here on: every refusal below is about a form its device did sign.
        Refused Refuse(string reason, string detail, IReadOnlyList<string>? violations = null) =>
            new(hash, reason, detail, s, violations) { Genuine = true };

        // Who sent it matters first: a device may send only its own forms; a PPK station relays any of its kecamatan's
        // (the broker keeps it to those topics). This says nothing about the form itself, so it is never signed as
        // final: the form's own device is never told to give it up — nor is the replaying device told anything final.
        if (!await devices.MayDeliverAsync(address.Sender, s.DeviceId))
            return Refuse(RejectReasons.ReplayedByOtherDevice,
                $"Device '{address.Sender}' sent a form signed by device '{s.DeviceId}' (TPS {s.Tps}); a device sends only its own forms.");
        // The chain was validated when the device was registered; what changes with time is validity and revocation.
        var now = time.GetUtcNow();
        if (now > certificate.NotAfter || now < certificate.NotBefore)
            return Refuse(RejectReasons.UntrustedCertificate,
                $"The signing certificate of '{s.DeviceId}' is valid {certificate.NotBefore:O} to {certificate.NotAfter:O}, not now.");
        if (pki.Trust.IsRevoked(certificate.SerialHex, out var revocation)
            && (revocation.Reason == RevocationReason.KeyCompromise || s.DeviceTime >= revocation.RevokedAt))
            return Refuse(RejectReasons.RevokedDevice,
                $"The certificate of '{s.DeviceId}' was revoked at {revocation.RevokedAt:O} ({revocation.Reason}); this form was signed at {s.DeviceTime:O}.");
        if (device.Tps != s.Tps)
            return Refuse(RejectReasons.DeviceNotAssigned, $"Device '{s.DeviceId}' is assigned to TPS {device.Tps}, not {s.Tps}.");
        // Where it was published comes after every verdict on the form itself: a refusal for that is never final.
        if (address.Tps != s.Tps || address.Contest != s.Contest)
            return Refuse(RejectReasons.Misaddressed, $"Published to '{topic}' but the form is {s.Contest.Slug()} of TPS {s.Tps}.");
        if (s.ElectionId != context.Election.ElectionId)
            return Refuse(RejectReasons.WrongElection, $"Form is for election '{s.ElectionId}', this cloud counts '{context.Election.ElectionId}'.");
        // A genuine device signs while the election is on, by a clock that may lag but hardly runs ahead of ours.
        if (context.Election.SigningWindow is { } window && !window.Contains(s.DeviceTime))
            return Refuse(RejectReasons.DeviceTimeOutOfRange,
                $"The form was signed at {s.DeviceTime:O}, outside the election's window {window.Opens:O} to {window.Closes:O}.");
        if (s.DeviceTime > now + options.Value.MaxDeviceClockAhead)
            return Refuse(RejectReasons.DeviceTimeOutOfRange,
                $"The form was signed at {s.DeviceTime:O}, more than {options.Value.MaxDeviceClockAhead} ahead of the cloud's clock ({now:O}).");
        if (!context.Tree.Contains(s.Tps))
            return Refuse(RejectReasons.UnknownTps, $"TPS {s.Tps} is not in the region tree.");
        var ballot = context.Ballots.For(s.Contest, s.Tps);
        if (ballot is null)
            return Refuse(RejectReasons.ContestNotHeld, $"{s.Contest.Slug()} is not held at TPS {s.Tps}.");
        var violations = C1Validator.Validate(s.Tally, ballot);
        if (violations.Count > 0)
            return Refuse(RejectReasons.InvalidTally, string.Join("; ", violations.Select(v => v.Message)),
                violations.Select(v => $"{v.Field}: {v.Rule}").ToArray());
        return new Verified(hash, signed, ContestTotals.FromTally(s.Tally, ballot));
    }
}
