using KpuEdge.Crypto.Pki;
using static KpuEdge.Crypto.Tests.Pki.PkiSamples;

namespace KpuEdge.Crypto.Tests.Pki;

// Debian is the only target: file modes are Unix modes.
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class CredentialFilesTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("kpuedge-credentials-tests-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string PathOf(string name) => Path.Combine(_dir.FullName, name);

    private static UnixFileMode OwnerOnly => UnixFileMode.UserRead | UnixFileMode.UserWrite;

    [Fact]
    public void A_CA_saves_its_key_readable_by_its_owner_only_and_loads_back_able_to_issue()
    {
        KpuPki.Issuing.Save(PathOf("issuing"));

        Assert.Equal(OwnerOnly, File.GetUnixFileMode(PathOf("issuing/ca.key")));
        var loaded = CertificateAuthority.Load(PathOf("issuing"));
        Assert.Equal(KpuPki.Issuing.Certificate.Der, loaded.Certificate.Der);
        byte[] csr = SigningRequests.ForSigningKey(DeviceKey.Deterministic("dev-loaded", 1), "dev-loaded");
        var issued = loaded.Issue(csr, TpsIdentity("dev-loaded"), CertificatePurpose.Signing, Now, Now.AddDays(30));
        Assert.True(KpuPki.Trust.Validate(issued, CertificatePurpose.Signing, Now).Ok);
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", File.ReadAllText(PathOf("issuing/ca.key")));
    }

    [Fact]
    public void A_CA_folder_whose_key_belongs_to_another_CA_does_not_load()
    {
        KpuPki.Issuing.Save(PathOf("issuing"));
        OtherPki.Issuing.Save(PathOf("other"));
        File.Copy(PathOf("other/ca.key"), PathOf("issuing/ca.key"), overwrite: true);

        Assert.Throws<CertificateFormatException>(() => CertificateAuthority.Load(PathOf("issuing")));
    }

    [Fact]
    public void A_device_folder_round_trips_with_private_keys_readable_by_the_owner_only()
    {
        var device = Device;
        device.Save(PathOf("dev"));

        foreach (var key in new[] { "signing.key", "tls.key" })
            Assert.Equal(OwnerOnly, File.GetUnixFileMode(PathOf("dev/" + key)));
        Assert.False(File.Exists(PathOf("dev/config.bundle")));
        var loaded = DeviceCredentials.Load(PathOf("dev"));
        Assert.Equal(DeviceId, loaded.DeviceId);
        Assert.Equal(device.Identity, loaded.Identity);
        Assert.Equal(device.SigningKey.PrivateBytes(), loaded.SigningKey.PrivateBytes());
        Assert.Equal(device.TlsKey.ToPem(), loaded.TlsKey.ToPem());
        Assert.Equal(device.TlsCertificate.Der, loaded.TlsCertificate.Der);
        Assert.Equal(KpuPki.Root.Certificate.Der, loaded.Root.Der);
        Assert.Equal(KpuPki.Issuing.Certificate.Der, Assert.Single(loaded.Issuing).Der);
        Assert.True(loaded.TlsClientCertificate().HasPrivateKey);
        Assert.Same(loaded.TlsClientCertificate(), loaded.TlsClientCertificate());
    }

    [Fact]
    public void A_device_folder_with_a_key_that_does_not_match_its_certificate_does_not_load()
    {
        Device.Save(PathOf("dev"));
        KpuPki.IssueDevice("dev-other", KpuRole.Tps, Tps).Save(PathOf("other"));
        File.Copy(PathOf("other/tls.key"), PathOf("dev/tls.key"), overwrite: true);

        Assert.Throws<CertificateFormatException>(() => DeviceCredentials.Load(PathOf("dev")));
    }

    [Fact]
    public void Keys_survive_PEM()
    {
        var key = DeviceKey.Deterministic("pem", 1);
        var tls = TlsKey.Generate(EphemeralPki.SeededRandom(1, "pem"));

        Assert.Equal(key.PrivateBytes(), PemFiles.SigningKeyFromPem(PemFiles.SigningKeyToPem(key)).PrivateBytes());
        Assert.Equal(tls.ToPem(), TlsKey.FromPem(tls.ToPem()).ToPem());
        Assert.Throws<CertificateFormatException>(() => TlsKey.FromPem(PemFiles.SigningKeyToPem(key)));
        Assert.Throws<CertificateFormatException>(() => PemFiles.SigningKeyFromPem(tls.ToPem()));
        Assert.Throws<CertificateFormatException>(() => TlsKey.FromPem("nothing"));
    }

    [Fact]
    public void A_private_key_file_is_never_readable_by_others_even_when_replacing_a_readable_file()
    {
        string path = PathOf("key.pem");
        File.WriteAllText(path + ".tmp", "old");
        File.SetUnixFileMode(path + ".tmp", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead | UnixFileMode.GroupRead);

        PemFiles.WritePrivate(path, "secret");

        Assert.Equal(OwnerOnly, File.GetUnixFileMode(path));
        Assert.Equal("secret", File.ReadAllText(path));
        Assert.False(File.Exists(path + ".tmp"));
    }
}
