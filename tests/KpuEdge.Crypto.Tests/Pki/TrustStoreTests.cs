using KpuEdge.Crypto.Pki;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;
using static KpuEdge.Crypto.Tests.Pki.PkiSamples;

namespace KpuEdge.Crypto.Tests.Pki;

public sealed class TrustStoreTests
{
    private static readonly TrustStore Trust = KpuPki.Trust;

    private static CertificateVerdict Check(KpuCertificate leaf, CertificatePurpose purpose = CertificatePurpose.Signing, DateTimeOffset? at = null, params KpuRole[] roles) =>
        Trust.Validate(leaf, purpose, at ?? Now, roles);

    [Fact]
    public void Accepts_a_device_certificate_of_its_own_PKI_and_names_the_device()
    {
        var verdict = Check(Device.SigningCertificate, CertificatePurpose.Signing, Now, KpuRole.Tps);

        Assert.True(verdict.Ok, verdict.Detail);
        Assert.Null(verdict.Error);
        Assert.Equal(TpsIdentity(), verdict.Identity);
        Assert.Null(verdict.Revocation);
        Assert.True(Check(Device.TlsCertificate, CertificatePurpose.TlsClient, Now, KpuRole.Tps, KpuRole.Ppk).Ok);
        Assert.True(Check(Device.TlsCertificate, CertificatePurpose.TlsClient).Ok);
    }

    [Fact]
    public void Refuses_a_certificate_issued_by_a_look_alike_issuing_CA_as_unknown_issuer()
    {
        var foreign = OtherPki.IssueDevice(DeviceId, KpuRole.Tps, Tps);

        var verdict = Check(foreign.SigningCertificate, roles: KpuRole.Tps);

        Assert.False(verdict.Ok);
        Assert.Equal(CertificateErrors.UnknownIssuer, verdict.Error);
        Assert.Equal(foreign.SigningCertificate.IssuerCommonName, Device.SigningCertificate.IssuerCommonName);
    }

    [Fact]
    public void Refuses_a_self_signed_certificate_of_another_root_as_unknown_issuer()
    {
        Assert.Equal(CertificateErrors.UnknownIssuer, Check(OtherPki.Root.Certificate).Error);
        Assert.Equal(CertificateErrors.UnknownIssuer, Check(KpuPki.Root.Certificate).Error);
    }

    [Fact]
    public void Refuses_a_certificate_issued_directly_by_the_root_as_unknown_issuer()
    {
        byte[] csr = SigningRequests.ForSigningKey(DeviceKey.Deterministic("dev-root", 1), "dev-root");
        var byRoot = KpuPki.Root.Issue(csr, TpsIdentity("dev-root"), CertificatePurpose.Signing, Now, Now.AddDays(30));

        Assert.Equal(CertificateErrors.UnknownIssuer, Check(byRoot).Error);
        Assert.Equal(CertificateErrors.UnknownIssuer, Check(KpuPki.Issuing.Certificate).Error);
    }

    [Fact]
    public void Refuses_an_expired_certificate_from_the_first_second_after_its_end()
    {
        var leaf = Device.SigningCertificate;

        Assert.True(Check(leaf, at: leaf.NotAfter).Ok);
        var verdict = Check(leaf, at: leaf.NotAfter.AddSeconds(1));
        Assert.Equal(CertificateErrors.Expired, verdict.Error);
        Assert.Equal(TpsIdentity(), verdict.Identity);
    }

    [Fact]
    public void Refuses_a_certificate_before_its_start()
    {
        var leaf = Device.SigningCertificate;

        Assert.True(Check(leaf, at: leaf.NotBefore).Ok);
        Assert.Equal(CertificateErrors.NotYetValid, Check(leaf, at: leaf.NotBefore.AddSeconds(-1)).Error);
    }

    [Fact]
    public void Refuses_every_certificate_once_the_issuing_CA_has_expired()
    {
        var shortLived = KpuPki.IssueDevice("dev-long", KpuRole.Tps, Tps, validity: TimeSpan.FromDays(5000));

        Assert.Equal(KpuPki.Issuing.Certificate.NotAfter, shortLived.SigningCertificate.NotAfter);
        Assert.Equal(CertificateErrors.Expired, Check(shortLived.SigningCertificate, at: KpuPki.Issuing.Certificate.NotAfter.AddSeconds(1)).Error);
    }

