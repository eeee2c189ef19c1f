using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Json;
using KpuEdge.Core.Protocol;
using KpuEdge.Crypto.Pki;

namespace KpuEdge.Crypto.Provisioning;

/// <summary>How often a device reports its health, and where.</summary>
public sealed record TelemetrySettings
{
    public required TimeSpan Interval { get; init; }

    public required string Topic { get; init; }
}

/// <summary>
/// What a device is told by KPU after provisioning: where to connect, whom to trust, what it is assigned to.
/// Serialized as snake_case JSON (<see cref="KpuJson.Files"/>) inside a <see cref="ConfigBundle"/>.
/// </summary>
public sealed record DeviceConfig
{
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;

    public required string DeviceId { get; init; }

    public required KpuRole Role { get; init; }

    /// <summary>The 13-digit TPS code (tps), 6-digit kecamatan code (ppk), or empty.</summary>
    public string Assignment { get; init; } = "";

    public required string ElectionId { get; init; }

    /// <summary>Broker endpoints in order of preference, e.g. "mqtts://127.0.0.1:8883".</summary>
    public required IReadOnlyList<string> Brokers { get; init; }

    /// <summary>PEM certificates: KPU's root, then the issuing CA(s).</summary>
    public required IReadOnlyList<string> CaCertificates { get; init; }

    /// <summary>The transparency log's verifier key (C2SP signed-note verifier key text), opaque here.</summary>
    public required string LogVerifierKey { get; init; }

    public string? ApiBase { get; init; }

    public required TelemetrySettings Telemetry { get; init; }

    public required DateTimeOffset IssuedAt { get; init; }

    public required DateTimeOffset ExpiresAt { get; init; }
}

/// <summary>Why a device refused a configuration bundle: stable codes for logs and tests.</summary>
public static class ConfigBundleErrors
{
    /// <summary>No signature or no signer certificate.</summary>
    public const string Unsigned = "unsigned";
    /// <summary>Not JSON, wrong format tag, bad base64, payload not a valid <see cref="DeviceConfig"/>.</summary>
    public const string Malformed = "malformed";
    /// <summary>The signer's certificate does not chain to the device's root, is not a config signer, or is expired or revoked.</summary>
    public const string UntrustedSigner = "untrusted_signer";
    /// <summary>The signature does not verify over the payload.</summary>
    public const string Tampered = "tampered";
    public const string WrongDevice = "wrong_device";
    /// <summary>now ≥ expires_at.</summary>
    public const string Expired = "expired";
    /// <summary>now &lt; issued_at − 5 minutes.</summary>
    public const string NotYetValid = "not_yet_valid";
}

/// <summary>
/// A refused bundle. <see cref="Exception.Message"/> is for the KPPS, in Bahasa Indonesia; <see cref="Error"/> is the
/// stable code; <see cref="Detail"/> is the technical reason in English, for logs.
/// </summary>
public sealed class ConfigBundleException(string error, string message, string? detail = null) : Exception(message)
{
    public string Error { get; } = error;

    public string Detail { get; } = detail ?? message;
}

/// <summary>
/// The signed device configuration bundle. The file is JSON:
/// <c>{"format":"kpu-config/1","payload":base64url(UTF-8 JSON of DeviceConfig),"signer":base64(DER of the config
/// signer's certificate),"signature":base64url(Ed25519 over ASCII "KPU-CONFIG" 0x00 ‖ payload bytes)}</c>.
/// The domain prefix keeps a config signature from ever being valid as any other KPU signature.
/// </summary>
public static class ConfigBundle
{
    public const string Format = "kpu-config/1";

    /// <summary>Devices accept a bundle issued up to this much in their future: cheap clocks drift.</summary>
    public static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(5);

    private static readonly byte[] Domain = [.. "KPU-CONFIG"u8, 0x00];

    private sealed record BundleFile
    {
        public string? Format { get; init; }
        public string? Payload { get; init; }
        public string? Signer { get; init; }
        public string? Signature { get; init; }
    }

    /// <summary>The bytes the signature covers.</summary>
    public static byte[] SignatureInput(ReadOnlySpan<byte> payload) => [.. Domain, .. payload];

    /// <exception cref="ArgumentException">The key is not the certificate's, or the config is inconsistent.</exception>
    public static string Sign(DeviceConfig config, DeviceKey configKey, KpuCertificate configCertificate)
    {
        if (configCertificate.SigningKey is null || !configCertificate.SigningKey.Encoded.AsSpan().SequenceEqual(configKey.PublicKey.Encoded))
            throw new ArgumentException($"The key is not the one certified by {configCertificate.CommonName}.", nameof(configKey));
        _ = new KpuIdentity(config.DeviceId, config.Role, config.Assignment, config.ElectionId); // throws on an impossible combination
        if (config.ExpiresAt <= config.IssuedAt) throw new ArgumentException("A configuration must expire after it is issued.", nameof(config));
        byte[] payload = JsonSerializer.SerializeToUtf8Bytes(config, KpuJson.Files);
        var file = new BundleFile
        {
            Format = Format,
            Payload = Base64Url.EncodeToString(payload),
            Signer = Convert.ToBase64String(configCertificate.Der),
            Signature = Base64Url.EncodeToString(configKey.Sign(SignatureInput(payload))),
        };
        return JsonSerializer.Serialize(file, KpuJson.Files);
    }

