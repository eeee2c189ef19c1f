using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.X509.Extension;
using BcCertificate = Org.BouncyCastle.X509.X509Certificate;

namespace KpuEdge.Crypto.Pki;

/// <summary>
/// An X.509 certificate of KPU's PKI (BouncyCastle underneath) with what the project reads from it: the holder's
/// <see cref="KpuIdentity"/> (from the <see cref="KpuOids.Identity"/> extension), its purpose, and for a signing
/// certificate the Ed25519 key. Parsing is strict: only exact DER is accepted.
/// </summary>
public sealed class KpuCertificate
{
    private readonly string? _identityError;

    private KpuCertificate(BcCertificate certificate, byte[] der)
    {
        Der = der;
        Fingerprint = Convert.ToHexStringLower(SHA256.HashData(der));
        SerialHex = Serials.ToHex(certificate.SerialNumber);
        CommonName = Names.CommonName(certificate.SubjectDN);
        IssuerCommonName = Names.CommonName(certificate.IssuerDN);
        NotBefore = new DateTimeOffset(DateTime.SpecifyKind(certificate.NotBefore, DateTimeKind.Utc));
        NotAfter = new DateTimeOffset(DateTime.SpecifyKind(certificate.NotAfter, DateTimeKind.Utc));
        IsCertificateAuthority = certificate.GetBasicConstraints() >= 0;
        (Identity, _identityError) = ReadIdentity(certificate, CommonName);
        var key = certificate.GetPublicKey();
        if (key is Ed25519PublicKeyParameters ed25519) SigningKey = new DevicePublicKey(ed25519.GetEncoded());
        _permitted = [.. ((CertificatePurpose[])[CertificatePurpose.Signing, CertificatePurpose.TlsClient, CertificatePurpose.TlsServer])
            .Where(p => Permits(certificate, IsCertificateAuthority, p))];
        Purpose = _permitted is [var first, ..] ? first : null;
        SubjectKeyId = X509ExtensionUtilities.GetSubjectKeyIdentifier(certificate)?.GetKeyIdentifier();
        AuthorityKeyId = X509ExtensionUtilities.GetAuthorityKeyIdentifier(certificate)?.KeyIdentifier?.GetOctets();
        // A parsed certificate is ≈ 8 KB of objects; a cloud node holds hundreds of thousands of devices' certificates
        // in its registry cache, so only an authority's (few, and needed for every validation) stays parsed.
        _authority = IsCertificateAuthority ? certificate : null;
    }

    private readonly BcCertificate? _authority;

    public static KpuCertificate FromDer(ReadOnlySpan<byte> der)
    {
        byte[] bytes = der.ToArray();
        try
        {
            var certificate = new BcCertificate(bytes);
            // Re-encoding must give the same bytes: no trailing garbage, no BER, nothing a verifier could read differently.
            if (!certificate.GetEncoded().AsSpan().SequenceEqual(bytes)) throw new CertificateFormatException("Not a DER-encoded certificate (trailing or non-canonical bytes).");
            // Reads every extension the project relies on, so a certificate that parses is one we can reason about.
            return new KpuCertificate(certificate, bytes);
        }
        catch (CertificateFormatException) { throw; }
        catch (Exception e)
        {
            throw new CertificateFormatException($"Not an X.509 certificate: {e.Message}", e);
        }
    }

    /// <summary>Wraps a BouncyCastle certificate (its DER is checked as strictly as <see cref="FromDer"/> does).</summary>
    public static KpuCertificate FromBc(BcCertificate certificate) => FromDer(certificate.GetEncoded());

    /// <summary>For certificates this process has just generated: no need to parse its own output again.</summary>
    internal static KpuCertificate FromGenerated(BcCertificate certificate) => new(certificate, certificate.GetEncoded());

    /// <summary>The first CERTIFICATE block of a PEM text.</summary>
    public static KpuCertificate FromPem(string pem) =>
        AllFromPem(pem) is [var first, ..] ? first : throw new CertificateFormatException("No PEM CERTIFICATE block found.");

    /// <summary>Every CERTIFICATE block of a PEM text, in order (a chain file: root, then issuing).</summary>
    public static IReadOnlyList<KpuCertificate> AllFromPem(string pem) =>
        PemFiles.Blocks(pem, PemFiles.CertificateLabel).Select(der => FromDer(der)).ToList();

    /// <summary>
    /// The certificate as BouncyCastle reads it. Kept for an authority; a leaf's is parsed again from <see cref="Der"/>
    /// on each call (read it once per use), so that holding a device's certificate costs its DER and fields, not a parse tree.
    /// </summary>
    public Org.BouncyCastle.X509.X509Certificate Bc => _authority ?? new BcCertificate(Der);

    /// <summary>The certificate's DER bytes (the same array each time: treat it as read-only).</summary>
    public byte[] Der { get; }

    public string ToPem() => PemFiles.Write(PemFiles.CertificateLabel, Der);

    /// <summary>Lower-case hexadecimal, no leading zeros (see <see cref="Serials.Normalize"/> for other spellings).</summary>
    public string SerialHex { get; }

    public string CommonName { get; }

    public string IssuerCommonName { get; }

    public DateTimeOffset NotBefore { get; }

    public DateTimeOffset NotAfter { get; }

    public bool IsCertificateAuthority { get; }

    /// <summary>The holder's identity; null when the KPU identity extension is absent or unreadable.</summary>
    public KpuIdentity? Identity { get; }

