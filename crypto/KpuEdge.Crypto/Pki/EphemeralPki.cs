using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Prng;
using Org.BouncyCastle.Security;

namespace KpuEdge.Crypto.Pki;

/// <summary>
/// A whole PKI in memory, for tests, the simulator and the in-process demo: a root, one issuing CA, and fast issuing
/// of device, service and signer credentials. Deterministic: every key, serial and signature comes from a random
/// generator seeded with (seed, what is issued), so the same call gives the same certificate in any order and on
/// any thread. Never for real devices: anyone who knows the seed knows every key.
/// </summary>
public sealed class EphemeralPki
{
    /// <summary>Device certificates when no validity is given (the election period and then some).</summary>
    public static readonly TimeSpan DefaultDeviceValidity = TimeSpan.FromDays(60);

    /// <summary>Certificates start this much before <see cref="Now"/>, so devices with slightly slow clocks accept them.</summary>
    public static readonly TimeSpan ClockSkew = TimeSpan.FromHours(1);

    private EphemeralPki(string electionId, DateTimeOffset now, int seed, CertificateAuthority root, CertificateAuthority issuing)
    {
        ElectionId = electionId;
        Now = now;
        Seed = seed;
        Root = root;
        Issuing = issuing;
        Trust = new TrustStore(root.Certificate, [issuing.Certificate]);
    }

    /// <summary>Root CA valid from a day before <paramref name="now"/> for 10 years; issuing CA likewise for 3 years.</summary>
    public static EphemeralPki Create(string electionId, DateTimeOffset now, int seed)
    {
        var root = CertificateAuthority.CreateRoot("KPU Root CA", now.AddDays(-1), now.AddYears(10), SeededRandom(seed, "root-ca"));
        var issuing = root.CreateIssuing("KPU Issuing CA 1", now.AddDays(-1), now.AddYears(3), SeededRandom(seed, "issuing-ca"));
        return new EphemeralPki(electionId, now, seed, root, issuing);
    }

    public string ElectionId { get; }

    /// <summary>The time certificates are issued at.</summary>
    public DateTimeOffset Now { get; }

    public int Seed { get; }

    public CertificateAuthority Root { get; }

    public CertificateAuthority Issuing { get; }

    /// <summary>Root and issuing CA, no CRLs.</summary>
    public TrustStore Trust { get; }

    /// <summary>
    /// A device's two key pairs and certificates (signing: Ed25519; TLS client: ECDSA P-256), valid from
    /// <see cref="Now"/> minus <see cref="ClockSkew"/> for <paramref name="validity"/> (default 60 days). Without
    /// <paramref name="signingKey"/> the signing key is <c>DeviceKey.Deterministic(deviceId, Seed)</c>.
    /// Skips the CSR round trip: this PKI made the keys itself, so a proof of possession would prove nothing.
    /// </summary>
    public DeviceCredentials IssueDevice(string deviceId, KpuRole role, string assignment, DeviceKey? signingKey = null, TimeSpan? validity = null)
    {
        var identity = new KpuIdentity(deviceId, role, assignment, ElectionId);
        signingKey ??= DeviceKey.Deterministic(deviceId, Seed);
        var random = SeededRandom(Seed, "device:" + deviceId);
        var tlsKey = TlsKey.Generate(random);
        var notBefore = Now - ClockSkew;
        var notAfter = Now + (validity ?? DefaultDeviceValidity);
        var signing = Issuing.IssueForKey(new Ed25519PublicKeyParameters(signingKey.PublicKey.Encoded), identity, CertificatePurpose.Signing, notBefore, notAfter, null, random);
        var tls = Issuing.IssueForKey(tlsKey.Public, identity, CertificatePurpose.TlsClient, notBefore, notAfter, null, random);
        return new DeviceCredentials
        {
            DeviceId = deviceId,
            SigningKey = signingKey,
            TlsKey = tlsKey,
            SigningCertificate = signing,
            TlsCertificate = tls,
            Root = Root.Certificate,
            Issuing = [Issuing.Certificate],
        };
    }

    /// <summary>
    /// Only a device's signing certificate (Ed25519 key), for a device that never connects itself — a TPS whose forms a
    /// PPK station carries (the load generator's national fleet): one issuance instead of two, and no TLS key.
    /// </summary>
    public KpuCertificate IssueSigningCertificate(string deviceId, KpuRole role, string assignment, DeviceKey signingKey, TimeSpan? validity = null)
    {
        var identity = new KpuIdentity(deviceId, role, assignment, ElectionId);
        return Issuing.IssueForKey(new Ed25519PublicKeyParameters(signingKey.PublicKey.Encoded), identity, CertificatePurpose.Signing,
            Now - ClockSkew, Now + (validity ?? DefaultDeviceValidity), null, SeededRandom(Seed, "signing:" + deviceId));
    }

    /// <summary>
    /// A TLS certificate with its private key for a cloud service (broker, ingest, API), role <c>service</c>, valid a
    /// year. A server certificate without <paramref name="altNames"/> names localhost, 127.0.0.1 and ::1.
    /// </summary>
    public (X509Certificate2 Certificate, KpuCertificate Cert) IssueService(string name, CertificatePurpose purpose, IReadOnlyList<string>? altNames = null)
    {
        if (purpose == CertificatePurpose.Signing) throw new ArgumentException("A service TLS certificate is TlsServer or TlsClient; use IssueSigner for signing keys.", nameof(purpose));
        if (altNames is null && purpose == CertificatePurpose.TlsServer) altNames = ["localhost", "127.0.0.1", "::1"];
        var identity = new KpuIdentity(name, KpuRole.Service, "", ElectionId);
        var random = SeededRandom(Seed, $"service:{name}:{purpose}");
        var key = TlsKey.Generate(random);
        var certificate = Issuing.IssueForKey(key.Public, identity, purpose, Now - ClockSkew, Now.AddDays(365), altNames, random);
        return (key.WithCertificate(certificate), certificate);
    }

    /// <summary>An Ed25519 signer (role config, log or service) with its signing certificate, valid a year.</summary>
    public (DeviceKey Key, KpuCertificate Certificate) IssueSigner(string name, KpuRole role)
    {
        if (role is KpuRole.Tps or KpuRole.Ppk) throw new ArgumentException("Devices are issued with IssueDevice.", nameof(role));
        var identity = new KpuIdentity(name, role, "", ElectionId);
        var key = DeviceKey.Deterministic("signer:" + name, Seed);
        var certificate = Issuing.IssueForKey(new Ed25519PublicKeyParameters(key.PublicKey.Encoded), identity, CertificatePurpose.Signing,
            Now - ClockSkew, Now.AddDays(365), null, SeededRandom(Seed, $"signer:{name}"));
        return (key, certificate);
    }

    /// <summary>A BouncyCastle SecureRandom that repeats for the same (seed, label): a SHA-256 DigestRandomGenerator.</summary>
    public static SecureRandom SeededRandom(int seed, string label)
    {
        var generator = new DigestRandomGenerator(new Sha256Digest());
        generator.AddSeedMaterial(SHA256.HashData(Encoding.UTF8.GetBytes($"kpu-ephemeral-pki:{seed}:{label}")));
        return new SecureRandom(generator);
    }
}
