namespace KpuEdge.Crypto.Pki;

/// <summary>Why a certificate was refused: stable codes for logs, receipts and tests.</summary>
public static class CertificateErrors
{
    /// <summary>The bytes are not a certificate, or its KPU identity extension is unreadable or invalid.</summary>
    public const string Malformed = "malformed";
    /// <summary>No issuing CA of this trust store (by name and key id) issued it.</summary>
    public const string UnknownIssuer = "unknown_issuer";
    /// <summary>Its issuing CA's key does not verify its signature (the bytes were changed).</summary>
    public const string BadSignature = "bad_signature";
    public const string Expired = "expired";
    public const string NotYetValid = "not_yet_valid";
    /// <summary>A TLS certificate used for signing or the other way round, a CA certificate as a leaf, a client certificate as a server.</summary>
    public const string WrongPurpose = "wrong_purpose";
    public const string WrongRole = "wrong_role";
    public const string Revoked = "revoked";
    /// <summary>Chains to KPU's root but carries no KPU identity extension.</summary>
    public const string NotAKpuCertificate = "not_a_kpu_certificate";
}

/// <summary>The outcome of <see cref="TrustStore.Validate(KpuCertificate, CertificatePurpose, DateTimeOffset, KpuRole[])"/>.</summary>
public sealed record CertificateVerdict(bool Ok, string? Error, string Detail, KpuIdentity? Identity, RevokedCertificate? Revocation)
{
    internal static CertificateVerdict Refuse(string error, string detail, KpuIdentity? identity = null, RevokedCertificate? revocation = null) =>
        new(false, error, detail, identity, revocation);
}

/// <summary>
/// What a verifier trusts: KPU's root, the issuing CAs it signed, and the CRLs those CAs (or the root) published.
/// Immutable, so one instance can be shared by every thread; <see cref="WithCrl"/> gives a new store.
/// </summary>
public sealed class TrustStore
{
    // CRLs keyed by the fingerprint of the CA whose key verified them.
    private readonly IReadOnlyDictionary<string, RevocationList> _crls;

    /// <exception cref="ArgumentException">The root is not a self-signed CA, an issuing CA was not issued by it, or a CRL's signature does not verify.</exception>
    public TrustStore(KpuCertificate root, IEnumerable<KpuCertificate> issuing, IEnumerable<RevocationList>? crls = null)
    {
        if (!root.IsCertificateAuthority || !root.Bc.IssuerDN.Equivalent(root.Bc.SubjectDN) || !SignedBy(root, root))
            throw new ArgumentException($"{root.CommonName} is not a self-signed CA certificate.", nameof(root));
        Root = root;
        Issuing = issuing.ToList();
        foreach (var ca in Issuing)
        {
            if (!ca.IsCertificateAuthority || !IssuedBy(ca, root) || !SignedBy(ca, root))
                throw new ArgumentException($"{ca.CommonName} is not a CA certificate issued by {root.CommonName}.", nameof(issuing));
        }
        var map = new Dictionary<string, RevocationList>(StringComparer.Ordinal);
        foreach (var crl in crls ?? []) Add(map, crl);
        _crls = map;
    }

    private TrustStore(KpuCertificate root, IReadOnlyList<KpuCertificate> issuing, IReadOnlyDictionary<string, RevocationList> crls)
    {
        Root = root;
        Issuing = issuing;
        _crls = crls;
    }

    public KpuCertificate Root { get; }

    public IReadOnlyList<KpuCertificate> Issuing { get; }

    /// <summary>The CRLs in force, one per CA.</summary>
    public IReadOnlyList<RevocationList> Crls => _crls.Values.ToList();

    /// <summary>Parses the leaf first: bytes that are not a certificate give <see cref="CertificateErrors.Malformed"/>.</summary>
    public CertificateVerdict Validate(ReadOnlySpan<byte> leafDer, CertificatePurpose purpose, DateTimeOffset at, params KpuRole[] allowedRoles)
    {
        KpuCertificate leaf;
        try { leaf = KpuCertificate.FromDer(leafDer); }
        catch (CertificateFormatException e) { return CertificateVerdict.Refuse(CertificateErrors.Malformed, e.Message); }
        return Validate(leaf, purpose, at, allowedRoles);
    }

