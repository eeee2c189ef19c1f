using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math.EC.Rfc8032;
using Org.BouncyCastle.Security;

namespace KpuEdge.Crypto;

/// <summary>
/// A device's Ed25519 signing key (BouncyCastle). Generated on the device; only the public half leaves it.
/// Ed25519: small (32-byte keys, 64-byte signatures) for thin links, deterministic, fast to verify.
/// </summary>
public sealed class DeviceKey
{
    private readonly Ed25519PrivateKeyParameters _private;

    private DeviceKey(Ed25519PrivateKeyParameters privateKey)
    {
        _private = privateKey;
        PublicKey = new DevicePublicKey(privateKey.GeneratePublicKey().GetEncoded());
    }

    public DevicePublicKey PublicKey { get; }

    public static DeviceKey Generate(SecureRandom? random = null) =>
        new(new Ed25519PrivateKeyParameters(random ?? new SecureRandom()));

    public static DeviceKey FromPrivateBytes(ReadOnlySpan<byte> seed)
    {
        if (seed.Length != Ed25519PrivateKeyParameters.KeySize)
            throw new ArgumentException($"An Ed25519 private key is {Ed25519PrivateKeyParameters.KeySize} bytes.", nameof(seed));
        return new DeviceKey(new Ed25519PrivateKeyParameters(seed.ToArray()));
    }

    /// <summary>A reproducible key for simulations and tests only: derived from a label and a seed.</summary>
    public static DeviceKey Deterministic(string label, int seed) =>
        FromPrivateBytes(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"kpu-sim-key:{seed}:{label}")));

    public byte[] PrivateBytes() => _private.GetEncoded();

    public byte[] Sign(ReadOnlySpan<byte> message)
    {
        var signature = new byte[Ed25519.SignatureSize];
        var buffer = message.ToArray();
        _private.Sign(Ed25519.Algorithm.Ed25519, null, buffer, 0, buffer.Length, signature, 0);
        return signature;
    }
}

/// <summary>A device's Ed25519 public key; decoded once so repeated verification is cheap.</summary>
public sealed class DevicePublicKey
{
    private readonly Ed25519PublicKeyParameters _key;

    public DevicePublicKey(ReadOnlySpan<byte> encoded)
    {
        if (encoded.Length != Ed25519PublicKeyParameters.KeySize)
            throw new ArgumentException($"An Ed25519 public key is {Ed25519PublicKeyParameters.KeySize} bytes.", nameof(encoded));
        _key = new Ed25519PublicKeyParameters(encoded.ToArray());
        Encoded = encoded.ToArray();
    }

    public byte[] Encoded { get; }

    public string ToBase64() => Convert.ToBase64String(Encoded);

    public static DevicePublicKey FromBase64(string text) => new(Convert.FromBase64String(text));

    public bool Verify(byte[] message, int offset, int length, ReadOnlySpan<byte> signature)
    {
        if (signature.Length != Ed25519.SignatureSize) return false;
        return _key.Verify(Ed25519.Algorithm.Ed25519, null, message, offset, length, signature.ToArray(), 0);
    }
}