    [Fact]
    public void Refuses_a_role_that_is_not_allowed()
    {
        var verdict = Check(Device.SigningCertificate, CertificatePurpose.Signing, Now, KpuRole.Config);

        Assert.Equal(CertificateErrors.WrongRole, verdict.Error);
        Assert.Contains("tps", verdict.Detail);
        var (_, logCertificate) = KpuPki.IssueSigner("kpu-log", KpuRole.Log);
        Assert.Equal(CertificateErrors.WrongRole, Check(logCertificate, CertificatePurpose.Signing, Now, KpuRole.Config).Error);
    }

    [Theory]
    [InlineData(true, CertificatePurpose.Signing)]
    [InlineData(false, CertificatePurpose.TlsClient)]
    [InlineData(false, CertificatePurpose.TlsServer)]
    public void Refuses_a_certificate_used_for_another_purpose(bool tlsCertificate, CertificatePurpose usedAs)
    {
        var leaf = tlsCertificate ? Device.TlsCertificate : Device.SigningCertificate;

        Assert.Equal(CertificateErrors.WrongPurpose, Check(leaf, usedAs).Error);
    }

    [Fact]
    public void Refuses_a_client_certificate_as_a_server_and_the_other_way_round()
    {
        var (client, clientCert) = KpuPki.IssueService("kpu-ingest", CertificatePurpose.TlsClient);
        var (server, serverCert) = KpuPki.IssueService("broker", CertificatePurpose.TlsServer);
        client.Dispose();
        server.Dispose();

        Assert.Equal(CertificateErrors.WrongPurpose, Check(clientCert, CertificatePurpose.TlsServer).Error);
        Assert.Equal(CertificateErrors.WrongPurpose, Check(serverCert, CertificatePurpose.TlsClient).Error);
        Assert.True(Check(serverCert, CertificatePurpose.TlsServer, Now, KpuRole.Service).Ok);
    }

    [Fact]
    public void Refuses_a_revoked_certificate_from_its_revocation_time_on()
    {
        var device = KpuPki.IssueDevice("dev-stolen", KpuRole.Tps, Tps);
        var revokedAt = Now.AddDays(3);
        var crl = RevocationList.Parse(KpuPki.Issuing.CreateCrl(
            [new RevokedCertificate(device.SigningCertificate.SerialHex, revokedAt, RevocationReason.KeyCompromise)], Now.AddDays(3), Now.AddDays(10)));
        var trust = Trust.WithCrl(crl);

        Assert.True(trust.Validate(device.SigningCertificate, CertificatePurpose.Signing, revokedAt.AddSeconds(-1)).Ok);
        var verdict = trust.Validate(device.SigningCertificate, CertificatePurpose.Signing, revokedAt);
        Assert.Equal(CertificateErrors.Revoked, verdict.Error);
        Assert.Equal(RevocationReason.KeyCompromise, verdict.Revocation!.Reason);
        Assert.Equal(revokedAt, verdict.Revocation.RevokedAt);
        Assert.True(trust.Validate(device.TlsCertificate, CertificatePurpose.TlsClient, revokedAt).Ok); // only the listed serial
        Assert.True(trust.IsRevoked(device.SigningCertificate.SerialHex.ToUpperInvariant(), out var entry));
        Assert.Equal(RevocationReason.KeyCompromise, entry.Reason);
        Assert.False(Trust.IsRevoked(device.SigningCertificate.SerialHex, out _)); // the original store is unchanged
    }

    [Fact]
    public void Refuses_every_certificate_of_an_issuing_CA_the_root_revoked()
    {
        var crl = RevocationList.Parse(KpuPki.Root.CreateCrl(
            [new RevokedCertificate(KpuPki.Issuing.Certificate.SerialHex, Now, RevocationReason.KeyCompromise)], Now, Now.AddDays(30)));

        var verdict = Trust.WithCrl(crl).Validate(Device.SigningCertificate, CertificatePurpose.Signing, Now);

        Assert.Equal(CertificateErrors.Revoked, verdict.Error);
        Assert.Contains("issuing CA", verdict.Detail);
    }

    [Fact]
    public void Refuses_a_CRL_that_its_CAs_did_not_sign()
    {
        var foreign = RevocationList.Parse(OtherPki.Issuing.CreateCrl(
            [new RevokedCertificate(Device.SigningCertificate.SerialHex, Now, RevocationReason.KeyCompromise)], Now, Now.AddDays(7)));
        byte[] tampered = KpuPki.Issuing.CreateCrl([], Now, Now.AddDays(7));
        tampered[^5] ^= 0x01;

        Assert.Equal(foreign.IssuerCommonName, KpuPki.Issuing.Certificate.CommonName);
        Assert.False(foreign.VerifySignature(KpuPki.Issuing.Certificate));
        Assert.Throws<ArgumentException>(() => Trust.WithCrl(foreign));
        Assert.Throws<ArgumentException>(() => new TrustStore(KpuPki.Root.Certificate, [KpuPki.Issuing.Certificate], [foreign]));
        var parsed = Record.Exception(() => Trust.WithCrl(RevocationList.Parse(tampered)));
        Assert.True(parsed is ArgumentException or CertificateFormatException, parsed?.ToString());
        Assert.True(Check(Device.SigningCertificate).Ok);
    }

