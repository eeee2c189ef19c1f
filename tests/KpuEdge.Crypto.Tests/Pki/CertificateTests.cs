using System.Security.Cryptography.X509Certificates;
using KpuEdge.Crypto.Pki;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Pkcs;
using static KpuEdge.Crypto.Tests.Pki.PkiSamples;

namespace KpuEdge.Crypto.Tests.Pki;

public sealed class CertificateTests
{
    [Fact]
    public void A_device_signing_certificate_carries_its_identity_purpose_and_Ed25519_key_through_DER_and_PEM()
    {
        var issued = Device.SigningCertificate;

        foreach (var copy in new[] { KpuCertificate.FromDer(issued.Der), KpuCertificate.FromPem(issued.ToPem()) })
        {
            Assert.Equal(issued.Der, copy.Der);
            Assert.Equal(TpsIdentity(), copy.Identity);
            Assert.Equal(CertificatePurpose.Signing, copy.Purpose);
            Assert.Equal(Device.SigningKey.PublicKey.Encoded, copy.SigningKey!.Encoded);
            Assert.Equal(DeviceId, copy.CommonName);
            Assert.Equal("KPU Issuing CA 1", copy.IssuerCommonName);
            Assert.False(copy.IsCertificateAuthority);
            Assert.Equal(issued.SerialHex, copy.SerialHex);
            Assert.Equal(Now - EphemeralPki.ClockSkew, copy.NotBefore);
            Assert.Equal(Now + EphemeralPki.DefaultDeviceValidity, copy.NotAfter);
        }
        Assert.Matches("^[0-9a-f]{32}$", issued.SerialHex);
    }

    [Fact]
    public void A_device_TLS_certificate_is_a_P256_client_certificate_with_the_same_identity()
    {
        var tls = KpuCertificate.FromDer(Device.TlsCertificate.Der);

        Assert.Equal(CertificatePurpose.TlsClient, tls.Purpose);
        Assert.Null(tls.SigningKey);
        Assert.Equal(Device.SigningCertificate.Identity, tls.Identity);
        Assert.Equal(Device.SigningCertificate.CommonName, tls.CommonName);
        Assert.NotEqual(Device.SigningCertificate.SerialHex, tls.SerialHex);
        using var dotnet = tls.ToX509Certificate2();
        Assert.NotNull(dotnet.GetECDsaPublicKey());
        Assert.Equal("CN=dev-3273011001003, O=Komisi Pemilihan Umum, C=ID", dotnet.Subject);
        Assert.False(dotnet.HasPrivateKey);
    }

    [Fact]
    public void A_server_certificate_names_its_hosts_and_addresses()
    {
        var (withKey, certificate) = KpuPki.IssueService("broker", CertificatePurpose.TlsServer, ["localhost", "127.0.0.1", "broker.kpu.go.id"]);
        using var _ = withKey;

        Assert.Equal(CertificatePurpose.TlsServer, certificate.Purpose);
        Assert.Equal(new KpuIdentity("broker", KpuRole.Service, "", Election), certificate.Identity);
        Assert.True(withKey.HasPrivateKey);
        var san = withKey.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal(["localhost", "broker.kpu.go.id"], san.EnumerateDnsNames());
        Assert.Equal([System.Net.IPAddress.Loopback], san.EnumerateIPAddresses());
    }

    [Fact]
    public void Certificates_are_issued_from_requests_for_both_key_types()
    {
        var now = Now;
        var signingKey = DeviceKey.Deterministic("dev-csr", 3);
        var tlsKey = TlsKey.Generate(EphemeralPki.SeededRandom(3, "csr"));
        var identity = TpsIdentity("dev-csr");

        var signing = KpuPki.Issuing.Issue(SigningRequests.ForSigningKey(signingKey, "dev-csr"), identity, CertificatePurpose.Signing, now, now.AddDays(60));
        var tls = KpuPki.Issuing.Issue(tlsKey.CreateCsr("dev-csr"), identity, CertificatePurpose.TlsClient, now, now.AddDays(60));

        Assert.Equal(signingKey.PublicKey.Encoded, signing.SigningKey!.Encoded);
        Assert.True(tlsKey.Matches(tls));
        Assert.True(KpuPki.Trust.Validate(signing, CertificatePurpose.Signing, now, KpuRole.Tps).Ok);
        Assert.True(KpuPki.Trust.Validate(tls, CertificatePurpose.TlsClient, now, KpuRole.Tps).Ok);
    }

    [Fact]
    public void A_request_signed_by_another_key_than_the_one_it_asks_for_is_refused()
    {
        var victim = DeviceKey.Deterministic("victim", 1);
        var attacker = new Ed25519PrivateKeyParameters(DeviceKey.Deterministic("attacker", 1).PrivateBytes());
        byte[] forged = new Pkcs10CertificationRequest(new Asn1SignatureFactory("Ed25519", attacker),
            new X509Name("CN=dev-csr,O=Komisi Pemilihan Umum,C=ID"), new Ed25519PublicKeyParameters(victim.PublicKey.Encoded), null).GetEncoded();

        var e = Assert.Throws<CertificateRequestException>(() =>
            KpuPki.Issuing.Issue(forged, TpsIdentity("dev-csr"), CertificatePurpose.Signing, Now, Now.AddDays(60)));
        Assert.Contains("proof of possession", e.Message);
    }

