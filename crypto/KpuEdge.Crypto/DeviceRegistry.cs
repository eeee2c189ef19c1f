using KpuEdge.Core.Protocol;
using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto.Pki;

namespace KpuEdge.Crypto;

/// <summary>
/// A provisioned device: its public signing key and the TPS it is assigned to, and (since the PKI) the signing
/// certificate that binds the two.
/// </summary>
public sealed record DeviceRecord(string DeviceId, TpsCode Tps, DevicePublicKey PublicKey)
{
    /// <summary>The device's Ed25519 signing certificate; null for devices registered before the PKI (bare keys).</summary>
    public KpuCertificate? SigningCertificate { get; init; }

    /// <summary>The record a TPS device's signing certificate stands for: id = CN, TPS = assignment, key = certificate key.</summary>
    /// <exception cref="ArgumentException">Not a signing certificate of a TPS device.</exception>
    public static DeviceRecord FromCertificate(KpuCertificate signing)
    {
        if (signing.Identity is not { Role: KpuRole.Tps } identity || signing.SigningKey is null || signing.Purpose != CertificatePurpose.Signing)
            throw new ArgumentException($"{signing.CommonName}: not the signing certificate of a TPS device.", nameof(signing));
        return new DeviceRecord(identity.Name, TpsCode.Parse(identity.Assignment), signing.SigningKey) { SigningCertificate = signing };
    }
}

/// <summary>
/// The devices the cloud accepts forms from, as a JSON file written by the provisioning CLI (`kpu-provision ca issue
/// --registry`), `kpu-edge keygen` or the simulator. With a <see cref="TrustStore"/> (<see cref="Load(string, TrustStore, DateTimeOffset)"/>)
/// every entry must carry a signing certificate that KPU's PKI vouches for.
/// </summary>
public sealed class DeviceRegistry
{
    private readonly ConcurrentDictionary<string, DeviceRecord> _devices = new(StringComparer.Ordinal);

    public int Count => _devices.Count;

    public IEnumerable<DeviceRecord> All => _devices.Values;

    public bool TryGet(string deviceId, out DeviceRecord device) => _devices.TryGetValue(deviceId, out device!);

    /// <summary>Adds or replaces a device (re-provisioning a device gives it a new key).</summary>
    public void Register(DeviceRecord device) => _devices[device.DeviceId] = device;

    private sealed record Entry(string DeviceId, string Tps, string PublicKey)
    {
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? SigningCertificate { get; init; }
    }

    private static readonly JsonSerializerOptions Json = KpuJson.Files;

    public static DeviceRegistry Load(string path)
    {
        var registry = new DeviceRegistry();
        if (!File.Exists(path)) return registry;
        using var stream = File.OpenRead(path);
        var entries = JsonSerializer.Deserialize<List<Entry>>(stream, Json) ?? [];
        foreach (var e in entries)
        {
            if (!TpsCode.TryParse(e.Tps, out var tps))
                throw new InvalidDataException($"{path}: device {e.DeviceId} has a bad TPS code '{e.Tps}'.");
            KpuCertificate? certificate = null;
            if (e.SigningCertificate is not null)
            {
                try { certificate = KpuCertificate.FromPem(e.SigningCertificate); }
                catch (CertificateFormatException ex) { throw new InvalidDataException($"{path}: device {e.DeviceId} has an unreadable signing certificate: {ex.Message}", ex); }
            }
            registry.Register(new DeviceRecord(e.DeviceId, tps, DevicePublicKey.FromBase64(e.PublicKey)) { SigningCertificate = certificate });
        }
        return registry;
    }

    /// <summary>
    /// Loads the registry and checks every device against KPU's PKI at <paramref name="at"/>: a signing certificate
    /// (purpose Signing, role tps) that validates, for the same device id, key and TPS as the entry. A certificate that
    /// was genuine but is now revoked or expired still loads — its device's earlier forms must stay verifiable, and the
    /// ingest refuses its new ones — so one revocation never stops the registry (or the cloud) from loading.
    /// </summary>
    /// <exception cref="InvalidDataException">Names the first device whose certificate is missing, invalid or does not match its entry.</exception>
    public static DeviceRegistry Load(string path, TrustStore trust, DateTimeOffset at)
    {
        var registry = Load(path);
        foreach (var device in registry.All.OrderBy(d => d.DeviceId, StringComparer.Ordinal))
            if (Problem(device, trust, at) is { } problem) throw new InvalidDataException($"{path}: device {device.DeviceId} {problem}.");
        return registry;
    }

    /// <summary>
    /// Why KPU's PKI does not vouch for this entry at <paramref name="at"/> ("has no signing certificate", "has a public key
    /// other than its certificate's", ...), or null if it does — with the same leniency for revoked and expired
    /// certificates as <see cref="Load(string, TrustStore, DateTimeOffset)"/>.
    /// </summary>
    public static string? Problem(DeviceRecord device, TrustStore trust, DateTimeOffset at) =>
        device.SigningCertificate is not { } certificate
            ? "has no signing certificate"
            : Refused(trust, certificate, at) is { } refusal
                ? $"has a certificate KPU's PKI refuses ({refusal})"
                : certificate.CommonName != device.DeviceId
                    ? $"has the certificate of another device ({certificate.CommonName})"
                    : !certificate.SigningKey!.Encoded.AsSpan().SequenceEqual(device.PublicKey.Encoded)
                        ? "has a public key other than its certificate's"
                        : certificate.Identity!.Assignment != device.Tps.Value
                            ? $"is registered for TPS {device.Tps} but its certificate assigns TPS {certificate.Identity.Assignment}"
                            : null;

    /// <summary>Why KPU's PKI refuses the certificate, or null; revoked and expired count as genuine if they were valid when issued.</summary>
    private static string? Refused(TrustStore trust, KpuCertificate certificate, DateTimeOffset at)
    {
        var verdict = trust.Validate(certificate, CertificatePurpose.Signing, at, KpuRole.Tps);
        if (verdict.Ok) return null;
        if (verdict.Error is CertificateErrors.Revoked or CertificateErrors.Expired
            && trust.Validate(certificate, CertificatePurpose.Signing, certificate.NotBefore, KpuRole.Tps).Ok)
            return null;
        return $"{verdict.Error}: {verdict.Detail}";
    }

    /// <summary>Writes the registry atomically (temp file, then rename), so a crash never leaves half a file.</summary>
    public void Save(string path)
    {
        var entries = _devices.Values.OrderBy(d => d.DeviceId, StringComparer.Ordinal)
            .Select(d => new Entry(d.DeviceId, d.Tps.Value, d.PublicKey.ToBase64()) { SigningCertificate = d.SigningCertificate?.ToPem() }).ToList();
        string temp = path + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(entries, Json));
        File.Move(temp, path, overwrite: true);
    }
}
