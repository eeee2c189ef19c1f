using KpuEdge.Crypto.Pki;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;

namespace KpuEdge.Crypto.Tests.Pki;

/// <summary>Two reproducible PKIs at a fixed time: KPU's, and a look-alike with the same names but other keys.</summary>
internal static class PkiSamples
{
    public static readonly DateTimeOffset Now = new(2024, 2, 14, 7, 0, 0, TimeSpan.Zero);
    public const string Election = "pemilu-2024";
    public const string Tps = "3273011001003";
    public const string DeviceId = "dev-3273011001003";

    public static readonly EphemeralPki KpuPki = EphemeralPki.Create(Election, Now, seed: 1);

    /// <summary>Same CA names as <see cref="Pki"/>, other keys: what an attacker's home-made "KPU" PKI looks like.</summary>
    public static readonly EphemeralPki OtherPki = EphemeralPki.Create(Election, Now, seed: 2);

    public static readonly DeviceCredentials Device = KpuPki.IssueDevice(DeviceId, KpuRole.Tps, Tps);

    public static KpuIdentity TpsIdentity(string name = DeviceId, string tps = Tps) => new(name, KpuRole.Tps, tps, Election);

    /// <summary>The issuing CA's private key, read back from its saved folder (tests only: to forge odd certificates).</summary>
    public static AsymmetricKeyParameter IssuingKey(EphemeralPki pki)
    {
        var dir = Directory.CreateTempSubdirectory("kpuedge-pki-key-");
        try
        {
            pki.Issuing.Save(dir.FullName);
            return PrivateKeyFactory.CreateKey(PemFiles.Single(File.ReadAllText(Path.Combine(dir.FullName, CertificateAuthority.KeyFile)), PemFiles.PrivateKeyLabel));
        }
        finally { dir.Delete(recursive: true); }
    }

    /// <summary>
    /// A leaf signed by <paramref name="pki"/>'s issuing CA but built by hand, with whatever extensions the test
    /// wants (e.g. none of KPU's identity, or a broken one).
    /// </summary>
    public static KpuCertificate HandMadeLeaf(EphemeralPki pki, string name, Action<X509V3CertificateGenerator> extensions, bool ca = false)
    {
        var key = DeviceKey.Deterministic(name, 7);
        var generator = new X509V3CertificateGenerator();
        generator.SetSerialNumber(BigInteger.ValueOf(0x1234567));
        generator.SetIssuerDN(pki.Issuing.Certificate.Bc.SubjectDN);
        generator.SetSubjectDN(new X509Name($"CN={name},O=Komisi Pemilihan Umum,C=ID"));
        generator.SetNotBefore(Now.AddDays(-1).UtcDateTime);
        generator.SetNotAfter(Now.AddDays(30).UtcDateTime);
        generator.SetPublicKey(new Ed25519PublicKeyParameters(key.PublicKey.Encoded));
        generator.AddExtension(X509Extensions.BasicConstraints, true, ca ? new BasicConstraints(0) : new BasicConstraints(false));
        extensions(generator);
        return KpuCertificate.FromBc(generator.Generate(new Asn1SignatureFactory("SHA256WITHECDSA", IssuingKey(pki))));
    }

    public static Asn1Encodable IdentityValue(params string[] fields) => new DerSequence(fields.Select(f => (Asn1Encodable)new DerUtf8String(f)).ToArray());
}
