using System.Text.Json;
using System.Text.Json.Serialization;
using KpuEdge.Core.Protocol;

namespace KpuEdge.Core.Security;

[JsonConverter(typeof(JsonStringEnumConverter<SecuritySeverity>))]
public enum SecuritySeverity
{
    /// <summary>Worth seeing on the wall, usually benign (a gap that a late form will fill).</summary>
    [JsonStringEnumMemberName("info")] Info,
    /// <summary>Refused and suspicious: a forged, misaddressed or out-of-bounds action.</summary>
    [JsonStringEnumMemberName("warning")] Warning,
    /// <summary>Evidence of a compromised device or of tampering with the record itself.</summary>
    [JsonStringEnumMemberName("critical")] Critical,
}

/// <summary>The stable kinds of security event; the NSOC keys its alerts on them.</summary>
public static class SecurityEventKinds
{
    public const string CertificateRefused = "certificate_refused";
    public const string ClientIdMismatch = "client_id_mismatch";
    public const string AclPublishDenied = "acl_publish_denied";
    public const string AclSubscribeDenied = "acl_subscribe_denied";
    public const string ChainGap = "chain_gap";
    public const string ChainGapClosed = "chain_gap_closed";
    public const string ChainFork = "chain_fork";
    public const string ChainRewind = "chain_rewind";
    public const string RevokedDeviceSubmission = "revoked_device_submission";
    public const string DeviceRevoked = "device_revoked";
    public const string SubmissionRefused = "submission_refused";
    /// <summary>A form image chunk refused for what smells of tampering: bytes not matching the signed hash, a page that contradicts its stored size, or an image no accepted form names.</summary>
    public const string ImageRefused = "image_refused";
    public const string LogTampered = "log_tampered";
    /// <summary>A genuine form of one device sent by another device that may not relay it: a stolen or turned device replaying what it saw.</summary>
    public const string FormReplayed = "form_replayed";
    /// <summary>A form whose sequence number lies far beyond its device's chain: a cloned key or a forged counter, never counted.</summary>
    public const string ChainJump = "chain_jump";
    /// <summary>A PPK station's statement refused for what smells of forgery: a certificate not its own, a form it cannot know.</summary>
    public const string PpkStatementRefused = "ppk_statement_refused";
    /// <summary>A D.Hasil whose numbers differ from the cloud's own sum of the forms it names: recorded, and a case for the NSOC.</summary>
    public const string DhasilMismatch = "dhasil_mismatch";
}

/// <summary>Where an event was observed.</summary>
public static class SecurityEventSources
{
    public const string Broker = "broker";
    public const string Ingest = "ingest";
    public const string Pki = "pki";
    public const string Log = "log";
}

/// <summary>
/// One structured security observation: what happened, to whom, and the evidence (hashes, sequence numbers,
/// certificate serials) needed to investigate it without the raw traffic. Recorded durably by the cloud;
/// the NSOC wall consumes them (JSON, snake_case).
/// </summary>
public sealed record SecurityEvent
{
    /// <summary>Position in the cloud's event table (set when recorded).</summary>
    public long? Id { get; init; }
    public required DateTimeOffset Ts { get; init; }
    public required string Kind { get; init; }
    public required SecuritySeverity Severity { get; init; }
    public required string Source { get; init; }
    public string? DeviceId { get; init; }
    public string? Tps { get; init; }
    /// <summary>The MQTT client id or certificate subject when it differs from a known device id.</summary>
    public string? Subject { get; init; }
    public required string Detail { get; init; }
    public IReadOnlyDictionary<string, string>? Evidence { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this, KpuJson.Wire);

    public static SecurityEvent FromJson(string json) =>
        JsonSerializer.Deserialize<SecurityEvent>(json, KpuJson.Wire) ?? throw new JsonException("Empty security event.");
}
