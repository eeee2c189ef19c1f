using System.Security.Cryptography.X509Certificates;

namespace KpuEdge.Crypto.Pki;

/// <summary>
/// Everything a provisioned device holds in its folder: <c>signing.key</c> and <c>tls.key</c> (mode 0600, never
/// leave the device), <c>signing.crt</c>, <c>tls.crt</c>, <c>chain.pem</c> (root, then issuing CA) and, once
/// installed, <c>config.bundle</c>.
/// </summary>
public sealed class DeviceCredentials
{
    public const string SigningKeyFile = "signing.key";
    public const string TlsKeyFile = "tls.key";
    public const string SigningRequestFile = "signing.csr";
    public const string TlsRequestFile = "tls.csr";
    public const string SigningCertificateFile = "signing.crt";
    public const string TlsCertificateFile = "tls.crt";
    public const string ChainFile = "chain.pem";
    public const string ConfigBundleFile = "config.bundle";

    private readonly Lock _lock = new();
    private X509Certificate2? _tlsClientCertificate;

    public required string DeviceId { get; init; }

    public required DeviceKey SigningKey { get; init; }

    public required TlsKey TlsKey { get; init; }

    public required KpuCertificate SigningCertificate { get; init; }

    public required KpuCertificate TlsCertificate { get; init; }

    public required KpuCertificate Root { get; init; }

    public required IReadOnlyList<KpuCertificate> Issuing { get; init; }

    /// <summary>The signed configuration bundle's text, when one is installed.</summary>
    public string? ConfigBundle { get; init; }

    public KpuIdentity Identity => SigningCertificate.Identity!;

    /// <summary>The TLS certificate with its private key, for SslStream / MQTTnet client options. Created once.</summary>
    public X509Certificate2 TlsClientCertificate()
    {
        lock (_lock) return _tlsClientCertificate ??= TlsKey.WithCertificate(TlsCertificate);
    }

    /// <summary>The device's view of the PKI: its root and issuing CAs (no CRLs).</summary>
    public TrustStore CreateTrustStore() => new(Root, Issuing);

    /// <summary>The chain file's text: root, then the issuing CAs.</summary>
    public string ChainPem() => string.Concat(Issuing.Prepend(Root).Select(c => c.ToPem()));

    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        PemFiles.WritePrivate(Path.Combine(directory, SigningKeyFile), PemFiles.SigningKeyToPem(SigningKey));
        PemFiles.WritePrivate(Path.Combine(directory, TlsKeyFile), TlsKey.ToPem());
        PemFiles.WritePublic(Path.Combine(directory, SigningCertificateFile), SigningCertificate.ToPem());
        PemFiles.WritePublic(Path.Combine(directory, TlsCertificateFile), TlsCertificate.ToPem());
        PemFiles.WritePublic(Path.Combine(directory, ChainFile), ChainPem());
        if (ConfigBundle is not null) PemFiles.WritePublic(Path.Combine(directory, ConfigBundleFile), ConfigBundle);
    }

    /// <summary>Loads a device folder and checks it hangs together: keys match certificates, one device id, a self-signed root.</summary>
    /// <exception cref="CertificateFormatException">A file is unreadable or the parts do not belong together.</exception>
    public static DeviceCredentials Load(string directory)
    {
        string Read(string file) => File.ReadAllText(Path.Combine(directory, file));
        var signingKey = PemFiles.SigningKeyFromPem(Read(SigningKeyFile));
        var tlsKey = TlsKey.FromPem(Read(TlsKeyFile));
        var signing = KpuCertificate.FromPem(Read(SigningCertificateFile));
        var tls = KpuCertificate.FromPem(Read(TlsCertificateFile));
        var (root, issuing) = SplitChain(KpuCertificate.AllFromPem(Read(ChainFile)), directory);
        string bundlePath = Path.Combine(directory, ConfigBundleFile);

        if (signing.SigningKey is null || !signing.SigningKey.Encoded.AsSpan().SequenceEqual(signingKey.PublicKey.Encoded))
            throw new CertificateFormatException($"{directory}: {SigningCertificateFile} is not for {SigningKeyFile}.");
        if (!tlsKey.Matches(tls))
            throw new CertificateFormatException($"{directory}: {TlsCertificateFile} is not for {TlsKeyFile}.");
        if (signing.Identity is null || tls.CommonName != signing.CommonName)
            throw new CertificateFormatException($"{directory}: the certificates do not name one KPU device.");
        return new DeviceCredentials
        {
            DeviceId = signing.CommonName,
            SigningKey = signingKey,
            TlsKey = tlsKey,
            SigningCertificate = signing,
            TlsCertificate = tls,
            Root = root,
            Issuing = issuing,
            ConfigBundle = File.Exists(bundlePath) ? File.ReadAllText(bundlePath) : null,
        };
    }

    /// <summary>A chain file's certificates: the self-signed one is the root, the others are issuing CAs.</summary>
    public static (KpuCertificate Root, IReadOnlyList<KpuCertificate> Issuing) SplitChain(IReadOnlyList<KpuCertificate> chain, string source)
    {
        var roots = chain.Where(c => c.IsCertificateAuthority && c.Bc.IssuerDN.Equivalent(c.Bc.SubjectDN)).ToList();
        if (roots.Count != 1) throw new CertificateFormatException($"{source}: the chain must hold exactly one root certificate, found {roots.Count}.");
        return (roots[0], chain.Where(c => c != roots[0]).ToList());
    }
}
