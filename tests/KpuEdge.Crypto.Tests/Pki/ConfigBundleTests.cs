using System.Buffers.Text;
using System.Text;
using System.Text.Json.Nodes;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Provisioning;
using static KpuEdge.Crypto.Tests.Pki.PkiSamples;

namespace KpuEdge.Crypto.Tests.Pki;

public sealed class ConfigBundleTests
{
    private static readonly (DeviceKey Key, KpuCertificate Certificate) ConfigSigner = KpuPki.IssueSigner("kpu-config", KpuRole.Config);

    /// <summary>What the device trusts: the root burned into its firmware image, and the issuing CA from its chain file.</summary>
    private static readonly TrustStore DeviceTrust = Device.CreateTrustStore();

    private static DeviceConfig Config(string deviceId = DeviceId) => new()
    {
        DeviceId = deviceId,
        Role = KpuRole.Tps,
        Assignment = Tps,
        ElectionId = Election,
        Brokers = ["mqtts://127.0.0.1:8883", "mqtts://broker-2.kpu.go.id:8883"],
        CaCertificates = [KpuPki.Root.Certificate.ToPem(), KpuPki.Issuing.Certificate.ToPem()],
        LogVerifierKey = "log.kpu.go.id+c0ffee01+AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
        ApiBase = "https://127.0.0.1:8443",
        Telemetry = new TelemetrySettings { Interval = TimeSpan.FromMinutes(5), Topic = $"kpu/v1/device/{deviceId}/telemetry" },
        IssuedAt = Now,
        ExpiresAt = Now.AddDays(30),
    };

    private static string Signed(DeviceConfig? config = null, (DeviceKey Key, KpuCertificate Certificate)? signer = null)
    {
        var (key, certificate) = signer ?? ConfigSigner;
        return ConfigBundle.Sign(config ?? Config(), key, certificate);
    }

    private static ConfigBundleException Refused(string bundle, DateTimeOffset? now = null, string deviceId = DeviceId, TrustStore? trust = null) =>
        Assert.Throws<ConfigBundleException>(() => ConfigBundle.Open(bundle, trust ?? DeviceTrust, deviceId, now ?? Now.AddHours(1)));

    private static string Edit(string bundle, Action<JsonObject> edit)
    {
        var json = JsonNode.Parse(bundle)!.AsObject();
        edit(json);
        return json.ToJsonString();
    }

    [Fact]
    public void A_valid_bundle_opens_with_every_setting()
    {
        var config = ConfigBundle.Open(Signed(), DeviceTrust, DeviceId, Now.AddHours(1));

        var expected = Config();
        Assert.Equal(1, config.Version);
        Assert.Equal(expected.DeviceId, config.DeviceId);
        Assert.Equal(KpuRole.Tps, config.Role);
        Assert.Equal(Tps, config.Assignment);
        Assert.Equal(Election, config.ElectionId);
        Assert.Equal(expected.Brokers, config.Brokers);
        Assert.Equal(expected.CaCertificates, config.CaCertificates);
        Assert.Equal(expected.LogVerifierKey, config.LogVerifierKey);
        Assert.Equal(expected.ApiBase, config.ApiBase);
        Assert.Equal(expected.Telemetry, config.Telemetry);
        Assert.Equal(Now, config.IssuedAt);
        Assert.Equal(Now.AddDays(30), config.ExpiresAt);
    }