    /// <summary>Signing for an Ed25519 key; TlsClient/TlsServer from the extended key usage; null for CAs.</summary>
    public CertificatePurpose? Purpose { get; }

    /// <summary>The Ed25519 key of a signing certificate; null for any other key type.</summary>
    public DevicePublicKey? SigningKey { get; }

    /// <summary>SHA-256 of the DER, lower-case hex: what an operator compares during a key ceremony.</summary>
    public string Fingerprint { get; }

    /// <summary>The certificate as .NET sees it, public part only.</summary>
    public X509Certificate2 ToX509Certificate2() => X509CertificateLoader.LoadCertificate(Der);

    public override string ToString() => $"{CommonName} (serial {SerialHex}, issued by {IssuerCommonName})";

    internal byte[]? SubjectKeyId { get; }

    internal byte[]? AuthorityKeyId { get; }

    /// <summary>Why the identity extension could not be read when it is present; null when fine or absent.</summary>
    internal string? IdentityError => _identityError;

    internal bool HasIdentityExtension => Identity is not null || _identityError is not null;

    /// <summary>Key type, key usage and extended key usage all allow the purpose.</summary>
    internal bool Permits(CertificatePurpose purpose) => _permitted.Contains(purpose);

    private readonly CertificatePurpose[] _permitted;

    private static bool Permits(BcCertificate certificate, bool authority, CertificatePurpose purpose)
    {
        if (authority) return false;
        var key = certificate.GetPublicKey();
        bool[]? usage = certificate.GetKeyUsage();
        bool digitalSignature = usage is null || usage[0];
        IList<DerObjectIdentifier>? eku;
        try { eku = certificate.GetExtendedKeyUsage(); }
        catch (Exception) { return false; }
        bool EkuAllows(DerObjectIdentifier oid) => eku is null || eku.Contains(oid) || eku.Contains(Eku.Any);
        return purpose switch
        {
            CertificatePurpose.Signing => key is Ed25519PublicKeyParameters && digitalSignature && EkuAllows(Eku.KpuSigning),
            CertificatePurpose.TlsClient => key is ECPublicKeyParameters && digitalSignature && EkuAllows(Eku.ClientAuth),
            CertificatePurpose.TlsServer => key is ECPublicKeyParameters && digitalSignature && EkuAllows(Eku.ServerAuth),
            _ => false,
        };
    }

    private static (KpuIdentity?, string?) ReadIdentity(BcCertificate certificate, string commonName)
    {
        var value = certificate.GetExtensionValue(new DerObjectIdentifier(KpuOids.Identity));
        if (value is null) return (null, null);
        try
        {
            var sequence = Asn1Sequence.GetInstance(Asn1Object.FromByteArray(value.GetOctets()));
            if (sequence.Count != 3 || sequence[0] is not DerUtf8String role || sequence[1] is not DerUtf8String assignment || sequence[2] is not DerUtf8String election)
                return (null, "the identity extension is not SEQUENCE { role, assignment, electionId } of UTF8String");
            if (!KpuRoles.TryParse(role.GetString(), out var kpuRole)) return (null, $"unknown role '{role.GetString()}'");
            return (new KpuIdentity(commonName, kpuRole, assignment.GetString(), election.GetString()), null);
        }
        catch (Exception e) when (e is ArgumentException or IOException or InvalidCastException or FormatException)
        {
            return (null, $"unreadable identity extension: {e.Message}");
        }
    }

    internal static Asn1Encodable IdentityExtension(KpuIdentity identity) =>
        new DerSequence(new DerUtf8String(identity.Role.ToText()), new DerUtf8String(identity.Assignment), new DerUtf8String(identity.ElectionId));
}

/// <summary>Certificate serial numbers as text.</summary>
public static class Serials
{
    public static string ToHex(Org.BouncyCastle.Math.BigInteger serial) => serial.ToString(16).ToLowerInvariant();

    /// <summary>Accepts OpenSSL's spellings too ("0A:1B", upper case, leading zeros); null if not hexadecimal.</summary>
    public static string? Normalize(string? text)
    {
        if (text is null) return null;
        string hex = new string(text.Where(c => c is not (':' or ' ')).ToArray()).ToLowerInvariant();
        if (hex.StartsWith("0x", StringComparison.Ordinal)) hex = hex[2..];
        if (hex.Length == 0 || !hex.All(char.IsAsciiHexDigit)) return null;
        hex = hex.TrimStart('0');
        return hex.Length == 0 ? "0" : hex;
    }
}

internal static class Names
{
    public const string Organization = "Komisi Pemilihan Umum";

    /// <summary>Encoded most significant first (C, O, CN), as is usual; written "CN=…, O=Komisi Pemilihan Umum, C=ID" (RFC 4514).</summary>
    public static X509Name Subject(string commonName) => new(
        [X509Name.C, X509Name.O, X509Name.CN],
        new Dictionary<DerObjectIdentifier, string> { [X509Name.CN] = commonName, [X509Name.O] = Organization, [X509Name.C] = "ID" });

    public static string CommonName(X509Name name) => name.GetValueList(X509Name.CN) is [var cn, ..] ? cn : "";
}


internal static class Eku
{
    public static readonly DerObjectIdentifier ServerAuth = new("1.3.6.1.5.5.7.3.1");
    public static readonly DerObjectIdentifier ClientAuth = new("1.3.6.1.5.5.7.3.2");
    public static readonly DerObjectIdentifier Any = new("2.5.29.37.0");
    public static readonly DerObjectIdentifier KpuSigning = new(KpuOids.KpuSigning);
}
