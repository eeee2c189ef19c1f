using System.Text.Json;
using System.Text.Json.Serialization;

namespace KpuEdge.Core.Protocol;

[JsonConverter(typeof(JsonStringEnumConverter<ReceiptStatus>))]
public enum ReceiptStatus
{
    /// <summary>Durably recorded in the ledger and counted.</summary>
    [JsonStringEnumMemberName("accepted")] Accepted,
    /// <summary>The same submission was accepted before: nothing new is counted; the original position is returned.</summary>
    [JsonStringEnumMemberName("duplicate")] Duplicate,
    /// <summary>Not recorded and not counted; <see cref="Receipt.Reason"/> says why.</summary>
    [JsonStringEnumMemberName("rejected")] Rejected,
}

/// <summary>Why the cloud refused a submission. The codes are stable: devices and the NSOC key on them.</summary>
public static class RejectReasons
{
    public const string Malformed = "malformed";
    public const string UnsupportedVersion = "unsupported_version";
    public const string Oversized = "oversized";
    public const string Misaddressed = "misaddressed";
    public const string UnknownDevice = "unknown_device";
    public const string BadSignature = "bad_signature";
    public const string DeviceNotAssigned = "device_not_assigned_to_tps";
    public const string WrongElection = "wrong_election";
    public const string UnknownTps = "unknown_tps";
    public const string ContestNotHeld = "contest_not_held";
    public const string InvalidTally = "invalid_tally";
    /// <summary>Another, different form with the same sequence number, or a link that contradicts the device's accepted chain.</summary>
    public const string ChainFork = "chain_fork";
    /// <summary>The device's sequence went backwards while its clock went forwards: restored, reset or cloned.</summary>
    public const string ChainRewind = "chain_rewind";
    /// <summary>The device's certificate was revoked before this form was signed (or for key compromise).</summary>
    public const string RevokedDevice = "revoked_device";
    /// <summary>A newer form for a TPS and contest that already has one, without saying why it replaces it.</summary>
    public const string CorrectionWithoutReason = "correction_without_reason";
    /// <summary>The device's signing certificate is not valid at the time the form arrives (expired or not yet valid).</summary>
    public const string UntrustedCertificate = "untrusted_certificate";

    /// <summary>
    /// A genuine form of one device sent by another device that may not relay it (only the signer itself, or a PPK
    /// station of the form's kecamatan, sends a form): a stolen or turned device replaying what it has seen. Says
    /// nothing about the form itself, so it is never final for the form's own device.
    /// </summary>
    public const string ReplayedByOtherDevice = "replayed_by_other_device";
    /// <summary>The sequence number lies far beyond the device's accepted chain (or beyond the protocol's range).</summary>
    public const string ChainJump = "chain_jump";
    /// <summary>The form's device time lies outside the election's window (plus its tolerance) or ahead of the cloud's clock.</summary>
    public const string DeviceTimeOutOfRange = "device_time_out_of_range";
    /// <summary>The device already has the most versions of this TPS and contest's form that the cloud keeps.</summary>
    public const string TooManyVersions = "too_many_versions";
    /// <summary>The sender sent more than its share in a short time: refused unread, to be sent again later.</summary>
    public const string RateLimited = "rate_limited";
    /// <summary>
    /// A PPK statement signed under a certificate that is not that station's for that kecamatan: another station's
    /// certificate, or one station speaking for a kecamatan it does not serve.
    /// </summary>
    public const string StationNotAssigned = "station_not_assigned";
    /// <summary>
    /// A PPK statement naming a version of a TPS's form that is not the one counted now: a newer version came first, or the
    /// station has one the cloud has not yet received. Not final: the station looks again, or sends once the cloud has it.
    /// </summary>
    public const string StaleForm = "stale_form";
    /// <summary>A PPK statement naming a form the cloud does not hold for that TPS and contest (not yet, or never): not final.</summary>
    public const string UnknownForm = "unknown_form";

    /// <summary>Reasons that smell of attack rather than of a mistake: each also becomes a security event.</summary>
    public static bool IsSecurityRelevant(string reason) =>
        reason is BadSignature or UnknownDevice or DeviceNotAssigned or ChainFork or ChainRewind or RevokedDevice or UntrustedCertificate
            or Oversized or ReplayedByOtherDevice or ChainJump or DeviceTimeOutOfRange or TooManyVersions or StationNotAssigned or UnknownForm;

    /// <summary>
    /// Whether a refusal is a verdict on the form's own bytes (and the history of its device), the same whoever sent it
    /// and whichever way it came: only such a refusal is signed by the cloud, and only then may the device give the form
    /// up. A refusal for who sent it or where (<see cref="Misaddressed"/>, <see cref="ReplayedByOtherDevice"/>), for
    /// load (<see cref="RateLimited"/>), or for a reason this device does not know, is never final: the form stays and
    /// is sent again.
    /// </summary>
    public static bool IsFinal(string? reason) =>
        reason is Malformed or UnsupportedVersion or Oversized or UnknownDevice or BadSignature or DeviceNotAssigned or WrongElection
            or UnknownTps or ContestNotHeld or InvalidTally or ChainFork or ChainRewind or RevokedDevice or CorrectionWithoutReason
            or UntrustedCertificate or ChainJump or DeviceTimeOutOfRange or TooManyVersions or StationNotAssigned;
}

/// <summary>The cloud's answer to one submission, sent to the device's receipt topic (JSON).</summary>
public sealed record Receipt
{
    public required ReceiptStatus Status { get; init; }
    /// <summary>SHA-256 of the payload as received (hex): the submission's hash when it was a submission.</summary>
    public required string SubmissionHash { get; init; }
    /// <summary>Position in the results ledger (1-based) when accepted or duplicate.</summary>
    public long? LedgerPosition { get; init; }
    /// <summary>Index of the submission's entry in the transparency log (0-based) when accepted or duplicate.</summary>
    public long? LogIndex { get; init; }
    /// <summary>A signed checkpoint (C2SP signed note) of a log that contains the entry.</summary>
    public string? Checkpoint { get; init; }
    /// <summary>RFC 9162 inclusion proof of the entry in that checkpoint: base64 hashes, leaf side first.</summary>
    public IReadOnlyList<string>? InclusionProof { get; init; }
    public string? Reason { get; init; }
    /// <summary>
    /// For a rejection: the cloud's signed statement (a signed note by the log key over the submission hash, reason and
    /// time), so that nothing between cloud and device can make a device give up a form with a made-up refusal.
    /// </summary>
    public string? Rejection { get; init; }
    public string? Detail { get; init; }
    /// <summary>The rule violations (field and rule) for <see cref="RejectReasons.InvalidTally"/>.</summary>
    public IReadOnlyList<string>? Violations { get; init; }
    /// <summary>
    /// For an accepted D.Hasil: the cloud's comparison with its own sum of the same forms ("agrees: …" or "differs: …").
    /// A D.Hasil that differs is still recorded (it is what the PPK signed) and raised to the NSOC.
    /// </summary>
    public string? Finding { get; init; }
    public string? Tps { get; init; }
    public string? Contest { get; init; }
    public ulong? Sequence { get; init; }
    public required DateTimeOffset Ts { get; init; }

    public static readonly JsonSerializerOptions Json = KpuJson.Wire;

    public byte[] ToUtf8() => JsonSerializer.SerializeToUtf8Bytes(this, Json);

    public static Receipt? TryParse(ReadOnlySpan<byte> utf8)
    {
        try
        {
            return JsonSerializer.Deserialize<Receipt>(utf8, Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
