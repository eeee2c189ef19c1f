using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Provisioning;

namespace KpuEdge.Provisioning.Tests;

// Debian is the only target: file modes are Unix modes.
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ProvisioningFlowTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2024, 1, 10, 2, 0, 0, TimeSpan.Zero);
    private const string Tps = "3273011001003";
    private const string DeviceId = "dev-3273011001003";
    private const string LogKey = "log.kpu.go.id+c0ffee01+AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("kpuedge-provision-tests-");
    private readonly FixedTime _time = new(Start);
    private readonly CliHarness _cli;

    public ProvisioningFlowTests() => _cli = new CliHarness(_time);

    public void Dispose() => _dir.Delete(recursive: true);

    private string P(string relative) => Path.Combine(_dir.FullName, relative);

    private string Root => P("root-ca");
    private string Issuing => P("issuing-ca");
    private string Signer => P("config-signer");
    private string Registry => P("cloud/devices.json");

    private static UnixFileMode OwnerOnly => UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>The offline root ceremony, the issuing CA and the config signer.</summary>
    private void SetUpPki()
    {
        _cli.Ok("ca", "init-root", "--dir", Root, "--name", "KPU Root CA 2024");
        _cli.Ok("ca", "init-issuing", "--root", Root, "--dir", Issuing, "--name", "KPU Issuing CA 1");
        _cli.Ok("ca", "issue-signer", "--ca", Issuing, "--chain-root", Root, "--name", "kpu-config", "--role", "config", "--out", Signer);
        Directory.CreateDirectory(P("cloud"));
    }

    /// <summary>
    /// Provisions a device the way it happens in the field: keys made on the device, only the CSRs carried to the
    /// CA on a USB stick, the certificates carried back.
    /// </summary>
    private string ProvisionDevice(string deviceId, string tps)
    {
        string device = P(deviceId);
        string usb = P($"usb-{deviceId}");
        _cli.Ok("device", "init", "--dir", device, "--id", deviceId);
        Directory.CreateDirectory(usb);
        foreach (var csr in new[] { "signing.csr", "tls.csr" }) File.Copy(Path.Combine(device, csr), Path.Combine(usb, csr));

        _cli.Ok("ca", "issue", "--ca", Issuing, "--chain-root", Root, "--device-dir", usb, "--role", "tps", "--assignment", tps,
            "--election", "pemilu-2024", "--registry", Registry);

        foreach (var file in new[] { "signing.crt", "tls.crt", "chain.pem" }) File.Copy(Path.Combine(usb, file), Path.Combine(device, file));
        return device;
    }

    private string SignConfig(string deviceDir, string outFile, int days = 30) =>
        _cli.Ok("config", "sign", "--signer", Signer, "--device-dir", deviceDir, "--broker", "mqtts://127.0.0.1:8883", "--broker", "mqtts://broker-2.kpu.go.id:8883",
            "--election", "pemilu-2024", "--log-key", LogKey, "--api", "https://127.0.0.1:8443", "--days", days.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--out", outFile).Output;

    private TrustStore CloudTrust(params byte[][] crls) =>
        TrustStore.Load(File.ReadAllText(Path.Combine(Root, "ca.crt")), File.ReadAllText(Path.Combine(Issuing, "ca.crt")), crls);

    [Fact]
    public void Provisions_a_device_from_root_ceremony_to_installed_configuration()
    {
        SetUpPki();
        string device = ProvisionDevice(DeviceId, Tps);
        string bundle = P("usb-config/config.bundle");
        Directory.CreateDirectory(P("usb-config"));
        SignConfig(device, bundle);

        var installed = _cli.Ok("device", "install-config", "--dir", device, "--bundle", bundle);

        Assert.Contains("Konfigurasi terpasang", installed.Output);
        Assert.Equal(File.ReadAllText(bundle), File.ReadAllText(Path.Combine(device, "config.bundle")));
        var credentials = DeviceCredentials.Load(device);
        Assert.Equal(new KpuIdentity(DeviceId, KpuRole.Tps, Tps, "pemilu-2024"), credentials.Identity);
        Assert.NotNull(credentials.ConfigBundle);
        var config = ConfigBundle.Open(credentials.ConfigBundle, credentials.CreateTrustStore(), DeviceId, _time.Now);
        Assert.Equal(["mqtts://127.0.0.1:8883", "mqtts://broker-2.kpu.go.id:8883"], config.Brokers);
        Assert.Equal(Tps, config.Assignment);
        Assert.Equal(LogKey, config.LogVerifierKey);
        Assert.Equal($"kpu/v1/device/{DeviceId}/telemetry", config.Telemetry.Topic);
        Assert.Equal(2, config.CaCertificates.Count);
        Assert.Equal(Start.AddDays(30), config.ExpiresAt);

        var trust = CloudTrust();
        Assert.True(trust.Validate(credentials.SigningCertificate, CertificatePurpose.Signing, _time.Now, KpuRole.Tps).Ok);
        Assert.True(trust.Validate(credentials.TlsCertificate, CertificatePurpose.TlsClient, _time.Now, KpuRole.Tps).Ok);
        var registry = DeviceRegistry.Load(Registry, trust, _time.Now);
        Assert.True(registry.TryGet(DeviceId, out var record));
        Assert.Equal(credentials.SigningKey.PublicKey.Encoded, record.PublicKey.Encoded);
        Assert.Equal(Tps, record.Tps.Value);
    }

    [Fact]
    public void Private_keys_are_owner_only_and_never_reach_the_CA_side()
    {
        SetUpPki();
        string device = ProvisionDevice(DeviceId, Tps);

        foreach (var key in new[] { P("root-ca/ca.key"), P("issuing-ca/ca.key"), P("config-signer/signing.key"), Path.Combine(device, "signing.key"), Path.Combine(device, "tls.key") })
            Assert.Equal(OwnerOnly, File.GetUnixFileMode(key));
        string signingKey = File.ReadAllText(Path.Combine(device, "signing.key"));
        string tlsKey = File.ReadAllText(Path.Combine(device, "tls.key"));
        foreach (var folder in new[] { P("usb-" + DeviceId), Issuing, Root, P("cloud") })
        {
            foreach (var file in Directory.EnumerateFiles(folder))
            {
                string text = File.ReadAllText(file);
                Assert.DoesNotContain(signingKey.Trim(), text);
                Assert.DoesNotContain(tlsKey.Trim(), text);
                if (folder != Issuing && folder != Root) Assert.DoesNotContain("PRIVATE KEY", text);
            }
        }
        Assert.Equal(["chain.pem", "signing.crt", "signing.csr", "tls.crt", "tls.csr"],
            Directory.EnumerateFiles(P("usb-" + DeviceId)).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_device_refuses_a_bundle_made_for_another_device_with_a_non_zero_exit_code()
    {
        SetUpPki();
        string device = ProvisionDevice(DeviceId, Tps);
        string neighbour = ProvisionDevice("dev-3273011001004", "3273011001004");
        SignConfig(neighbour, P("neighbour.bundle"));

        var refused = _cli.Run("device", "install-config", "--dir", device, "--bundle", P("neighbour.bundle"));

        Assert.NotEqual(0, refused.Exit);
        Assert.Equal(ProvisioningCli.Refused, refused.Exit);
        Assert.Contains("Konfigurasi DITOLAK", refused.Error);
        Assert.Contains("[wrong_device]", refused.Error);
        Assert.False(File.Exists(Path.Combine(device, "config.bundle")));
    }

    [Fact]
    public void A_device_refuses_a_tampered_or_expired_bundle()
    {
        SetUpPki();
        string device = ProvisionDevice(DeviceId, Tps);
        SignConfig(device, P("config.bundle"));
        string text = File.ReadAllText(P("config.bundle"));
        var json = System.Text.Json.Nodes.JsonNode.Parse(text)!;
        byte[] signature = System.Buffers.Text.Base64Url.DecodeFromChars((string)json["signature"]!);
        signature[0] ^= 1;
        json["signature"] = System.Buffers.Text.Base64Url.EncodeToString(signature);
        File.WriteAllText(P("tampered.bundle"), json.ToJsonString());

        var tampered = _cli.Run("device", "install-config", "--dir", device, "--bundle", P("tampered.bundle"));
        _time.Now = Start.AddDays(31);
        var expired = _cli.Run("device", "install-config", "--dir", device, "--bundle", P("config.bundle"));

        Assert.Equal(ProvisioningCli.Refused, tampered.Exit);
        Assert.Contains("[tampered]", tampered.Error);
        Assert.Equal(ProvisioningCli.Refused, expired.Exit);
        Assert.Contains("[expired]", expired.Error);
        Assert.Contains("masa berlaku", expired.Error);
        Assert.False(File.Exists(Path.Combine(device, "config.bundle")));
    }

    [Fact]
    public void A_revoked_device_certificate_is_listed_in_the_published_CRL()
    {
        SetUpPki();
        string device = ProvisionDevice(DeviceId, Tps);
        var signing = KpuCertificate.FromPem(File.ReadAllText(Path.Combine(device, "signing.crt")));
        var tls = KpuCertificate.FromPem(File.ReadAllText(Path.Combine(device, "tls.crt")));
        _time.Now = Start.AddDays(2);

        _cli.Ok("ca", "revoke", "--ca", Issuing, "--cert", Path.Combine(device, "signing.crt"), "--reason", "key-compromise");
        string colonSerial = string.Join(':', Convert.FromHexString(tls.SerialHex.PadLeft(32, '0')).Select(b => b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture)));
        _cli.Ok("ca", "revoke", "--ca", Issuing, "--serial", colonSerial, "--reason", "superseded");
        Assert.Contains("already revoked", _cli.Ok("ca", "revoke", "--ca", Issuing, "--serial", signing.SerialHex).Output);
        _cli.Ok("ca", "crl", "--ca", Issuing, "--out", P("crl.der"), "--days", "7");

        var crl = RevocationList.Parse(File.ReadAllBytes(P("crl.der")));
        Assert.Equal(2, crl.Entries.Count);
        Assert.Equal(_time.Now.AddDays(7), crl.NextUpdate);
        var trust = CloudTrust(File.ReadAllBytes(P("crl.der")));
        var verdict = trust.Validate(signing, CertificatePurpose.Signing, _time.Now, KpuRole.Tps);
        Assert.Equal(CertificateErrors.Revoked, verdict.Error);
        Assert.Equal(RevocationReason.KeyCompromise, verdict.Revocation!.Reason);
        Assert.Equal(RevocationReason.Superseded, trust.Validate(tls, CertificatePurpose.TlsClient, _time.Now).Revocation!.Reason);
        Assert.True(trust.Validate(signing, CertificatePurpose.Signing, Start.AddDays(1)).Ok); // forms signed before the revocation still count
    }

    [Fact]
    public void Revoking_a_certificate_of_another_CA_is_refused()
    {
        SetUpPki();
        _cli.Ok("ca", "init-root", "--dir", P("other-root"), "--name", "Other Root");
        _cli.Ok("ca", "init-issuing", "--root", P("other-root"), "--dir", P("other-issuing"), "--name", "KPU Issuing CA 1");
        _cli.Ok("ca", "issue-signer", "--ca", P("other-issuing"), "--name", "kpu-config", "--role", "config", "--out", P("other-signer"));

        var result = _cli.Run("ca", "revoke", "--ca", Issuing, "--cert", P("other-signer/signing.crt"));

        Assert.Equal(ProvisioningCli.Failed, result.Exit);
        Assert.Contains("not issued by", result.Error);
    }

    [Fact]
    public void A_bundle_signed_by_a_config_signer_of_another_PKI_is_refused_by_the_device()
    {
        SetUpPki();
        string device = ProvisionDevice(DeviceId, Tps);
        _cli.Ok("ca", "init-root", "--dir", P("other-root"), "--name", "KPU Root CA 2024");
        _cli.Ok("ca", "init-issuing", "--root", P("other-root"), "--dir", P("other-issuing"), "--name", "KPU Issuing CA 1");
        _cli.Ok("ca", "issue-signer", "--ca", P("other-issuing"), "--name", "kpu-config", "--role", "config", "--out", P("other-signer"));
        _cli.Ok("config", "sign", "--signer", P("other-signer"), "--device-dir", device, "--broker", "mqtts://10.6.6.6:8883",
            "--election", "pemilu-2024", "--log-key", LogKey, "--out", P("evil.bundle"));

        var result = _cli.Run("device", "install-config", "--dir", device, "--bundle", P("evil.bundle"));

        Assert.Equal(ProvisioningCli.Refused, result.Exit);
        Assert.Contains("[untrusted_signer]", result.Error);
    }

    [Fact]
    public void Never_overwrites_a_CA_key_or_a_device_key()
    {
        SetUpPki();
        string rootKey = File.ReadAllText(P("root-ca/ca.key"));
        _cli.Ok("device", "init", "--dir", P("dev"), "--id", DeviceId);
        string deviceKey = File.ReadAllText(P("dev/signing.key"));

        Assert.Equal(ProvisioningCli.Failed, _cli.Run("ca", "init-root", "--dir", Root, "--name", "Again").Exit);
        var again = _cli.Run("device", "init", "--dir", P("dev"), "--id", DeviceId);

        Assert.Equal(ProvisioningCli.Failed, again.Exit);
        Assert.Contains("tidak akan ditimpa", again.Error);
        Assert.Equal(rootKey, File.ReadAllText(P("root-ca/ca.key")));
        Assert.Equal(deviceKey, File.ReadAllText(P("dev/signing.key")));
    }

    [Fact]
    public void Refuses_to_issue_when_a_request_names_another_device()
    {
        SetUpPki();
        _cli.Ok("device", "init", "--dir", P("dev-a"), "--id", "dev-a");
        _cli.Ok("device", "init", "--dir", P("dev-b"), "--id", "dev-b");
        File.Copy(P("dev-b/tls.csr"), P("dev-a/tls.csr"), overwrite: true);

        var result = _cli.Run("ca", "issue", "--ca", Issuing, "--device-dir", P("dev-a"), "--role", "tps", "--assignment", Tps, "--election", "pemilu-2024");

        Assert.Equal(ProvisioningCli.Failed, result.Exit);
        Assert.Contains("dev-b", result.Error);
        Assert.False(File.Exists(P("dev-a/tls.crt")));
    }

    [Theory]
    [InlineData("tps", "327301")]
    [InlineData("ppk", "3273011001003")]
    [InlineData("config", "")]
    public void Refuses_an_assignment_that_does_not_fit_the_role(string role, string assignment)
    {
        SetUpPki();
        _cli.Ok("device", "init", "--dir", P("dev"), "--id", DeviceId);

        var result = _cli.Run("ca", "issue", "--ca", Issuing, "--device-dir", P("dev"), "--role", role, "--assignment", assignment, "--election", "pemilu-2024");

        Assert.Equal(ProvisioningCli.Failed, result.Exit);
        Assert.False(File.Exists(P("dev/signing.crt")));
    }

    [Fact]
    public void Provisions_a_PPK_station_for_its_kecamatan_without_adding_it_to_the_TPS_registry()
    {
        SetUpPki();
        _cli.Ok("device", "init", "--dir", P("ppk"), "--id", "ppk-327301");

        var result = _cli.Ok("ca", "issue", "--ca", Issuing, "--device-dir", P("ppk"), "--role", "ppk", "--assignment", "327301", "--election", "pemilu-2024", "--registry", Registry);

        Assert.Contains("TPS devices only", result.Output);
        var certificate = KpuCertificate.FromPem(File.ReadAllText(P("ppk/signing.crt")));
        Assert.Equal(new KpuIdentity("ppk-327301", KpuRole.Ppk, "327301", "pemilu-2024"), certificate.Identity);
        Assert.Equal(0, DeviceRegistry.Load(Registry).Count);
    }

    [Fact]
    public void Config_sign_refuses_an_election_the_device_is_not_certified_for()
    {
        SetUpPki();
        string device = ProvisionDevice(DeviceId, Tps);

        var result = _cli.Run("config", "sign", "--signer", Signer, "--device-dir", device, "--broker", "mqtts://127.0.0.1:8883",
            "--election", "pilkada-2024", "--log-key", LogKey, "--out", P("x.bundle"));

        Assert.Equal(ProvisioningCli.Failed, result.Exit);
        Assert.Contains("pilkada-2024", result.Error);
        Assert.False(File.Exists(P("x.bundle")));
    }

    [Fact]
    public void Issues_a_broker_server_certificate_naming_its_hosts()
    {
        SetUpPki();

        _cli.Ok("ca", "issue-service", "--ca", Issuing, "--name", "broker", "--purpose", "tls-server", "--alt", "localhost", "--alt", "127.0.0.1", "--out", P("broker"));

        Assert.Equal(OwnerOnly, File.GetUnixFileMode(P("broker/tls.key")));
        var certificate = KpuCertificate.FromPem(File.ReadAllText(P("broker/tls.crt")));
        Assert.True(TlsKey.FromPem(File.ReadAllText(P("broker/tls.key"))).Matches(certificate));
        Assert.True(CloudTrust().Validate(certificate, CertificatePurpose.TlsServer, _time.Now, KpuRole.Service).Ok);
        using var dotnet = certificate.ToX509Certificate2();
        var san = dotnet.Extensions.OfType<System.Security.Cryptography.X509Certificates.X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal(["localhost"], san.EnumerateDnsNames());
        Assert.Equal("127.0.0.1", san.EnumerateIPAddresses().Single().ToString());
        Assert.Equal(2, KpuCertificate.AllFromPem(File.ReadAllText(P("broker/chain.pem"))).Count);
        Assert.Equal(ProvisioningCli.Failed, _cli.Run("ca", "issue-service", "--ca", Issuing, "--name", "x", "--purpose", "signing", "--out", P("x")).Exit);
    }

    [Fact]
    public void Writes_a_mosquitto_ACL_that_confines_each_device_to_its_TPS_and_its_receipts()
    {
        SetUpPki();
        ProvisionDevice("dev-b", "3273011001004");
        ProvisionDevice("dev-a", Tps);

        _cli.Ok("mosquitto-acl", "--registry", Registry, "--out", P("acl"), "--ingest", "kpu-ingest");

        string acl = File.ReadAllText(P("acl"));
        string expected = """
            user dev-a
            topic write kpu/v1/tps/3273011001003/c1/+/dev-a
            topic write kpu/v1/tps/3273011001003/img/+/dev-a
            topic read kpu/v1/device/dev-a/receipt
            topic read kpu/v1/device/dev-a/image
            topic read kpu/v1/device/dev-a/config
            topic write kpu/v1/device/dev-a/telemetry

            user dev-b
            topic write kpu/v1/tps/3273011001004/c1/+/dev-b
            topic write kpu/v1/tps/3273011001004/img/+/dev-b
            topic read kpu/v1/device/dev-b/receipt
            topic read kpu/v1/device/dev-b/image
            topic read kpu/v1/device/dev-b/config
            topic write kpu/v1/device/dev-b/telemetry

            user kpu-ingest
            topic read kpu/v1/tps/+/c1/+/+
            topic read kpu/v1/tps/+/img/+/+
            topic write kpu/v1/device/+/receipt
            topic write kpu/v1/device/+/image
            topic write kpu/v1/device/+/config

            """;
        Assert.EndsWith(expected.ReplaceLineEndings("\n"), acl);
        Assert.All(acl.Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#')),
            line => Assert.Matches("^(user [A-Za-z0-9._-]+|topic (read|write) kpu/v1/[a-z0-9/+-]+)$", line));
    }

    [Fact]
    public void Bad_input_is_one_line_on_stderr_not_a_stack_trace()
    {
        var result = _cli.Run("ca", "issue", "--ca", P("missing"), "--device-dir", P("nothing"), "--role", "tps", "--assignment", Tps, "--election", "pemilu-2024");

        Assert.Equal(ProvisioningCli.Failed, result.Exit);
        Assert.StartsWith("error: ", result.Error);
        Assert.DoesNotContain("   at ", result.Error);
    }
}