    /// <summary>
    /// Checks the path leaf → issuing CA → root: signatures, validity at <paramref name="at"/> of all three, CA flags,
    /// the purpose, the role (any when <paramref name="allowedRoles"/> is empty), and revocation: revoked when a
    /// verified CRL lists the leaf (or its issuing CA) with a revocation time at or before <paramref name="at"/>.
    /// </summary>
    public CertificateVerdict Validate(KpuCertificate leaf, CertificatePurpose purpose, DateTimeOffset at, params KpuRole[] allowedRoles)
    {
        var identity = leaf.Identity;

        var candidates = Issuing.Where(ca => IssuedBy(leaf, ca)).ToList();
        if (candidates.Count == 0)
            return CertificateVerdict.Refuse(CertificateErrors.UnknownIssuer, $"{leaf.CommonName} was issued by '{leaf.IssuerCommonName}', which is not a KPU issuing CA known here.", identity);
        var issuer = candidates.FirstOrDefault(ca => SignedBy(leaf, ca));
        if (issuer is null)
            return CertificateVerdict.Refuse(CertificateErrors.BadSignature, $"The signature of {leaf.CommonName} does not verify with the key of {leaf.IssuerCommonName}.", identity);
        if (leaf.IsCertificateAuthority)
            return CertificateVerdict.Refuse(CertificateErrors.WrongPurpose, $"{leaf.CommonName} is a CA certificate, not a device or service certificate.");

        if (RevokedAt(issuer, leaf.SerialHex, at) is { } revoked)
            return CertificateVerdict.Refuse(CertificateErrors.Revoked, $"{leaf.CommonName} (serial {leaf.SerialHex}) was revoked at {revoked.RevokedAt:u} ({revoked.Reason}).", identity, revoked);
        if (RevokedAt(Root, issuer.SerialHex, at) is { } caRevoked)
            return CertificateVerdict.Refuse(CertificateErrors.Revoked, $"The issuing CA {issuer.CommonName} was revoked at {caRevoked.RevokedAt:u} ({caRevoked.Reason}).", identity, caRevoked);

        foreach (var (certificate, what) in new[] { (Root, "the root CA"), (issuer, "the issuing CA"), (leaf, "the certificate") })
        {
            if (at < certificate.NotBefore)
                return CertificateVerdict.Refuse(CertificateErrors.NotYetValid, $"{what} {certificate.CommonName} is valid only from {certificate.NotBefore:u} (checked at {at.ToUniversalTime():u}).", identity);
            if (at > certificate.NotAfter)
                return CertificateVerdict.Refuse(CertificateErrors.Expired, $"{what} {certificate.CommonName} expired at {certificate.NotAfter:u} (checked at {at.ToUniversalTime():u}).", identity);
        }

        if (leaf.IdentityError is { } identityError)
            return CertificateVerdict.Refuse(CertificateErrors.Malformed, $"{leaf.CommonName}: {identityError}.");
        if (identity is null)
            return CertificateVerdict.Refuse(CertificateErrors.NotAKpuCertificate, $"{leaf.CommonName} carries no KPU identity extension.");
        if (leaf.Bc.GetCriticalExtensionOids()?.FirstOrDefault(oid => !UnderstoodCritical.Contains(oid)) is { } unknownCritical)
            return CertificateVerdict.Refuse(CertificateErrors.Malformed, $"{leaf.CommonName} has a critical extension this verifier does not know ({unknownCritical}); RFC 5280 says refuse it.", identity);
        if (!leaf.Permits(purpose))
            return CertificateVerdict.Refuse(CertificateErrors.WrongPurpose, $"{leaf.CommonName} is a {Describe(leaf.Purpose)} certificate, not a {Describe(purpose)} one.", identity);
        if (allowedRoles.Length > 0 && !allowedRoles.Contains(identity.Role))
            return CertificateVerdict.Refuse(CertificateErrors.WrongRole, $"{leaf.CommonName} has role '{identity.Role.ToText()}'; expected {string.Join(" or ", allowedRoles.Select(r => r.ToText()))}.", identity);

        return new CertificateVerdict(true, null, $"{leaf.CommonName}: {identity.Role.ToText()} {identity.Assignment} {identity.ElectionId}, issued by {issuer.CommonName}, valid until {leaf.NotAfter:u}.".Replace("  ", " "), identity, null);
    }