    [Fact]
    public void A_newer_CRL_replaces_an_older_one_and_an_older_one_changes_nothing()
    {
        var device = KpuPki.IssueDevice("dev-crl", KpuRole.Tps, Tps);
        var entry = new RevokedCertificate(device.SigningCertificate.SerialHex, Now, RevocationReason.Superseded);
        var older = RevocationList.Parse(KpuPki.Issuing.CreateCrl([], Now, Now.AddDays(7)));
        var newer = RevocationList.Parse(KpuPki.Issuing.CreateCrl([entry], Now.AddHours(1), Now.AddDays(7)));

        var trust = Trust.WithCrl(older).WithCrl(newer);
        Assert.Equal(CertificateErrors.Revoked, trust.Validate(device.SigningCertificate, CertificatePurpose.Signing, Now.AddHours(2)).Error);
        var replayed = trust.WithCrl(older);
        Assert.Equal(CertificateErrors.Revoked, replayed.Validate(device.SigningCertificate, CertificatePurpose.Signing, Now.AddHours(2)).Error);
        Assert.Single(replayed.Crls);
        Assert.Equal(newer.CrlNumber, replayed.Crls[0].CrlNumber);
    }

    [Fact]
    public void Reads_a_CRL_with_its_entries_reasons_and_number()
    {
        var entries = new[]
        {
            new RevokedCertificate("0a", Now.AddMinutes(-5), RevocationReason.KeyCompromise),
            new RevokedCertificate("0B", Now.AddMinutes(-4), RevocationReason.Superseded),
            new RevokedCertificate("c", Now.AddMinutes(-3), RevocationReason.CessationOfOperation),
            new RevokedCertificate("d", Now.AddMinutes(-2), RevocationReason.Unspecified),
        };
        var crl = RevocationList.Parse(KpuPki.Issuing.CreateCrl(entries, Now, Now.AddDays(7)));

        Assert.True(crl.VerifySignature(KpuPki.Issuing.Certificate));
        Assert.False(crl.VerifySignature(KpuPki.Root.Certificate));
        Assert.Equal("KPU Issuing CA 1", crl.IssuerCommonName);
        Assert.Equal(Now, crl.ThisUpdate);
        Assert.Equal(Now.AddDays(7), crl.NextUpdate);
        Assert.Equal(Now.ToUnixTimeSeconds(), crl.CrlNumber);
        Assert.Equal(["a", "b", "c", "d"], crl.Entries.Select(e => e.SerialHex));
        Assert.Equal(entries.Select(e => e.Reason), crl.Entries.Select(e => e.Reason));
        Assert.True(crl.TryGet("00:0A", out var a));
        Assert.Equal(Now.AddMinutes(-5), a.RevokedAt);
        Assert.False(crl.TryGet("0e", out _));
        Assert.Throws<CertificateFormatException>(() => RevocationList.Parse([1, 2, 3]));
        Assert.Throws<CertificateFormatException>(() => RevocationList.Parse([.. crl.Der, 0]));
    }

    [Fact]
    public void Refuses_a_certificate_whose_signed_bytes_were_changed()
    {
        byte[] der = Device.SigningCertificate.Der.ToArray();
        int cn = der.AsSpan().LastIndexOf("dev-3273011001003"u8);
        der[cn + 16] = (byte)'4'; // another TPS's device name, same length

        var verdict = Trust.Validate(der, CertificatePurpose.Signing, Now);

        Assert.Equal(CertificateErrors.BadSignature, verdict.Error);
    }

    [Fact]
    public void No_single_flipped_bit_anywhere_in_a_certificate_is_accepted()
    {
        byte[] original = Device.SigningCertificate.Der;
        var seen = new HashSet<string>();
        for (int i = 0; i < original.Length; i++)
        {
            byte[] der = original.ToArray();
            der[i] ^= (byte)(1 << (i % 8));
            var verdict = Trust.Validate(der, CertificatePurpose.Signing, Now, KpuRole.Tps);
            Assert.False(verdict.Ok, $"flipping a bit of byte {i} was accepted");
            seen.Add(verdict.Error!);
        }
        Assert.Contains(CertificateErrors.BadSignature, seen);
        Assert.Contains(CertificateErrors.Malformed, seen);
    }

