using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.Security;

namespace KpuEdge.Crypto.Pki;

/// <summary>
/// A TLS key: ECDSA P-256 (BouncyCastle). Mutual TLS needs it because .NET's SslStream and mosquitto/OpenSSL on
/// Debian do not take Ed25519 TLS keys; the device's Ed25519 <see cref="DeviceKey"/> signs the forms.
/// </summary>
public sealed class TlsKey
{
    private readonly ECPrivateKeyParameters _private;
    private readonly SecureRandom _random;

    private TlsKey(ECPrivateKeyParameters privateKey, ECPublicKeyParameters publicKey, SecureRandom random)
    {
        _private = privateKey;
        Public = publicKey;
        _random = random;
    }

    internal ECPublicKeyParameters Public { get; }

    public static TlsKey Generate(SecureRandom? random = null)
    {
        random ??= new SecureRandom();
        var pair = EcKeys.Generate(random);
        return new TlsKey((ECPrivateKeyParameters)pair.Private, (ECPublicKeyParameters)pair.Public, random);
    }

    /// <summary>A PKCS#10 request (DER) for CN=<paramref name="commonName"/>, O=Komisi Pemilihan Umum, C=ID, signed with this key.</summary>
    public byte[] CreateCsr(string commonName) =>
        new Pkcs10CertificationRequest(new Asn1SignatureFactory("SHA256WITHECDSA", _private, _random), Names.Subject(commonName), Public, null).GetEncoded();

    /// <summary>The certificate with this private key attached, as .NET's SslStream wants it (works on Linux as is).</summary>
    /// <exception cref="ArgumentException">The certificate is for another key.</exception>
    public X509Certificate2 WithCertificate(KpuCertificate certificate)
    {
        if (!Public.Equals(certificate.Bc.GetPublicKey()))
            throw new ArgumentException($"The certificate of {certificate.CommonName} is not for this TLS key.", nameof(certificate));
        var q = Public.Q.Normalize();
        var parameters = new ECParameters
        {
            Curve = ECCurve.NamedCurves.nistP256,
            D = _private.D.ToByteArrayUnsigned().PadLeft(32),
            Q = new ECPoint { X = q.AffineXCoord.GetEncoded(), Y = q.AffineYCoord.GetEncoded() },
        };
        using var ecdsa = ECDsa.Create(parameters);
        using var publicOnly = certificate.ToX509Certificate2();
        return publicOnly.CopyWithPrivateKey(ecdsa);
    }

    /// <summary>PKCS#8 PEM ("PRIVATE KEY"), readable by OpenSSL and mosquitto's keyfile.</summary>
    public string ToPem() => EcKeys.ToPem(_private);

    public static TlsKey FromPem(string pem)
    {
        var key = EcKeys.FromPem(pem);
        return new TlsKey(key, EcKeys.PublicOf(key), new SecureRandom());
    }

    /// <summary>True if <paramref name="certificate"/> certifies this key.</summary>
    public bool Matches(KpuCertificate certificate) => Public.Equals(certificate.Bc.GetPublicKey());
}

/// <summary>PKCS#10 requests for a device's Ed25519 signing key.</summary>
public static class SigningRequests
{
    /// <summary>A request for CN=<paramref name="commonName"/>, O=Komisi Pemilihan Umum, C=ID, signed with the Ed25519 key itself.</summary>
    public static byte[] ForSigningKey(DeviceKey key, string commonName)
    {
        var privateKey = new Ed25519PrivateKeyParameters(key.PrivateBytes());
        return new Pkcs10CertificationRequest(new Asn1SignatureFactory("Ed25519", privateKey), Names.Subject(commonName), privateKey.GeneratePublicKey(), null).GetEncoded();
    }
}

internal static class ByteArrays
{
    public static byte[] PadLeft(this byte[] bytes, int length)
    {
        if (bytes.Length >= length) return bytes;
        var padded = new byte[length];
        bytes.CopyTo(padded, length - bytes.Length);
        return padded;
    }
}
