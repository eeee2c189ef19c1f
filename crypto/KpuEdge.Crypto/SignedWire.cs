using System.Formats.Cbor;

namespace KpuEdge.Crypto;

/// <summary>
/// The envelope every signed message of ours travels in — <c>[ body: bstr, signature: bstr ]</c>, canonical CBOR — and the
/// domain-tagged bytes a signature covers, so a signature made for one kind of message never verifies as another.
/// </summary>
internal static class SignedWire
{
    /// <summary><paramref name="domain"/> ‖ <paramref name="body"/>: what the device signs.</summary>
    public static byte[] Tagged(ReadOnlySpan<byte> domain, ReadOnlySpan<byte> body) => [.. domain, .. body];

    public static byte[] Encode(ReadOnlySpan<byte> body, ReadOnlySpan<byte> signature)
    {
        var w = new CborWriter(CborConformanceMode.Canonical);
        w.WriteStartArray(2);
        w.WriteByteString(body);
        w.WriteByteString(signature);
        w.WriteEndArray();
        return w.Encode();
    }

    /// <summary>
    /// The body and signature of an envelope; anything else is <paramref name="malformed"/>'s exception (CBOR errors
    /// propagate for the caller to name).
    /// </summary>
    public static (byte[] Body, byte[] Signature) Split(ReadOnlyMemory<byte> wire, string what, Func<string, Exception> malformed)
    {
        var r = new CborReader(wire, CborConformanceMode.Canonical);
        if (r.ReadStartArray() != 2) throw malformed("wire is not a 2-element array");
        var body = r.ReadByteString();
        var signature = r.ReadByteString();
        r.ReadEndArray();
        if (r.BytesRemaining != 0) throw malformed($"trailing bytes after the {what}");
        return (body, signature);
    }
}