    [Fact]
    public void A_request_whose_signature_was_altered_is_refused()
    {
        byte[] csr = TlsKey.Generate(EphemeralPki.SeededRandom(4, "csr")).CreateCsr("dev-csr");
        csr[^3] ^= 0x01;

        var e = Record.Exception(() => KpuPki.Issuing.Issue(csr, TpsIdentity("dev-csr"), CertificatePurpose.TlsClient, Now, Now.AddDays(60)));
        Assert.True(e is CertificateRequestException or CertificateFormatException, e?.ToString());
    }

    [Fact]
    public void A_request_for_another_name_is_refused()
    {
        byte[] csr = SigningRequests.ForSigningKey(DeviceKey.Deterministic("dev-a", 1), "dev-a");

        var e = Assert.Throws<CertificateRequestException>(() =>
            KpuPki.Issuing.Issue(csr, TpsIdentity("dev-b"), CertificatePurpose.Signing, Now, Now.AddDays(60)));
        Assert.Contains("dev-a", e.Message);
    }

    [Fact]
    public void A_key_that_does_not_fit_the_purpose_is_refused()
    {
        byte[] ed25519 = SigningRequests.ForSigningKey(DeviceKey.Deterministic("dev-a", 1), "dev-a");
        byte[] p256 = TlsKey.Generate(EphemeralPki.SeededRandom(5, "k")).CreateCsr("dev-a");

        Assert.Throws<CertificateRequestException>(() => KpuPki.Issuing.Issue(ed25519, TpsIdentity("dev-a"), CertificatePurpose.TlsClient, Now, Now.AddDays(1)));
        Assert.Throws<CertificateRequestException>(() => KpuPki.Issuing.Issue(p256, TpsIdentity("dev-a"), CertificatePurpose.Signing, Now, Now.AddDays(1)));
        Assert.Throws<CertificateRequestException>(() =>
            KpuPki.Issuing.Issue(p256, new KpuIdentity("dev-a", KpuRole.Config, "", Election), CertificatePurpose.TlsClient, Now, Now.AddDays(1)));
    }

    [Fact]
    public void Garbage_is_not_a_request()
    {
        Assert.Throws<CertificateFormatException>(() =>
            KpuPki.Issuing.Issue([0x30, 0x03, 0x02, 0x01, 0x01], TpsIdentity(), CertificatePurpose.Signing, Now, Now.AddDays(1)));
    }

