using System.Net;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Sec;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;
using Org.BouncyCastle.X509.Extension;
using BcBigInteger = Org.BouncyCastle.Math.BigInteger;

namespace KpuEdge.Crypto.Pki;

/// <summary>A certificate signing request was refused: bad proof of possession, wrong name or wrong key type.</summary>
public sealed class CertificateRequestException(string message) : Exception(message);

/// <summary>
/// A certificate authority of KPU's PKI: the offline root (ECDSA P-256, self-signed, pathLen 1) or an issuing CA
/// (ECDSA P-256, pathLen 0) that signs the end-entity certificates with SHA256withECDSA.
/// </summary>
public sealed class CertificateAuthority
{
    private const string SignatureAlgorithm = "SHA256WITHECDSA";

    public const string KeyFile = "ca.key";
    public const string CertificateFile = "ca.crt";

    private readonly ECPrivateKeyParameters _key;
    private readonly SecureRandom _random;

    private CertificateAuthority(ECPrivateKeyParameters key, KpuCertificate certificate, SecureRandom random)
    {
        _key = key;
        Certificate = certificate;
        _random = random;
    }

    public KpuCertificate Certificate { get; }

    /// <summary>Creates the offline root: a fresh P-256 key and a self-signed certificate allowing one CA below it.</summary>
    public static CertificateAuthority CreateRoot(string commonName, DateTimeOffset notBefore, DateTimeOffset notAfter, SecureRandom? random = null)
    {
        random ??= new SecureRandom();
        var keys = EcKeys.Generate(random);
        var generator = NewGenerator(random, Names.Subject(commonName), Names.Subject(commonName), notBefore, notAfter, keys.Public);
        AddCaExtensions(generator, keys.Public, pathLength: 1, issuer: null);
        var certificate = generator.Generate(new Asn1SignatureFactory(SignatureAlgorithm, keys.Private, random));
        return new CertificateAuthority((ECPrivateKeyParameters)keys.Private, KpuCertificate.FromGenerated(certificate), random);
    }

    /// <summary>Creates an issuing CA below this root: a fresh P-256 key, certificate signed by this CA, pathLen 0.</summary>
    public CertificateAuthority CreateIssuing(string commonName, DateTimeOffset notBefore, DateTimeOffset notAfter, SecureRandom? random = null)
    {
        random ??= new SecureRandom();
        var keys = EcKeys.Generate(random);
        (notBefore, notAfter) = Clamp(notBefore, notAfter);
        var generator = NewGenerator(random, Certificate.Bc.SubjectDN, Names.Subject(commonName), notBefore, notAfter, keys.Public);
        AddCaExtensions(generator, keys.Public, pathLength: 0, issuer: this);
        var certificate = generator.Generate(new Asn1SignatureFactory(SignatureAlgorithm, _key, _random));
        return new CertificateAuthority((ECPrivateKeyParameters)keys.Private, KpuCertificate.FromGenerated(certificate), random);
    }

    /// <summary>
    /// Issues an end-entity certificate from a PKCS#10 request. Checks the request's own signature (proof that the
    /// requester holds the private key), that its CN equals <c>identity.Name</c>, and that the key fits the purpose
    /// (Ed25519 for Signing, EC P-256 for TLS). Only the CN is taken from the request; everything else comes from
    /// <paramref name="identity"/>. The validity is cut to this CA's own validity.
    /// </summary>
    public KpuCertificate Issue(byte[] csrDer, KpuIdentity identity, CertificatePurpose purpose, DateTimeOffset notBefore, DateTimeOffset notAfter,
        IReadOnlyList<string>? subjectAltNames = null)
    {
        Pkcs10CertificationRequest request;
        AsymmetricKeyParameter publicKey;
        try
        {
            request = new Pkcs10CertificationRequest(csrDer);
            publicKey = request.GetPublicKey();
        }
        catch (Exception e)
        {
            throw new CertificateFormatException($"Not a PKCS#10 certificate request: {e.Message}", e);
        }
        bool possession;
        try { possession = request.Verify(); }
        catch (Exception) { possession = false; }
        if (!possession) throw new CertificateRequestException("The request's signature does not verify: no proof of possession of the private key.");
        string requestedName = Names.CommonName(request.GetCertificationRequestInfo().Subject);
        if (requestedName != identity.Name)
            throw new CertificateRequestException($"The request is for CN '{requestedName}', not for '{identity.Name}'.");
        return IssueForKey(publicKey, identity, purpose, notBefore, notAfter, subjectAltNames, _random);
    }

