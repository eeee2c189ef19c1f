using KpuEdge.Crypto.Pki;

namespace KpuEdge.Crypto.Ppk;

/// <summary>
/// A PPK statement with the station's certificate and signature, exactly as it travels and is logged; <see cref="Hash"/>
/// (SHA-256 of the wire bytes) names it in receipts, the ledger and the public API.
/// </summary>
public sealed class SignedPpkStatement
{
    private readonly byte[] _signedMessage;

    private SignedPpkStatement(PpkStatement statement, KpuCertificate certificate, byte[] body, byte[] signature, byte[] wire)
    {
        Statement = statement;
        Certificate = certificate;
        Signature = signature;
        Wire = wire;
        Hash = Sha256Hash.Of(wire);
        _signedMessage = PpkStatementCodec.SignedMessage(body);
    }

    public PpkStatement Statement { get; }
    /// <summary>The station's signing certificate, as signed into the statement (not yet checked against any root).</summary>
    public KpuCertificate Certificate { get; }
    public byte[] Signature { get; }
    public byte[] Wire { get; }
    public Sha256Hash Hash { get; }

    /// <summary>Signs <paramref name="statement"/> with the station's key; <paramref name="certificate"/> must be that key's.</summary>
    public static SignedPpkStatement Sign(PpkStatement statement, KpuCertificate certificate, DeviceKey key)
    {
        if (certificate.SigningKey is not { } certified || !certified.Encoded.AsSpan().SequenceEqual(key.PublicKey.Encoded))
            throw new ArgumentException("The certificate is not this key's signing certificate.", nameof(certificate));
        var body = PpkStatementCodec.EncodeBody(statement, certificate);
        var signature = key.Sign(PpkStatementCodec.SignedMessage(body));
        var signed = new SignedPpkStatement(statement, certificate, body, signature, PpkStatementCodec.EncodeWire(body, signature));
        if (signed.SignerProblem() is { } problem) throw new ArgumentException(problem, nameof(certificate));
        return signed;
    }

    /// <summary>Decodes wire bytes strictly; throws <see cref="PpkStatementFormatException"/> with the reason.</summary>
    public static SignedPpkStatement Decode(ReadOnlyMemory<byte> wire)
    {
        var (statement, certificate, body, signature) = PpkStatementCodec.DecodeWire(wire);
        return new SignedPpkStatement(statement, certificate, body, signature, wire.ToArray());
    }

    /// <summary>
    /// Why the certificate inside cannot have signed this statement — not a PPK station's signing certificate, another
    /// station, another kecamatan, or a signature that does not verify with its key — or null when it did. Whether KPU's
    /// CA issued the certificate, and that it is not revoked, is the reader's check against its trust store.
    /// </summary>
    public string? SignerProblem()
    {
        if (Certificate.Identity is not { Role: KpuRole.Ppk } identity || Certificate.Purpose != CertificatePurpose.Signing || Certificate.SigningKey is null)
            return $"the certificate inside ({Certificate.CommonName}) is not a PPK station's signing certificate";
        if (identity.Name != Statement.StationId)
            return $"signed with the certificate of {identity.Name}, but says it is from {Statement.StationId}";
        if (identity.Assignment != Statement.Kecamatan.Value)
            return $"the station's certificate is for kecamatan {identity.Assignment}, the statement speaks for {Statement.Kecamatan}";
        if (!Certificate.SigningKey.Verify(_signedMessage, 0, _signedMessage.Length, Signature))
            return "the signature does not verify with the station's certificate";
        return null;
    }
}