    [Fact]
    public void A_certificate_never_outlives_its_issuing_CA()
    {
        byte[] csr = SigningRequests.ForSigningKey(DeviceKey.Deterministic("dev-long", 1), "dev-long");

        var certificate = KpuPki.Issuing.Issue(csr, TpsIdentity("dev-long"), CertificatePurpose.Signing, Now, Now.AddYears(50));

        Assert.Equal(KpuPki.Issuing.Certificate.NotAfter, certificate.NotAfter);
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 1, 2, 3, 4 })]
    [InlineData(new byte[] { 0x30, 0x82, 0x01, 0x00, 0x01 })]
    public void Garbage_is_not_a_certificate(byte[] bytes)
    {
        Assert.Throws<CertificateFormatException>(() => KpuCertificate.FromDer(bytes));
    }

    [Fact]
    public void Trailing_or_truncated_bytes_are_not_a_certificate()
    {
        byte[] der = Device.SigningCertificate.Der;

        Assert.Throws<CertificateFormatException>(() => KpuCertificate.FromDer([.. der, 0x00]));
        Assert.Throws<CertificateFormatException>(() => KpuCertificate.FromDer(der.AsSpan(0, der.Length - 1)));
        Assert.Throws<CertificateFormatException>(() => KpuCertificate.FromPem("no certificate here"));
    }

    [Fact]
    public void A_chain_file_reads_back_root_then_issuing_CA()
    {
        var chain = KpuCertificate.AllFromPem(Device.ChainPem());

        Assert.Equal([KpuPki.Root.Certificate.Der, KpuPki.Issuing.Certificate.Der], chain.Select(c => c.Der));
        Assert.All(chain, c => Assert.True(c.IsCertificateAuthority));
        Assert.All(chain, c => Assert.Null(c.Identity));
        Assert.All(chain, c => Assert.Null(c.Purpose));
    }

    [Fact]
    public void The_CAs_are_a_P256_root_allowing_one_CA_below_and_an_issuing_CA_allowing_none()
    {
        var root = KpuPki.Root.Certificate;
        var issuing = KpuPki.Issuing.Certificate;

        Assert.Equal(1, root.Bc.GetBasicConstraints());
        Assert.Equal(0, issuing.Bc.GetBasicConstraints());
        Assert.Equal(root.CommonName, issuing.IssuerCommonName);
        Assert.Equal(root.CommonName, root.IssuerCommonName);
        Assert.Equal("SHA-256withECDSA", issuing.Bc.SigAlgName);
        Assert.Equal("SHA-256withECDSA", Device.SigningCertificate.Bc.SigAlgName);
    }

    [Fact]
    public void The_same_seed_gives_the_same_keys_and_certificates_in_any_order()
    {
        var a = EphemeralPki.Create(Election, Now, seed: 9);
        var b = EphemeralPki.Create(Election, Now, seed: 9);
        var c = EphemeralPki.Create(Election, Now, seed: 10);

        var a2 = a.IssueDevice("dev-2", KpuRole.Tps, Tps);
        var a1 = a.IssueDevice("dev-1", KpuRole.Tps, Tps);
        var b1 = b.IssueDevice("dev-1", KpuRole.Tps, Tps);
        var c1 = c.IssueDevice("dev-1", KpuRole.Tps, Tps);

        Assert.Equal(a.Root.Certificate.Der, b.Root.Certificate.Der);
        Assert.Equal(a1.SigningCertificate.Der, b1.SigningCertificate.Der);
        Assert.Equal(a1.TlsCertificate.Der, b1.TlsCertificate.Der);
        Assert.Equal(a1.TlsKey.ToPem(), b1.TlsKey.ToPem());
        Assert.NotEqual(a1.TlsKey.ToPem(), a2.TlsKey.ToPem());
        Assert.NotEqual(a1.TlsKey.ToPem(), c1.TlsKey.ToPem());
        Assert.NotEqual(a.Root.Certificate.Der, c.Root.Certificate.Der);
    }

    [Theory]
    [InlineData(KpuRole.Tps, "3273011001003", true)]
    [InlineData(KpuRole.Tps, "327301", false)]
    [InlineData(KpuRole.Tps, "3273011001000", false)]
    [InlineData(KpuRole.Ppk, "327301", true)]
    [InlineData(KpuRole.Ppk, "3273011001003", false)]
    [InlineData(KpuRole.Service, "", true)]
    [InlineData(KpuRole.Service, "327301", false)]
    [InlineData(KpuRole.Config, "", true)]
    [InlineData(KpuRole.Log, "", true)]
    public void An_identity_checks_its_assignment_against_its_role(KpuRole role, string assignment, bool valid)
    {
        KpuIdentity Make() => new("dev-a", role, assignment, Election);

        if (valid) Assert.Equal(assignment, Make().Assignment);
        else Assert.Throws<ArgumentException>(Make);
    }

    [Theory]
    [InlineData("")]
    [InlineData("dev a")]
    [InlineData("dev/a")]
    [InlineData("dev+")]
    [InlineData("dev#")]
    public void An_identity_refuses_names_that_would_break_topics_or_ACL_lines(string name)
    {
        Assert.Throws<ArgumentException>(() => new KpuIdentity(name, KpuRole.Service, "", Election));
        Assert.Throws<ArgumentException>(() => new KpuIdentity("dev-a", KpuRole.Service, "", name));
    }

    [Fact]
    public void Roles_have_a_wire_text()
    {
        foreach (var role in Enum.GetValues<KpuRole>())
            Assert.Equal(role, KpuRoles.Parse(role.ToText()));
        Assert.Equal(["tps", "ppk", "service", "config", "log"], Enum.GetValues<KpuRole>().Select(r => r.ToText()));
        Assert.False(KpuRoles.TryParse("Tps", out _));
        Assert.Throws<FormatException>(() => KpuRoles.Parse("admin"));
    }

    [Fact]
    public void A_certificate_without_the_identity_extension_has_no_identity()
    {
        var plain = HandMadeLeaf(KpuPki, "plain", _ => { });

        Assert.Null(plain.Identity);
        Assert.Equal(CertificatePurpose.Signing, plain.Purpose);
    }

    [Fact]
    public void The_identity_extension_is_a_non_critical_sequence_of_three_UTF8_strings()
    {
        var extension = Device.SigningCertificate.ToX509Certificate2().Extensions[KpuOids.Identity];

        Assert.NotNull(extension);
        Assert.False(extension.Critical);
        var reader = new System.Formats.Asn1.AsnReader(extension.RawData, System.Formats.Asn1.AsnEncodingRules.DER).ReadSequence();
        Assert.Equal("tps", reader.ReadCharacterString(System.Formats.Asn1.UniversalTagNumber.UTF8String));
        Assert.Equal(Tps, reader.ReadCharacterString(System.Formats.Asn1.UniversalTagNumber.UTF8String));
        Assert.Equal(Election, reader.ReadCharacterString(System.Formats.Asn1.UniversalTagNumber.UTF8String));
        Assert.False(reader.HasData);
        Assert.StartsWith("2.25.", KpuOids.Identity);
    }

    [Fact]
    public void Serials_are_read_in_OpenSSL_spellings_too()
    {
        Assert.Equal("a1b2", Serials.Normalize("A1:B2"));
        Assert.Equal("a1b2", Serials.Normalize("00a1b2"));
        Assert.Equal("0", Serials.Normalize("00"));
        Assert.Null(Serials.Normalize("xyz"));
        Assert.Null(Serials.Normalize(""));
    }
}