    /// <summary>
    /// What the device does before using a bundle: checks the signer's certificate against the device's trust store
    /// (its root is burned into the firmware image; role config, purpose signing, valid and not revoked at
    /// <paramref name="now"/>), the signature, the device id and the validity window.
    /// </summary>
    /// <exception cref="ConfigBundleException">The bundle is refused; the code is one of <see cref="ConfigBundleErrors"/>.</exception>
    /// <summary>
    /// Opens a bundle for the device holding <paramref name="device"/>'s certificate: besides <see cref="Open(string, TrustStore, string, DateTimeOffset)"/>,
    /// the bundle's role, assignment and election must be the certificate's, so a genuine bundle for this device id
    /// cannot move it to another TPS.
    /// </summary>
    public static DeviceConfig Open(string bundleText, TrustStore trust, KpuIdentity device, DateTimeOffset now)
    {
        var config = Open(bundleText, trust, device.Name, now);
        if (config.Role != device.Role || config.Assignment != device.Assignment || config.ElectionId != device.ElectionId)
            throw new ConfigBundleException(ConfigBundleErrors.WrongDevice,
                $"Konfigurasi DITOLAK: penugasan dalam berkas ({config.Role.ToText()} {config.Assignment}, {config.ElectionId}) berbeda dengan sertifikat perangkat ({device.Role.ToText()} {device.Assignment}, {device.ElectionId}).");
        return config;
    }

    public static DeviceConfig Open(string bundleText, TrustStore trust, string expectedDeviceId, DateTimeOffset now)
    {
        BundleFile? file;
        try { file = JsonSerializer.Deserialize<BundleFile>(bundleText, KpuJson.Files); }
        catch (JsonException e) { throw Malformed($"not JSON: {e.Message}"); }
        if (file is null || file.Format != Format) throw Malformed($"format is '{file?.Format}', expected '{Format}'");
        if (string.IsNullOrEmpty(file.Signature) || string.IsNullOrEmpty(file.Signer))
            throw new ConfigBundleException(ConfigBundleErrors.Unsigned,
                "Konfigurasi DITOLAK: berkas konfigurasi tidak bertanda tangan. Minta berkas resmi dari KPU.", "the bundle has no signature or no signer certificate");
        if (string.IsNullOrEmpty(file.Payload)) throw Malformed("no payload");

        byte[] payload, signerDer, signature;
        try
        {
            payload = Base64Url.DecodeFromChars(file.Payload);
            signature = Base64Url.DecodeFromChars(file.Signature);
            signerDer = Convert.FromBase64String(file.Signer);
        }
        catch (FormatException e) { throw Malformed($"bad base64: {e.Message}"); }

        KpuCertificate signer;
        try { signer = KpuCertificate.FromDer(signerDer); }
        catch (CertificateFormatException e) { throw Malformed($"the signer is not a certificate: {e.Message}"); }
        var verdict = trust.Validate(signer, CertificatePurpose.Signing, now, KpuRole.Config);
        if (!verdict.Ok)
            throw new ConfigBundleException(ConfigBundleErrors.UntrustedSigner,
                "Konfigurasi DITOLAK: penanda tangan berkas bukan kunci konfigurasi KPU yang sah. Jangan pasang berkas ini; laporkan ke KPU.",
                $"signer refused: {verdict.Error}: {verdict.Detail}");
        byte[] input = SignatureInput(payload);
        if (!signer.SigningKey!.Verify(input, 0, input.Length, signature))
            throw new ConfigBundleException(ConfigBundleErrors.Tampered,
                "Konfigurasi DITOLAK: isi berkas telah diubah setelah ditandatangani KPU. Jangan pasang berkas ini; laporkan ke KPU.",
                $"the signature does not verify with the key of {signer.CommonName}");

        DeviceConfig config;
        try
        {
            config = JsonSerializer.Deserialize<DeviceConfig>(payload, KpuJson.Files) ?? throw Malformed("the payload is JSON null");
            if (config.Version != DeviceConfig.CurrentVersion) throw Malformed($"payload version {config.Version}, expected {DeviceConfig.CurrentVersion}");
            _ = new KpuIdentity(config.DeviceId, config.Role, config.Assignment, config.ElectionId);
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw Malformed($"the payload is not a device configuration: {e.Message}");
        }

        if (config.DeviceId != expectedDeviceId)
            throw new ConfigBundleException(ConfigBundleErrors.WrongDevice,
                $"Konfigurasi DITOLAK: berkas ini untuk perangkat {config.DeviceId}, bukan untuk perangkat ini ({expectedDeviceId}).",
                $"the bundle is for {config.DeviceId}, not {expectedDeviceId}");
        if (now >= config.ExpiresAt)
            throw new ConfigBundleException(ConfigBundleErrors.Expired,
                $"Konfigurasi DITOLAK: masa berlaku berkas sudah habis pada {Time(config.ExpiresAt)}. Minta berkas baru dari KPU.",
                $"expired at {config.ExpiresAt:O} (now {now:O})");
        if (now < config.IssuedAt - ClockSkew)
            throw new ConfigBundleException(ConfigBundleErrors.NotYetValid,
                $"Konfigurasi DITOLAK: berkas baru berlaku mulai {Time(config.IssuedAt)}. Periksa tanggal dan jam perangkat.",
                $"issued at {config.IssuedAt:O}, now {now:O}");
        return config;
    }

    private static ConfigBundleException Malformed(string detail) =>
        new(ConfigBundleErrors.Malformed, "Konfigurasi DITOLAK: berkas konfigurasi rusak atau bukan berkas konfigurasi KPU.", detail);

    private static string Time(DateTimeOffset time) => time.ToUniversalTime().ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);
}
