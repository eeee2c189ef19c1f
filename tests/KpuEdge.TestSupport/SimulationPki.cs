using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using KpuEdge.Cloud;
using KpuEdge.Cloud.Security;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Transparency;

namespace KpuEdge.TestSupport;

/// <summary>
/// KPU's PKI for a simulated election, made from a seed and a creation time: root and issuing CA, the cloud's broker,
/// ingest and log keys, and on demand a certificate pair for every simulated device. Kept by the caller across cloud
/// restarts, so devices, registry and log key stay the same. <see cref="Save"/> writes the cloud's half as a PKI
/// directory (what kpu-cloud reads), so a simulator run against a separately started cloud can issue devices it trusts.
/// For development and load tests only: the real root CA is offline (firmware-config/README.md).
/// </summary>
public sealed class SimulationPki
{
    private sealed record Seed(int Value, DateTimeOffset Created, string ElectionId);

    private const string SeedFile = "simulation-pki.json";
    private readonly Seed _seed;

    private SimulationPki(Seed seed, string origin)
    {
        _seed = seed;
        Pki = EphemeralPki.Create(seed.ElectionId, seed.Created, seed.Value);
        Cloud = CloudPki.FromEphemeral(Pki, origin);
        LogKey = NoteVerifierKey.Parse(Cloud.LogKey.VerifierKey);
    }

    public EphemeralPki Pki { get; }
    public CloudPki Cloud { get; }
    /// <summary>What devices verify receipts with (in reality it reaches them in their configuration bundle).</summary>
    public NoteVerifierKey LogKey { get; }

    /// <summary>The cloud's PKI for one node of a cluster: the same CA, broker certificate and log key; its own ingest identity.</summary>
    public CloudPki CloudForNode(string node) =>
        Cloud.WithIngestCertificate(Pki.IssueService($"kpu-cloud-ingest-{node}", CertificatePurpose.TlsClient).Item1);

    public static SimulationPki Create(ElectionDefinition election, int seed = 1) =>
        new(new Seed(seed, DateTimeOffset.UtcNow, election.ElectionId), CloudHost.LogOrigin(new CloudOptions(), election));

    /// <summary>Writes the cloud's PKI directory (root.crt, issuing.crt, broker/ingest certificates and keys, log.key) and the seed.</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        string At(string name) => Path.Combine(directory, name);
        PemFiles.WritePublic(At("root.crt"), Pki.Root.Certificate.ToPem());
        PemFiles.WritePublic(At("issuing.crt"), Pki.Issuing.Certificate.ToPem());
        WriteTls(At("broker"), Cloud.BrokerCertificate);
        WriteTls(At("ingest"), Cloud.IngestCertificate);
        PemFiles.WritePrivate(At("log.key"), PemFiles.SigningKeyToPem(Cloud.LogKey.Key));
        PemFiles.WritePrivate(At(SeedFile), JsonSerializer.Serialize(_seed, KpuJson.Files));
    }

    /// <summary>A cluster node's PKI directory: as <see cref="Save"/>, with the node's own ingest certificate and key.</summary>
    public void SaveForNode(string directory, string node)
    {
        Save(directory);
        WriteTls(Path.Combine(directory, "ingest"), CloudForNode(node).IngestCertificate);
    }

    private static void WriteTls(string stem, X509Certificate2 certificate)
    {
        PemFiles.WritePublic(stem + ".crt", KpuCertificate.FromDer(certificate.RawData).ToPem());
        using var key = certificate.GetECDsaPrivateKey() ?? throw new InvalidOperationException("A TLS certificate without its key.");
        PemFiles.WritePrivate(stem + ".key", key.ExportPkcs8PrivateKeyPem() + "\n");
    }

    /// <summary>The PKI a <see cref="Save"/> wrote: the same seed and creation time give the same keys.</summary>
    public static SimulationPki Load(string directory, ElectionDefinition election)
    {
        string path = Path.Combine(directory, SeedFile);
        if (!File.Exists(path))
            throw new FileNotFoundException($"{directory} holds no simulation PKI ({SeedFile}); create it with `kpu-sim pki --dir {directory}`.", path);
        var seed = JsonSerializer.Deserialize<Seed>(File.ReadAllText(path), KpuJson.Files) ?? throw new InvalidDataException($"{path} is empty.");
        if (seed.ElectionId != election.ElectionId)
            throw new InvalidDataException($"{path} is a PKI of election '{seed.ElectionId}', not '{election.ElectionId}'.");
        return new SimulationPki(seed, CloudHost.LogOrigin(new CloudOptions(), election));
    }
}