    /// <summary>The CN a PKCS#10 request asks for (before any check: to know whom a request on a USB stick is from).</summary>
    /// <exception cref="CertificateFormatException">Not a request.</exception>
    public static string RequestedName(byte[] csrDer)
    {
        try { return Names.CommonName(new Pkcs10CertificationRequest(csrDer).GetCertificationRequestInfo().Subject); }
        catch (Exception e) { throw new CertificateFormatException($"Not a PKCS#10 certificate request: {e.Message}", e); }
    }

    /// <summary>True if this CA's key signed <paramref name="certificate"/>.</summary>
    public bool Issued(KpuCertificate certificate)
    {
        try { return certificate.Bc.IssuerDN.Equivalent(Certificate.Bc.SubjectDN) && certificate.Bc.IsSignatureValid(Certificate.Bc.GetPublicKey()); }
        catch (Exception) { return false; }
    }

    /// <summary>
    /// Issues for a public key without a request: for <see cref="EphemeralPki"/>, which generated the key itself, so a
    /// proof of possession would prove nothing. <paramref name="random"/> gives the serial and the ECDSA nonce.
    /// </summary>
    internal KpuCertificate IssueForKey(AsymmetricKeyParameter publicKey, KpuIdentity identity, CertificatePurpose purpose,
        DateTimeOffset notBefore, DateTimeOffset notAfter, IReadOnlyList<string>? subjectAltNames, SecureRandom random)
    {
        CheckKeyFits(publicKey, purpose);
        if (identity.Role is KpuRole.Config or KpuRole.Log && purpose != CertificatePurpose.Signing)
            throw new CertificateRequestException($"A {identity.Role.ToText()} identity only gets a signing certificate.");
        if (subjectAltNames is { Count: > 0 } && purpose == CertificatePurpose.Signing)
            throw new CertificateRequestException("Subject alternative names belong on TLS certificates only.");
        (notBefore, notAfter) = Clamp(notBefore, notAfter);

        var generator = NewGenerator(random, Certificate.Bc.SubjectDN, Names.Subject(identity.Name), notBefore, notAfter, publicKey);
        generator.AddExtension(X509Extensions.BasicConstraints, true, new BasicConstraints(false));
        generator.AddExtension(X509Extensions.KeyUsage, true, new KeyUsage(purpose == CertificatePurpose.Signing
            ? KeyUsage.DigitalSignature | KeyUsage.NonRepudiation
            : KeyUsage.DigitalSignature));
        generator.AddExtension(X509Extensions.ExtendedKeyUsage, false, new ExtendedKeyUsage([purpose switch
        {
            CertificatePurpose.Signing => Eku.KpuSigning,
            CertificatePurpose.TlsClient => Eku.ClientAuth,
            _ => Eku.ServerAuth,
        }]));
        generator.AddExtension(X509Extensions.SubjectKeyIdentifier, false, X509ExtensionUtilities.CreateSubjectKeyIdentifier(publicKey));
        generator.AddExtension(X509Extensions.AuthorityKeyIdentifier, false, AuthorityKeyId());
        if (subjectAltNames is { Count: > 0 })
            generator.AddExtension(X509Extensions.SubjectAlternativeName, false, new GeneralNames(subjectAltNames.Select(AltName).ToArray()));
        generator.AddExtension(new DerObjectIdentifier(KpuOids.Identity), false, KpuCertificate.IdentityExtension(identity));
        return KpuCertificate.FromGenerated(generator.Generate(new Asn1SignatureFactory(SignatureAlgorithm, _key, random)));
    }

