using System.Security.Cryptography.X509Certificates;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Cloud.Transparency;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Transparency;

namespace KpuEdge.Cloud.Security;

/// <summary>Thrown when a revocation list is not one the cloud may install (bad signature, older than the current one).</summary>
public sealed class CrlRefusedException(string message) : Exception(message);

/// <summary>
/// What the cloud holds of KPU's PKI: the trust anchors (root, issuing CA) with the current revocation list, the
/// broker's TLS server certificate, the ingest's TLS client certificate and the transparency log's signing key.
/// The trust store is swapped atomically when a newer CRL is installed.
/// </summary>
public sealed class CloudPki
{
    private TrustStore _trust;
    private readonly Lock _crlLock = new();

    public CloudPki(TrustStore trust, X509Certificate2 brokerCertificate, X509Certificate2 ingestCertificate, LogSigningKey logKey)
    {
        _trust = trust;
        BrokerCertificate = brokerCertificate;
        IngestCertificate = ingestCertificate;
        LogKey = logKey;
    }

    public TrustStore Trust => Volatile.Read(ref _trust);
    public X509Certificate2 BrokerCertificate { get; }
    public X509Certificate2 IngestCertificate { get; }
    public LogSigningKey LogKey { get; }

    /// <summary>The newest installed CRL of the issuing CA (DER), if any.</summary>
    public byte[]? CurrentCrl => Trust.Crls.OrderByDescending(c => c.ThisUpdate).FirstOrDefault()?.Der;

    /// <summary>
    /// Reads a CRL and checks that a KPU issuing CA signed it and that it is newer (<see cref="CrlVersion.IsNewerThan"/>)
    /// than the one installed here. Safe to take from anyone (or from the ledger's database): only the CA's signature
    /// makes it count.
    /// </summary>
    /// <exception cref="CrlRefusedException">Not a CRL, not signed by a KPU issuing CA, or not newer.</exception>
    public RevocationList CheckCrl(ReadOnlySpan<byte> der)
    {
        RevocationList crl;
        try { crl = RevocationList.Parse(der); }
        catch (CertificateFormatException e) { throw new CrlRefusedException($"Not a revocation list: {e.Message}"); }
        var current = Trust;
        if (!current.Issuing.Any(i => i.CommonName == crl.IssuerCommonName && crl.VerifySignature(i)))
            throw new CrlRefusedException($"The revocation list of '{crl.IssuerCommonName}' is not signed by a KPU issuing CA.");
        NewerThanInstalled(current, crl);
        return crl;
    }

    /// <summary>Installs a CRL <see cref="CheckCrl"/> accepted, if it is still newer than the installed one; returns the entries it adds.</summary>
    /// <exception cref="CrlRefusedException">Not newer (another was installed meanwhile).</exception>
    public IReadOnlyList<RevokedCertificate> InstallCrl(RevocationList crl)
    {
        lock (_crlLock)
        {
            var current = Trust;
            var installed = NewerThanInstalled(current, crl);
            var added = crl.Entries.Where(e => installed is null || !installed.TryGet(e.SerialHex, out _)).ToList();
            Volatile.Write(ref _trust, current.WithCrl(crl));
            return added;
        }
    }

    /// <summary>The installed CRL of <paramref name="crl"/>'s issuer, if any; throws if <paramref name="crl"/> is not newer.</summary>
    private static RevocationList? NewerThanInstalled(TrustStore current, RevocationList crl)
    {
        var installed = current.Crls.FirstOrDefault(c => c.IssuerCommonName == crl.IssuerCommonName);
        if (installed is not null && !CrlVersion.Of(crl).IsNewerThan(CrlVersion.Of(installed)))
            throw new CrlRefusedException(
                $"The revocation list {crl.CrlNumber} of {crl.ThisUpdate:O} is not newer than the installed one ({installed.CrlNumber} of {installed.ThisUpdate:O}).");
        return installed;
    }

    /// <summary>
    /// Loads the cloud's PKI files from a directory (see cloud/README.md): root.crt, issuing.crt, optional crl.der,
    /// broker.crt + broker.key, ingest.crt + ingest.key, log.key (PEM, as kpu-provision writes them).
    /// </summary>
    public static CloudPki LoadDirectory(string directory, string origin)
    {
        string Path(string name) => System.IO.Path.Combine(directory, name);
        foreach (var required in new[] { "root.crt", "issuing.crt", "broker.crt", "broker.key", "ingest.crt", "ingest.key", "log.key" })
            if (!File.Exists(Path(required)))
                throw new FileNotFoundException($"The cloud's PKI directory '{directory}' lacks {required} (see cloud/README.md, 'PKI files').", Path(required));
        var crls = File.Exists(Path("crl.der")) ? new[] { File.ReadAllBytes(Path("crl.der")) } : null;
        var trust = TrustStore.Load(File.ReadAllText(Path("root.crt")), File.ReadAllText(Path("issuing.crt")), crls);
        var broker = TlsKey.FromPem(File.ReadAllText(Path("broker.key"))).WithCertificate(KpuCertificate.FromPem(File.ReadAllText(Path("broker.crt"))));
        var ingest = TlsKey.FromPem(File.ReadAllText(Path("ingest.key"))).WithCertificate(KpuCertificate.FromPem(File.ReadAllText(Path("ingest.crt"))));
        var logKey = PemFiles.SigningKeyFromPem(File.ReadAllText(Path("log.key")));
        return new CloudPki(trust, broker, ingest, new LogSigningKey(logKey, origin));
    }

    /// <summary>The same PKI with another ingest certificate: each node's ingest has its own identity at its broker.</summary>
    public CloudPki WithIngestCertificate(X509Certificate2 ingestCertificate) => new(Trust, BrokerCertificate, ingestCertificate, LogKey);

    /// <summary>A complete in-memory PKI for the in-process demo, the simulator and tests.</summary>
    public static CloudPki FromEphemeral(EphemeralPki pki, string origin)
    {
        var (broker, _) = pki.IssueService("kpu-broker", CertificatePurpose.TlsServer, ["localhost", "127.0.0.1"]);
        var (ingest, _) = pki.IssueService("kpu-cloud-ingest", CertificatePurpose.TlsClient);
        var (logKey, _) = pki.IssueSigner("kpu-log", KpuRole.Log);
        return new CloudPki(pki.Trust, broker, ingest, new LogSigningKey(logKey, origin));
    }
}
