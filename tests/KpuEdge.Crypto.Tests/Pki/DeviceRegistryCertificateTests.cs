using System.Text.Json.Nodes;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto.Pki;
using static KpuEdge.Crypto.Tests.Pki.PkiSamples;

namespace KpuEdge.Crypto.Tests.Pki;

public sealed class DeviceRegistryCertificateTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("kpuedge-registry-pki-tests-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string PathOf(string name) => Path.Combine(_dir.FullName, name);

    private string SaveRegistry(params DeviceRecord[] records)
    {
        var registry = new DeviceRegistry();
        foreach (var r in records) registry.Register(r);
        string path = PathOf("devices.json");
        registry.Save(path);
        return path;
    }

    private static DeviceRecord Certified(string id, string tps) => DeviceRecord.FromCertificate(KpuPki.IssueDevice(id, KpuRole.Tps, tps).SigningCertificate);

    [Fact]
    public void A_record_made_from_a_signing_certificate_has_its_id_TPS_and_key()
    {
        var record = DeviceRecord.FromCertificate(Device.SigningCertificate);

        Assert.Equal(DeviceId, record.DeviceId);
        Assert.Equal(TpsCode.Parse(Tps), record.Tps);
        Assert.Equal(Device.SigningKey.PublicKey.Encoded, record.PublicKey.Encoded);
        Assert.Same(Device.SigningCertificate, record.SigningCertificate);
        Assert.Throws<ArgumentException>(() => DeviceRecord.FromCertificate(Device.TlsCertificate));
        Assert.Throws<ArgumentException>(() => DeviceRecord.FromCertificate(KpuPki.IssueSigner("kpu-config", KpuRole.Config).Certificate));
    }

    [Fact]
    public void Certificates_survive_a_save_and_a_checked_load()
    {
        string path = SaveRegistry(Certified("dev-a", "3273011001003"), Certified("dev-b", "1101082007901"));

        var loaded = DeviceRegistry.Load(path, KpuPki.Trust, Now);

        Assert.Equal(2, loaded.Count);
        Assert.True(loaded.TryGet("dev-b", out var b));
        Assert.Equal("1101082007901", b.Tps.Value);
        Assert.Equal(b.PublicKey.Encoded, b.SigningCertificate!.SigningKey!.Encoded);
        Assert.Contains("\"signing_certificate\": \"-----BEGIN CERTIFICATE-----", File.ReadAllText(path));
    }

    [Fact]
    public void Entries_without_a_certificate_are_written_as_before()
    {
        string path = SaveRegistry(new DeviceRecord("dev-a", TpsCode.Parse(Tps), DeviceKey.Deterministic("dev-a", 1).PublicKey));

        Assert.DoesNotContain("signing_certificate", File.ReadAllText(path));
        Assert.Null(DeviceRegistry.Load(path).All.Single().SigningCertificate);
    }

    [Fact]
    public void A_checked_load_names_a_device_without_a_certificate()
    {
        string path = SaveRegistry(Certified("dev-a", Tps), new DeviceRecord("dev-bare", TpsCode.Parse(Tps), DeviceKey.Deterministic("dev-bare", 1).PublicKey));

        var e = Assert.Throws<InvalidDataException>(() => DeviceRegistry.Load(path, KpuPki.Trust, Now));
        Assert.Contains("dev-bare", e.Message);
    }

    [Fact]
    public void A_checked_load_names_a_device_registered_for_another_TPS_than_its_certificate()
    {
        string path = SaveRegistry(Certified("dev-a", Tps));
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        json[0]!["tps"] = "3273011001004";
        File.WriteAllText(path, json.ToJsonString());

        var e = Assert.Throws<InvalidDataException>(() => DeviceRegistry.Load(path, KpuPki.Trust, Now));
        Assert.Contains("dev-a", e.Message);
        Assert.Contains("3273011001004", e.Message);
    }

    [Fact]
    public void A_checked_load_names_a_device_whose_key_is_not_its_certificate_key()
    {
        string path = SaveRegistry(Certified("dev-a", Tps));
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        json[0]!["public_key"] = DeviceKey.Deterministic("attacker", 1).PublicKey.ToBase64();
        File.WriteAllText(path, json.ToJsonString());

        var e = Assert.Throws<InvalidDataException>(() => DeviceRegistry.Load(path, KpuPki.Trust, Now));
        Assert.Contains("dev-a", e.Message);
        Assert.Contains("public key", e.Message);
    }

    [Fact]
    public void A_checked_load_names_a_device_with_the_certificate_of_another_device()
    {
        var other = KpuPki.IssueDevice("dev-b", KpuRole.Tps, Tps).SigningCertificate;
        string path = SaveRegistry(new DeviceRecord("dev-a", TpsCode.Parse(Tps), other.SigningKey!) { SigningCertificate = other });

        var e = Assert.Throws<InvalidDataException>(() => DeviceRegistry.Load(path, KpuPki.Trust, Now));
        Assert.Contains("dev-a", e.Message);
    }

    [Fact]
    public void A_checked_load_names_a_device_whose_certificate_the_PKI_refuses()
    {
        string path = SaveRegistry(Certified("dev-a", Tps), DeviceRecord.FromCertificate(OtherPki.IssueDevice("dev-z", KpuRole.Tps, Tps).SigningCertificate));

        var e = Assert.Throws<InvalidDataException>(() => DeviceRegistry.Load(path, KpuPki.Trust, Now));
        Assert.Contains("dev-z", e.Message);
        Assert.Contains(CertificateErrors.UnknownIssuer, e.Message);
    }

    [Fact]
    public void A_checked_load_keeps_a_genuine_device_whose_certificate_was_revoked_or_expired()
    {
        // Its earlier forms must stay verifiable; the ingest refuses its new ones. One revocation must not stop the load.
        var revoked = KpuPki.IssueDevice("dev-r", KpuRole.Tps, Tps);
        string path = SaveRegistry(Certified("dev-a", Tps), DeviceRecord.FromCertificate(revoked.SigningCertificate));
        var crl = KpuPki.Issuing.CreateCrl([new RevokedCertificate(revoked.SigningCertificate.SerialHex, Now, RevocationReason.KeyCompromise)], Now, Now.AddDays(7));
        var trust = KpuPki.Trust.WithCrl(RevocationList.Parse(crl));

        Assert.Equal(2, DeviceRegistry.Load(path, trust, Now.AddHours(1)).Count);
        Assert.Equal(2, DeviceRegistry.Load(path, KpuPki.Trust, Now.AddYears(1)).Count);
    }
}