    /// <summary>
    /// A DER X.509 v2 CRL of this CA with a reason code per entry. The CRL number is <paramref name="thisUpdate"/> in
    /// Unix seconds: increasing without keeping a counter anywhere.
    /// </summary>
    public byte[] CreateCrl(IEnumerable<RevokedCertificate> revoked, DateTimeOffset thisUpdate, DateTimeOffset nextUpdate)
    {
        if (nextUpdate <= thisUpdate) throw new ArgumentException("A CRL's next update must come after its this update.", nameof(nextUpdate));
        var generator = new X509V2CrlGenerator();
        generator.SetIssuerDN(Certificate.Bc.SubjectDN);
        generator.SetThisUpdate(Truncate(thisUpdate));
        generator.SetNextUpdate(Truncate(nextUpdate));
        foreach (var entry in revoked.OrderBy(r => r.SerialHex, StringComparer.Ordinal))
        {
            string serial = Serials.Normalize(entry.SerialHex) ?? throw new ArgumentException($"Not a hexadecimal serial: '{entry.SerialHex}'.", nameof(revoked));
            generator.AddCrlEntry(new BcBigInteger(serial, 16), Truncate(entry.RevokedAt), RevocationList.ToCrlReason(entry.Reason));
        }
        generator.AddExtension(X509Extensions.CrlNumber, false, new CrlNumber(BcBigInteger.ValueOf(thisUpdate.ToUnixTimeSeconds())));
        generator.AddExtension(X509Extensions.AuthorityKeyIdentifier, false, AuthorityKeyId());
        return generator.Generate(new Asn1SignatureFactory(SignatureAlgorithm, _key, _random)).GetEncoded();
    }

    /// <summary>Writes ca.key (PKCS#8 PEM, mode 0600) and ca.crt (PEM) into <paramref name="directory"/>.</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        PemFiles.WritePrivate(Path.Combine(directory, KeyFile), EcKeys.ToPem(_key));
        PemFiles.WritePublic(Path.Combine(directory, CertificateFile), Certificate.ToPem());
    }

    public static CertificateAuthority Load(string directory)
    {
        var certificate = KpuCertificate.FromPem(File.ReadAllText(Path.Combine(directory, CertificateFile)));
        var key = EcKeys.FromPem(File.ReadAllText(Path.Combine(directory, KeyFile)));
        if (!certificate.IsCertificateAuthority)
            throw new CertificateFormatException($"{directory}: {CertificateFile} is not a CA certificate.");
        if (!EcKeys.PublicOf(key).Equals(certificate.Bc.GetPublicKey()))
            throw new CertificateFormatException($"{directory}: {KeyFile} does not belong to {CertificateFile}.");
        return new CertificateAuthority(key, certificate, new SecureRandom());
    }

    private AuthorityKeyIdentifier AuthorityKeyId() =>
        X509ExtensionUtilities.CreateAuthorityKeyIdentifier(X509ExtensionUtilities.CreateSubjectKeyIdentifier(Certificate.Bc.GetPublicKey()));

    private static X509V3CertificateGenerator NewGenerator(SecureRandom random, X509Name issuer, X509Name subject,
        DateTimeOffset notBefore, DateTimeOffset notAfter, AsymmetricKeyParameter publicKey)
    {
        if (notAfter <= notBefore) throw new ArgumentException("A certificate's end of validity must come after its start.", nameof(notAfter));
        var generator = new X509V3CertificateGenerator();
        generator.SetSerialNumber(NewSerial(random));
        generator.SetIssuerDN(issuer);
        generator.SetSubjectDN(subject);
        generator.SetNotBefore(Truncate(notBefore));
        generator.SetNotAfter(Truncate(notAfter));
        generator.SetPublicKey(publicKey);
        return generator;
    }

    private static void AddCaExtensions(X509V3CertificateGenerator generator, AsymmetricKeyParameter publicKey, int pathLength, CertificateAuthority? issuer)
    {
        generator.AddExtension(X509Extensions.BasicConstraints, true, new BasicConstraints(pathLength));
        generator.AddExtension(X509Extensions.KeyUsage, true, new KeyUsage(KeyUsage.KeyCertSign | KeyUsage.CrlSign));
        generator.AddExtension(X509Extensions.SubjectKeyIdentifier, false, X509ExtensionUtilities.CreateSubjectKeyIdentifier(publicKey));
        if (issuer is not null) generator.AddExtension(X509Extensions.AuthorityKeyIdentifier, false, issuer.AuthorityKeyId());
    }

    /// <summary>Positive, 127 random bits (RFC 5280 allows up to 20 octets; CA/B Forum wants at least 64 random bits).</summary>
    private static BcBigInteger NewSerial(SecureRandom random)
    {
        byte[] bytes = new byte[16];
        random.NextBytes(bytes);
        bytes[0] &= 0x7F;
        bytes[0] |= 0x40; // never a short serial, so every serial has the same length in hex
        return new BcBigInteger(1, bytes);
    }

    /// <summary>A certificate never outlives its issuer.</summary>
    private (DateTimeOffset, DateTimeOffset) Clamp(DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        if (notBefore < Certificate.NotBefore) notBefore = Certificate.NotBefore;
        if (notAfter > Certificate.NotAfter) notAfter = Certificate.NotAfter;
        if (notAfter <= notBefore) throw new ArgumentException($"The validity lies outside the CA's own ({Certificate.NotBefore:u} to {Certificate.NotAfter:u}).");
        return (notBefore, notAfter);
    }

    /// <summary>Certificates hold whole seconds.</summary>
    private static DateTime Truncate(DateTimeOffset time)
    {
        var utc = time.UtcDateTime;
        return new DateTime(utc.Ticks - utc.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);
    }

    private static void CheckKeyFits(AsymmetricKeyParameter publicKey, CertificatePurpose purpose)
    {
        bool fits = purpose == CertificatePurpose.Signing
            ? publicKey is Ed25519PublicKeyParameters
            : EcKeys.IsP256(publicKey);
        if (!fits)
            throw new CertificateRequestException(purpose == CertificatePurpose.Signing
                ? "A signing certificate needs an Ed25519 key."
                : "A TLS certificate needs an ECDSA P-256 key (named curve).");
    }

    private static GeneralName AltName(string name) =>
        IPAddress.TryParse(name, out var address)
            ? new GeneralName(GeneralName.IPAddress, new DerOctetString(address.GetAddressBytes()))
            : new GeneralName(GeneralName.DnsName, name);
}