    [Fact]
    public void Refuses_a_certificate_without_KPU_identity_as_not_a_KPU_certificate()
    {
        var plain = HandMadeLeaf(KpuPki, "plain", _ => { });

        Assert.Equal(CertificateErrors.NotAKpuCertificate, Check(plain).Error);
    }

    [Fact]
    public void Refuses_a_certificate_with_an_unreadable_or_impossible_identity_as_malformed()
    {
        var oid = new DerObjectIdentifier(KpuOids.Identity);
        var twoFields = HandMadeLeaf(KpuPki, "two", g => g.AddExtension(oid, false, IdentityValue("tps", Tps)));
        var unknownRole = HandMadeLeaf(KpuPki, "admin", g => g.AddExtension(oid, false, IdentityValue("admin", "", Election)));
        var badTps = HandMadeLeaf(KpuPki, "badtps", g => g.AddExtension(oid, false, IdentityValue("tps", "123", Election)));
        var notUtf8 = HandMadeLeaf(KpuPki, "ia5", g => g.AddExtension(oid, false, new DerSequence(new DerIA5String("tps"), new DerIA5String(Tps), new DerIA5String(Election))));

        foreach (var leaf in new[] { twoFields, unknownRole, badTps, notUtf8 })
        {
            Assert.Null(leaf.Identity);
            Assert.Equal(CertificateErrors.Malformed, Check(leaf).Error);
        }
    }

    [Fact]
    public void Refuses_a_certificate_with_a_critical_extension_it_does_not_understand()
    {
        var oid = new DerObjectIdentifier(KpuOids.Identity);
        var criticalIdentity = HandMadeLeaf(KpuPki, "crit", g => g.AddExtension(oid, true, IdentityValue("service", "", Election)));
        var unknown = HandMadeLeaf(KpuPki, "unknown", g =>
        {
            g.AddExtension(oid, false, IdentityValue("service", "", Election));
            g.AddExtension(new DerObjectIdentifier("1.2.3.4.5"), true, DerNull.Instance);
        });

        Assert.NotNull(criticalIdentity.Identity);
        Assert.Equal(CertificateErrors.Malformed, Check(criticalIdentity).Error);
        Assert.Equal(CertificateErrors.Malformed, Check(unknown).Error);
        var fine = HandMadeLeaf(KpuPki, "fine", g => g.AddExtension(oid, false, IdentityValue("service", "", Election)));
        Assert.True(Check(fine).Ok, Check(fine).Detail);
    }

    [Fact]
    public void Refuses_a_CA_certificate_as_a_device_certificate()
    {
        var subCa = HandMadeLeaf(KpuPki, "sub-ca", _ => { }, ca: true);

        Assert.True(subCa.IsCertificateAuthority);
        Assert.Equal(CertificateErrors.WrongPurpose, Check(subCa).Error);
    }

    [Fact]
    public void Bytes_that_are_not_a_certificate_are_malformed()
    {
        var verdict = Trust.Validate(new byte[] { 0x30, 0x00 }, CertificatePurpose.Signing, Now);

        Assert.False(verdict.Ok);
        Assert.Equal(CertificateErrors.Malformed, verdict.Error);
    }

    [Fact]
    public void Will_not_trust_an_issuing_CA_of_another_root()
    {
        Assert.Throws<ArgumentException>(() => new TrustStore(KpuPki.Root.Certificate, [OtherPki.Issuing.Certificate]));
        Assert.Throws<ArgumentException>(() => new TrustStore(KpuPki.Issuing.Certificate, []));
    }

    [Fact]
    public void Loads_from_PEM_and_DER_CRLs()
    {
        byte[] crl = KpuPki.Issuing.CreateCrl([new RevokedCertificate(Device.TlsCertificate.SerialHex, Now, RevocationReason.Superseded)], Now, Now.AddDays(7));

        var trust = TrustStore.Load(KpuPki.Root.Certificate.ToPem(), KpuPki.Issuing.Certificate.ToPem(), [crl]);

        Assert.Equal(KpuPki.Root.Certificate.Der, trust.Root.Der);
        Assert.Single(trust.Issuing);
        Assert.True(trust.Validate(Device.SigningCertificate, CertificatePurpose.Signing, Now).Ok);
        Assert.Equal(CertificateErrors.Revoked, trust.Validate(Device.TlsCertificate, CertificatePurpose.TlsClient, Now).Error);
    }
}
