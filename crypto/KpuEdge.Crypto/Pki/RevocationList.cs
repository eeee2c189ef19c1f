using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.X509;
using Org.BouncyCastle.X509.Extension;

namespace KpuEdge.Crypto.Pki;

/// <summary>Why a certificate was revoked (the RFC 5280 reason codes KPU uses).</summary>
public enum RevocationReason
{
    Unspecified,
    KeyCompromise,
    Superseded,
    CessationOfOperation,
}

/// <summary>One entry of a CRL: the certificate's serial (lower-case hex), when it was revoked, and why.</summary>
public sealed record RevokedCertificate(string SerialHex, DateTimeOffset RevokedAt, RevocationReason Reason);

/// <summary>A parsed X.509 v2 certificate revocation list. Its signature is checked by <see cref="VerifySignature"/>.</summary>
public sealed class RevocationList
{
    private readonly X509Crl _crl;
    private readonly Dictionary<string, RevokedCertificate> _entries;

    private RevocationList(X509Crl crl, byte[] der)
    {
        _crl = crl;
        Der = der;
        IssuerCommonName = Names.CommonName(crl.IssuerDN);
        ThisUpdate = Utc(crl.ThisUpdate);
        NextUpdate = crl.NextUpdate is { } next ? Utc(next) : null;
        var entries = new List<RevokedCertificate>();
        foreach (var entry in crl.GetRevokedCertificates() ?? new HashSet<X509CrlEntry>())
        {
            var reason = RevocationReason.Unspecified;
            var reasonValue = entry.GetExtensionValue(X509Extensions.ReasonCode);
            if (reasonValue is not null)
                reason = FromCrlReason(DerEnumerated.GetInstance(X509ExtensionUtilities.FromExtensionValue(reasonValue)).IntValueExact);
            entries.Add(new RevokedCertificate(Serials.ToHex(entry.SerialNumber), Utc(entry.RevocationDate), reason));
        }
        Entries = entries.OrderBy(e => e.SerialHex, StringComparer.Ordinal).ToList();
        _entries = Entries.ToDictionary(e => e.SerialHex, StringComparer.Ordinal);
        CrlNumber = crl.GetExtensionValue(X509Extensions.CrlNumber) is { } number
            ? DerInteger.GetInstance(X509ExtensionUtilities.FromExtensionValue(number)).LongValueExact
            : 0;
    }

    public static RevocationList Parse(ReadOnlySpan<byte> der)
    {
        byte[] bytes = der.ToArray();
        try
        {
            var crl = new X509Crl(bytes);
            if (!crl.GetEncoded().AsSpan().SequenceEqual(bytes)) throw new CertificateFormatException("Not a DER-encoded CRL (trailing or non-canonical bytes).");
            return new RevocationList(crl, bytes);
        }
        catch (CertificateFormatException) { throw; }
        catch (Exception e)
        {
            throw new CertificateFormatException($"Not an X.509 CRL: {e.Message}", e);
        }
    }

    /// <summary>True if <paramref name="issuer"/> signed this CRL (same name and its key verifies the signature).</summary>
    public bool VerifySignature(KpuCertificate issuer)
    {
        if (!issuer.Bc.SubjectDN.Equivalent(_crl.IssuerDN)) return false;
        try { return _crl.IsSignatureValid(issuer.Bc.GetPublicKey()); }
        catch (Exception) { return false; }
    }

    public string IssuerCommonName { get; }

    public DateTimeOffset ThisUpdate { get; }

    public DateTimeOffset? NextUpdate { get; }

    /// <summary>The CRL number extension (0 when absent); KPU's CAs number CRLs by their this-update time.</summary>
    public long CrlNumber { get; }

    /// <summary>Entries ordered by serial.</summary>
    public IReadOnlyList<RevokedCertificate> Entries { get; }

    /// <summary>Looks a serial up in any spelling (upper case, colons, leading zeros).</summary>
    public bool TryGet(string serialHex, out RevokedCertificate entry)
    {
        entry = null!;
        return Serials.Normalize(serialHex) is { } serial && _entries.TryGetValue(serial, out entry!);
    }

    public byte[] Der { get; }

    internal X509Name IssuerName => _crl.IssuerDN;

    internal static int ToCrlReason(RevocationReason reason) => reason switch
    {
        RevocationReason.KeyCompromise => CrlReason.KeyCompromise,
        RevocationReason.Superseded => CrlReason.Superseded,
        RevocationReason.CessationOfOperation => CrlReason.CessationOfOperation,
        _ => CrlReason.Unspecified,
    };

    private static RevocationReason FromCrlReason(int code) => code switch
    {
        CrlReason.KeyCompromise => RevocationReason.KeyCompromise,
        CrlReason.Superseded => RevocationReason.Superseded,
        CrlReason.CessationOfOperation => RevocationReason.CessationOfOperation,
        _ => RevocationReason.Unspecified,
    };

    private static DateTimeOffset Utc(DateTime time) => new(DateTime.SpecifyKind(time, DateTimeKind.Utc));
}