/// <summary>ECDSA P-256 keys with BouncyCastle: generation, PKCS#8 PEM, and the public point of a private key.</summary>
internal static class EcKeys
{
    public static AsymmetricCipherKeyPair Generate(SecureRandom random)
    {
        var generator = new Org.BouncyCastle.Crypto.Generators.ECKeyPairGenerator("EC");
        generator.Init(new ECKeyGenerationParameters(SecObjectIdentifiers.SecP256r1, random));
        return generator.GenerateKeyPair();
    }

    public static bool IsP256(AsymmetricKeyParameter key) =>
        key is ECPublicKeyParameters { Parameters: ECNamedDomainParameters named } && named.Name.Equals(SecObjectIdentifiers.SecP256r1);

    public static ECPublicKeyParameters PublicOf(ECPrivateKeyParameters key) =>
        new(key.AlgorithmName, new Org.BouncyCastle.Math.EC.Multiplier.FixedPointCombMultiplier().Multiply(key.Parameters.G, key.D).Normalize(), key.Parameters);

    public static string ToPem(ECPrivateKeyParameters key) =>
        PemFiles.Write("PRIVATE KEY", PrivateKeyInfoFactory.CreatePrivateKeyInfo(key).GetEncoded());

    public static ECPrivateKeyParameters FromPem(string pem)
    {
        AsymmetricKeyParameter key;
        try { key = PrivateKeyFactory.CreateKey(PemFiles.Single(pem, "PRIVATE KEY")); }
        catch (CertificateFormatException) { throw; }
        catch (Exception e) { throw new CertificateFormatException($"Not a PKCS#8 private key: {e.Message}", e); }
        if (key is not ECPrivateKeyParameters ec || !IsP256(PublicOf(ec)))
            throw new CertificateFormatException("Not an ECDSA P-256 private key.");
        return ec;
    }
}