    [Fact]
    public void The_file_is_the_documented_JSON_with_a_domain_separated_Ed25519_signature()
    {
        var json = JsonNode.Parse(Signed())!.AsObject();

        Assert.Equal(["format", "payload", "signer", "signature"], json.Select(p => p.Key));
        Assert.Equal("kpu-config/1", (string?)json["format"]);
        byte[] payload = Base64Url.DecodeFromChars((string)json["payload"]!);
        var inner = JsonNode.Parse(payload)!.AsObject();
        Assert.Equal("tps", (string?)inner["role"]);
        Assert.Equal(DeviceId, (string?)inner["device_id"]);
        Assert.NotNull(inner["log_verifier_key"]);
        Assert.NotNull(inner["telemetry"]!["interval"]);
        Assert.Equal(ConfigSigner.Certificate.Der, Convert.FromBase64String((string)json["signer"]!));
        byte[] signature = Base64Url.DecodeFromChars((string)json["signature"]!);
        byte[] input = [.. "KPU-CONFIG"u8, 0, .. payload];
        Assert.True(ConfigSigner.Key.PublicKey.Verify(input, 0, input.Length, signature));
        Assert.False(ConfigSigner.Key.PublicKey.Verify(payload, 0, payload.Length, signature));
    }

    [Theory]
    [InlineData("signature", null)]
    [InlineData("signature", "")]
    [InlineData("signer", null)]
    [InlineData("signer", "")]
    public void Refuses_an_unsigned_bundle(string field, string? value)
    {
        var e = Refused(Edit(Signed(), j => { if (value is null) j.Remove(field); else j[field] = value; }));

        Assert.Equal(ConfigBundleErrors.Unsigned, e.Error);
        Assert.Contains("DITOLAK", e.Message);
        Assert.Contains("tidak bertanda tangan", e.Message);
    }

    [Fact]
    public void Refuses_a_bundle_whose_payload_was_changed_after_signing()
    {
        string bundle = Signed();
        string tampered = Edit(bundle, j =>
        {
            string payload = Encoding.UTF8.GetString(Base64Url.DecodeFromChars((string)j["payload"]!));
            j["payload"] = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(payload.Replace("mqtts://127.0.0.1:8883", "mqtts://10.6.6.6:8883")));
        });

        var e = Refused(tampered);

