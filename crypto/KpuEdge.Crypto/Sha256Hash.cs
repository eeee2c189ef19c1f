using System.Security.Cryptography;

namespace KpuEdge.Crypto;

/// <summary>A SHA-256 digest: identifies submissions and images. Compared by value.</summary>
public readonly struct Sha256Hash : IEquatable<Sha256Hash>
{
    public const int Size = 32;
    private readonly byte[]? _bytes;

    private Sha256Hash(byte[] bytes) => _bytes = bytes;

    public static Sha256Hash Empty => default;

    public bool IsEmpty => _bytes is null;

    public ReadOnlySpan<byte> Bytes => _bytes;

    public static Sha256Hash Of(ReadOnlySpan<byte> data) => new(SHA256.HashData(data));

    public static Sha256Hash FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length == 0) return Empty;
        if (bytes.Length != Size) throw new ArgumentException($"A SHA-256 hash is {Size} bytes, not {bytes.Length}.", nameof(bytes));
        return new Sha256Hash(bytes.ToArray());
    }

    public static bool TryParseHex(string? hex, out Sha256Hash hash)
    {
        hash = Empty;
        if (hex is null || hex.Length != Size * 2) return false;
        try
        {
            hash = new Sha256Hash(Convert.FromHexString(hex));
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    public byte[] ToArray() => _bytes is null ? [] : (byte[])_bytes.Clone();

    public bool Equals(Sha256Hash other) => Bytes.SequenceEqual(other.Bytes);

    public override bool Equals(object? obj) => obj is Sha256Hash other && Equals(other);

    public override int GetHashCode() => _bytes is null ? 0 : BitConverter.ToInt32(_bytes, 0);

    public static bool operator ==(Sha256Hash a, Sha256Hash b) => a.Equals(b);

    public static bool operator !=(Sha256Hash a, Sha256Hash b) => !a.Equals(b);

    /// <summary>Lower-case hex; empty string for <see cref="Empty"/>.</summary>
    public override string ToString() => _bytes is null ? "" : Convert.ToHexStringLower(_bytes);
}
