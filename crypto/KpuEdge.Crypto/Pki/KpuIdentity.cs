using System.Text.Json;
using System.Text.Json.Serialization;
using KpuEdge.Core.Regions;

namespace KpuEdge.Crypto.Pki;

/// <summary>Object identifiers of KPU's own certificate contents, in the 2.25 (UUID) arc so no registration is needed.</summary>
public static class KpuOids
{
    /// <summary>
    /// The identity extension (non-critical): SEQUENCE { role UTF8String, assignment UTF8String, electionId UTF8String }.
    /// UUID d3c62e35-8f38-4c41-8088-be7d721da949.
    /// </summary>
    public const string Identity = "2.25.281496119122865942644505411048993302857";

    /// <summary>
    /// Extended key usage of a signing certificate (result forms, configuration bundles, log checkpoints). It keeps
    /// a signing certificate out of TLS: OpenSSL refuses a certificate for TLS whose EKU lacks clientAuth/serverAuth.
    /// UUID 5818f546-1aac-405a-8b11-7a26631b9a57.
    /// </summary>
    public const string KpuSigning = "2.25.117101653498256552734388735088426457687";
}

/// <summary>What a certificate's holder is: a TPS device, a PPK station, a cloud service, or a config/log signer.</summary>
[JsonConverter(typeof(KpuRoleJsonConverter))]
public enum KpuRole
{
    Tps,
    Ppk,
    Service,
    Config,
    Log,
}

/// <summary>The wire text of <see cref="KpuRole"/>: "tps", "ppk", "service", "config", "log".</summary>
public static class KpuRoles
{
    public static string ToText(this KpuRole role) => role switch
    {
        KpuRole.Tps => "tps",
        KpuRole.Ppk => "ppk",
        KpuRole.Service => "service",
        KpuRole.Config => "config",
        KpuRole.Log => "log",
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, "Unknown role."),
    };

    public static bool TryParse(string? text, out KpuRole role)
    {
        (bool ok, role) = text switch
        {
            "tps" => (true, KpuRole.Tps),
            "ppk" => (true, KpuRole.Ppk),
            "service" => (true, KpuRole.Service),
            "config" => (true, KpuRole.Config),
            "log" => (true, KpuRole.Log),
            _ => (false, default),
        };
        return ok;
    }

    public static KpuRole Parse(string text) =>
        TryParse(text, out var role) ? role : throw new FormatException($"Not a KPU role: '{text}' (tps, ppk, service, config, log).");
}

internal sealed class KpuRoleJsonConverter : JsonConverter<KpuRole>
{
    public override KpuRole Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        KpuRoles.TryParse(reader.GetString(), out var role) ? role : throw new JsonException($"Not a KPU role: '{reader.GetString()}'.");

    public override void Write(Utf8JsonWriter writer, KpuRole value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToText());
}

/// <summary>
/// Who a certificate speaks for. <see cref="Name"/> is the device id or service name (the certificate's CN);
/// <see cref="Assignment"/> is the 13-digit TPS code of a TPS device, the 6-digit kecamatan code of a PPK station,
/// and empty for every other role. Cannot hold an invalid combination: the constructor checks it.
/// </summary>
public sealed record KpuIdentity(string Name, KpuRole Role, string Assignment, string ElectionId)
{
    public string Name { get; init; } = CheckName(Name);

    public string Assignment { get; init; } = CheckAssignment(Role, Assignment);

    public string ElectionId { get; init; } = CheckElectionId(ElectionId);

    /// <summary>The TPS of a TPS device; null for other roles.</summary>
    public TpsCode? Tps => Role == KpuRole.Tps ? TpsCode.Parse(Assignment) : null;

    /// <summary>
    /// Names go into MQTT topics, mosquitto ACL lines and file names: letters, digits, '.', '_' and '-', at most 64
    /// characters (the X.520 upper bound of a common name).
    /// </summary>
    public static bool IsValidName(string? name) => Core.Protocol.DeviceName.IsValid(name);

    private static string CheckName(string name) =>
        IsValidName(name) ? name : throw new ArgumentException($"Not a valid device or service name: '{name}' (letters, digits, '.', '_', '-'; 1-64 characters).", nameof(Name));

    private static string CheckElectionId(string electionId) =>
        IsValidName(electionId) ? electionId : throw new ArgumentException($"Not a valid election id: '{electionId}'.", nameof(ElectionId));

    private static string CheckAssignment(KpuRole role, string assignment)
    {
        ArgumentNullException.ThrowIfNull(assignment);
        bool ok = role switch
        {
            KpuRole.Tps => TpsCode.TryParse(assignment, out _),
            KpuRole.Ppk => RegionCode.TryParse(assignment, out var kecamatan) && kecamatan.Level == RegionLevel.Kecamatan,
            _ => assignment.Length == 0,
        };
        if (ok) return assignment;
        string expected = role switch
        {
            KpuRole.Tps => "a 13-digit TPS code",
            KpuRole.Ppk => "a 6-digit kecamatan code",
            _ => "empty",
        };
        throw new ArgumentException($"The assignment of a {role.ToText()} identity must be {expected}, not '{assignment}'.", nameof(Assignment));
    }
}

/// <summary>What a certificate may be used for. A device holds one Signing and one TlsClient certificate.</summary>
public enum CertificatePurpose
{
    /// <summary>Ed25519 key: signs result forms, configuration bundles or log checkpoints.</summary>
    Signing,
    /// <summary>ECDSA P-256 key: the client side of mutual TLS (devices, the ingest's MQTT client).</summary>
    TlsClient,
    /// <summary>ECDSA P-256 key: the server side of TLS (broker, API).</summary>
    TlsServer,
}

/// <summary>A certificate's bytes could not be read as a certificate (or a CRL, CSR or key) of the expected kind.</summary>
public sealed class CertificateFormatException(string message, Exception? inner = null) : Exception(message, inner);