        Assert.Equal(ConfigBundleErrors.Tampered, e.Error);
        Assert.Contains("diubah", e.Message);
    }

    [Fact]
    public void Refuses_a_bundle_whose_signature_was_changed()
    {
        string tampered = Edit(Signed(), j =>
        {
            byte[] signature = Base64Url.DecodeFromChars((string)j["signature"]!);
            signature[10] ^= 0x01;
            j["signature"] = Base64Url.EncodeToString(signature);
        });

        Assert.Equal(ConfigBundleErrors.Tampered, Refused(tampered).Error);
    }

    [Fact]
    public void Refuses_a_bundle_signed_by_a_config_signer_of_another_CA()
    {
        var foreign = OtherPki.IssueSigner("kpu-config", KpuRole.Config);

        var e = Refused(Signed(signer: foreign));

        Assert.Equal(ConfigBundleErrors.UntrustedSigner, e.Error);
        Assert.Contains(CertificateErrors.UnknownIssuer, e.Detail);
    }

    [Fact]
    public void Refuses_a_bundle_signed_with_a_log_key()
    {
        var e = Refused(Signed(signer: KpuPki.IssueSigner("kpu-log", KpuRole.Log)));

        Assert.Equal(ConfigBundleErrors.UntrustedSigner, e.Error);
        Assert.Contains(CertificateErrors.WrongRole, e.Detail);
    }

    [Fact]
    public void Refuses_a_bundle_signed_with_a_device_key()
    {
        var e = Refused(Signed(signer: (Device.SigningKey, Device.SigningCertificate)));

        Assert.Equal(ConfigBundleErrors.UntrustedSigner, e.Error);
    }

    [Fact]
    public void Refuses_a_bundle_whose_signer_was_revoked()
    {
        var crl = RevocationList.Parse(KpuPki.Issuing.CreateCrl(
            [new RevokedCertificate(ConfigSigner.Certificate.SerialHex, Now, RevocationReason.KeyCompromise)], Now, Now.AddDays(7)));

        var e = Refused(Signed(), trust: DeviceTrust.WithCrl(crl));

        Assert.Equal(ConfigBundleErrors.UntrustedSigner, e.Error);
        Assert.Contains(CertificateErrors.Revoked, e.Detail);
    }

    [Fact]
    public void Refuses_a_bundle_for_another_device()
    {
        var e = Refused(Signed(Config("dev-3273011001004") with { Assignment = "3273011001004" }));

        Assert.Equal(ConfigBundleErrors.WrongDevice, e.Error);
        Assert.Contains("dev-3273011001004", e.Message);
        Assert.Contains(DeviceId, e.Message);
    }

    [Fact]
    public void Refuses_an_expired_bundle_from_its_expiry_on()
    {
        string bundle = Signed();

        Assert.Equal(DeviceId, ConfigBundle.Open(bundle, DeviceTrust, DeviceId, Now.AddDays(30).AddSeconds(-1)).DeviceId);
        var e = Refused(bundle, now: Now.AddDays(30));
        Assert.Equal(ConfigBundleErrors.Expired, e.Error);
        Assert.Contains("masa berlaku", e.Message);
    }

    [Fact]
    public void Refuses_a_bundle_issued_more_than_five_minutes_in_the_future()
    {
        string bundle = Signed(Config() with { IssuedAt = Now.AddHours(2), ExpiresAt = Now.AddDays(30) });

        Assert.Equal(DeviceId, ConfigBundle.Open(bundle, DeviceTrust, DeviceId, Now.AddHours(2).AddMinutes(-5)).DeviceId);
        Assert.Equal(ConfigBundleErrors.NotYetValid, Refused(bundle, now: Now.AddHours(2).AddMinutes(-5).AddSeconds(-1)).Error);
    }

    [Fact]
    public void Refuses_a_bundle_when_the_signer_certificate_has_expired()
    {
        string bundle = Signed(Config() with { ExpiresAt = Now.AddYears(5) });

        var e = Refused(bundle, now: ConfigSigner.Certificate.NotAfter.AddSeconds(1));

        Assert.Equal(ConfigBundleErrors.UntrustedSigner, e.Error);
        Assert.Contains(CertificateErrors.Expired, e.Detail);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not json")]
    [InlineData("[]")]
    [InlineData("{\"format\":\"kpu-config/2\",\"payload\":\"e30\",\"signer\":\"AA==\",\"signature\":\"AA\"}")]
    [InlineData("{\"format\":\"kpu-config/1\",\"payload\":\"e30\",\"signer\":\"!!!\",\"signature\":\"AA\"}")]
    [InlineData("{\"format\":\"kpu-config/1\",\"signer\":\"AA==\",\"signature\":\"AA\"}")]
    [InlineData("{\"format\":\"kpu-config/1\",\"payload\":\"e30\",\"signer\":\"MAA=\",\"signature\":\"AA\"}")]
    public void Refuses_a_malformed_bundle(string bundle)
    {
        var e = Refused(bundle);

        Assert.Equal(ConfigBundleErrors.Malformed, e.Error);
        Assert.Contains("rusak", e.Message);
    }

    [Fact]
    public void Refuses_a_correctly_signed_payload_that_is_not_a_device_configuration()
    {
        byte[] payload = "{\"device_id\":\"dev-3273011001003\"}"u8.ToArray();
        string bundle = new JsonObject
        {
            ["format"] = "kpu-config/1",
            ["payload"] = Base64Url.EncodeToString(payload),
            ["signer"] = Convert.ToBase64String(ConfigSigner.Certificate.Der),
            ["signature"] = Base64Url.EncodeToString(ConfigSigner.Key.Sign(ConfigBundle.SignatureInput(payload))),
        }.ToJsonString();

        Assert.Equal(ConfigBundleErrors.Malformed, Refused(bundle).Error);
    }

    [Fact]
    public void Will_not_sign_with_a_key_its_certificate_does_not_certify()
    {
        Assert.Throws<ArgumentException>(() => ConfigBundle.Sign(Config(), DeviceKey.Deterministic("other", 1), ConfigSigner.Certificate));
        Assert.Throws<ArgumentException>(() => ConfigBundle.Sign(Config() with { Assignment = "327301" }, ConfigSigner.Key, ConfigSigner.Certificate));
    }
}