    /// <summary>
    /// A store with <paramref name="crl"/> in force. A newer CRL of the same CA replaces the older one; an older or equal
    /// one changes nothing (so a replayed old CRL cannot un-revoke a certificate).
    /// </summary>
    /// <exception cref="ArgumentException">No CA of this store signed the CRL.</exception>
    public TrustStore WithCrl(RevocationList crl)
    {
        var map = new Dictionary<string, RevocationList>(_crls, StringComparer.Ordinal);
        Add(map, crl);
        return new TrustStore(Root, Issuing, map);
    }

    /// <summary>True if any CRL in force lists the serial, whatever its revocation time.</summary>
    public bool IsRevoked(string serialHex, out RevokedCertificate entry)
    {
        foreach (var crl in _crls.Values)
        {
            if (crl.TryGet(serialHex, out entry)) return true;
        }
        entry = null!;
        return false;
    }

    /// <summary>From PEM texts: the root certificate and the issuing CA certificates (one or more blocks), plus DER CRLs.</summary>
    public static TrustStore Load(string rootPem, string issuingPem, IEnumerable<byte[]>? crlDers = null) =>
        new(KpuCertificate.FromPem(rootPem), KpuCertificate.AllFromPem(issuingPem), crlDers?.Select(der => RevocationList.Parse(der)));

    private void Add(Dictionary<string, RevocationList> map, RevocationList crl)
    {
        var signer = Issuing.Prepend(Root).FirstOrDefault(crl.VerifySignature)
            ?? throw new ArgumentException($"The CRL of '{crl.IssuerCommonName}' is not signed by a CA of this trust store.", nameof(crl));
        if (map.TryGetValue(signer.Fingerprint, out var current)
            && (current.CrlNumber > crl.CrlNumber || (current.CrlNumber == crl.CrlNumber && current.ThisUpdate >= crl.ThisUpdate)))
            return;
        map[signer.Fingerprint] = crl;
    }

    private RevokedCertificate? RevokedAt(KpuCertificate ca, string serialHex, DateTimeOffset at) =>
        _crls.TryGetValue(ca.Fingerprint, out var crl) && crl.TryGet(serialHex, out var entry) && entry.RevokedAt <= at ? entry : null;

    /// <summary>Names match, and the key ids too when both are present (so a same-named CA of another PKI is not the issuer).</summary>
    private static bool IssuedBy(KpuCertificate certificate, KpuCertificate ca) =>
        ca.IsCertificateAuthority
        && certificate.Bc.IssuerDN.Equivalent(ca.Bc.SubjectDN)
        && (certificate.AuthorityKeyId is null || ca.SubjectKeyId is null || certificate.AuthorityKeyId.AsSpan().SequenceEqual(ca.SubjectKeyId));

    private static bool SignedBy(KpuCertificate certificate, KpuCertificate ca)
    {
        try { return certificate.Bc.IsSignatureValid(ca.Bc.GetPublicKey()); }
        catch (Exception) { return false; }
    }

    // Basic constraints, key usage, extended key usage, subject alternative name: the critical extensions we act on.
    private static readonly HashSet<string> UnderstoodCritical = ["2.5.29.19", "2.5.29.15", "2.5.29.37", "2.5.29.17"];

    private static string Describe(CertificatePurpose? purpose) => purpose switch
    {
        CertificatePurpose.Signing => "signing",
        CertificatePurpose.TlsClient => "TLS client",
        CertificatePurpose.TlsServer => "TLS server",
        _ => "non-end-entity",
    };
}
