using System.Formats.Cbor;
using System.Security.Cryptography;

namespace KpuEdge.Crypto.Images;

/// <summary>Why an image chunk's bytes were refused unread. The codes are stable: they travel in image acknowledgements.</summary>
public sealed class ImageChunkFormatException(string reason, string message) : FormatException(message)
{
    public string Reason { get; } = reason;
}

/// <summary>
/// One piece of a form's page images on its way to the cloud (protocol v1, topic <c>kpu/v1/tps/{tps}/img/{contest}</c>).
/// Deterministic CBOR, positional:
/// <code>
/// chunk = [ version = 1, image_hash: bstr(32), page_hashes: [ bstr(32)... ] (1..12), page: uint,
///           page_size: uint (1..MaxPageBytes), offset: uint, data: bstr (1..MaxChunkBytes) ]
/// </code>
/// <c>image_hash</c> is the hash bound into the signed submission (<see cref="FormImageHash"/> of the page hashes), so a
/// chunk says which signed form it belongs to; the receiver checks the page list against it, and each completed page
/// against its own hash. Every chunk repeats the page list (32 bytes a page): the receiver needs no other state to start.
/// </summary>
public sealed record ImageChunk(Sha256Hash ImageHash, IReadOnlyList<Sha256Hash> PageHashes, int Page, int PageSize, int Offset, ReadOnlyMemory<byte> Data)
{
    public const int Version = 1;
    public const int MaxPages = 12;
    /// <summary>A page bigger than this is refused: link images are recompressed to about 150 KB.</summary>
    public const int MaxPageBytes = 512 * 1024;
    public const int MaxChunkBytes = 64 * 1024;
    /// <summary>The largest encoded chunk: data plus the header with a full page list.</summary>
    public const int MaxWireBytes = MaxChunkBytes + 1024;

    public Sha256Hash PageHash => PageHashes[Page];

    /// <summary>The image hash a signed submission carries: the page's hash for one page; for several, SHA-256 over their hashes in order.</summary>
    public static Sha256Hash FormImageHash(IReadOnlyList<Sha256Hash> pageHashes)
    {
        if (pageHashes.Count == 0) throw new ArgumentException("A form image has at least one page.", nameof(pageHashes));
        if (pageHashes.Count == 1) return pageHashes[0];
        var all = new byte[pageHashes.Count * Sha256Hash.Size];
        for (int i = 0; i < pageHashes.Count; i++) pageHashes[i].Bytes.CopyTo(all.AsSpan(i * Sha256Hash.Size));
        return Sha256Hash.FromBytes(SHA256.HashData(all));
    }

    /// <summary>The same for the page images themselves.</summary>
    public static Sha256Hash FormImageHash(IReadOnlyList<byte[]> pages) => FormImageHash(pages.Select(p => Sha256Hash.Of(p)).ToArray());

    public byte[] Encode()
    {
        var w = new CborWriter(CborConformanceMode.Canonical);
        w.WriteStartArray(7);
        w.WriteInt32(Version);
        w.WriteByteString(ImageHash.Bytes);
        w.WriteStartArray(PageHashes.Count);
        foreach (var page in PageHashes) w.WriteByteString(page.Bytes);
        w.WriteEndArray();
        w.WriteInt32(Page);
        w.WriteInt32(PageSize);
        w.WriteInt32(Offset);
        w.WriteByteString(Data.Span);
        w.WriteEndArray();
        return w.Encode();
    }

    /// <summary>Decodes and checks a chunk's shape; throws <see cref="ImageChunkFormatException"/> saying what is wrong.</summary>
    public static ImageChunk Decode(ReadOnlyMemory<byte> wire)
    {
        if (wire.Length > MaxWireBytes)
            throw new ImageChunkFormatException(ImageRefusals.Oversized, $"An image chunk is at most {MaxWireBytes} bytes, not {wire.Length}.");
        try
        {
            var r = new CborReader(wire, CborConformanceMode.Canonical);
            if (r.ReadStartArray() != 7) throw Malformed("an image chunk is an array of 7 items");
            int version = r.ReadInt32();
            if (version != Version) throw new ImageChunkFormatException(ImageRefusals.UnsupportedVersion, $"Image chunk version {version} is not supported (only {Version}).");
            var imageHash = ReadHash(r, "image_hash");
            int? count = r.ReadStartArray();
            if (count is not (>= 1 and <= MaxPages)) throw Malformed($"a form image has 1..{MaxPages} pages");
            var pages = new Sha256Hash[count.Value];
            for (int i = 0; i < pages.Length; i++) pages[i] = ReadHash(r, "page hash");
            r.ReadEndArray();
            int page = r.ReadInt32();
            int pageSize = r.ReadInt32();
            int offset = r.ReadInt32();
            var data = r.ReadByteString();
            r.ReadEndArray();
            if (r.BytesRemaining != 0) throw Malformed("trailing bytes after the chunk");
            if (page < 0 || page >= pages.Length) throw Malformed($"page {page} is not one of the form's {pages.Length}");
            if (pageSize > MaxPageBytes) throw new ImageChunkFormatException(ImageRefusals.Oversized, $"A page is at most {MaxPageBytes} bytes, not {pageSize}.");
            if (pageSize < 1) throw Malformed("a page has at least one byte");
            if (data.Length is < 1 or > MaxChunkBytes) throw Malformed($"a chunk carries 1..{MaxChunkBytes} bytes, not {data.Length}");
            if (offset < 0 || (long)offset + data.Length > pageSize) throw Malformed($"bytes {offset}..{(long)offset + data.Length} lie outside the page's {pageSize}");
            if (FormImageHash(pages) != imageHash) throw Malformed("the page hashes do not make the image hash");
            return new ImageChunk(imageHash, pages, page, pageSize, offset, data);
        }
        catch (Exception e) when (e is CborContentException or InvalidOperationException or OverflowException or ArgumentException)
        {
            throw Malformed($"not a valid image chunk ({e.Message})");
        }
    }

    /// <summary>Cuts a page into chunks of at most <paramref name="chunkSize"/> bytes, starting at <paramref name="from"/>.</summary>
    public static IEnumerable<ImageChunk> Split(Sha256Hash imageHash, IReadOnlyList<Sha256Hash> pageHashes, int page, ReadOnlyMemory<byte> bytes, int chunkSize, int from = 0)
    {
        for (int offset = from; offset < bytes.Length; offset += chunkSize)
            yield return new ImageChunk(imageHash, pageHashes, page, bytes.Length, offset, bytes.Slice(offset, Math.Min(chunkSize, bytes.Length - offset)));
    }

    private static Sha256Hash ReadHash(CborReader r, string what)
    {
        var bytes = r.ReadByteString();
        if (bytes.Length != Sha256Hash.Size) throw Malformed($"{what} is {Sha256Hash.Size} bytes, not {bytes.Length}");
        return Sha256Hash.FromBytes(bytes);
    }

    private static ImageChunkFormatException Malformed(string detail) => new(ImageRefusals.Malformed, $"Malformed image chunk: {detail}.");
}

/// <summary>Why an image (or a chunk of it) was refused. Stable codes, like the submission reject reasons.</summary>
public static class ImageRefusals
{
    public const string Malformed = "malformed";
    public const string UnsupportedVersion = "unsupported_version";
    public const string Oversized = "oversized";
    public const string Misaddressed = "misaddressed";
    /// <summary>No accepted submission of this TPS and contest carries this image hash: nothing to attach it to.</summary>
    public const string UnknownImage = "unknown_image";
    /// <summary>The completed page's bytes do not hash to what the signed form names; the partial page is discarded.</summary>
    public const string HashMismatch = "hash_mismatch";
    /// <summary>A chunk contradicts what is stored (another size for the same page).</summary>
    public const string Conflict = "conflict";

    /// <summary>
    /// Whether a refusal is final about a page: only one about the chunk's own bytes (unreadable, another version, too
    /// large). Where it came from (<see cref="Misaddressed"/>, <see cref="UnknownImage"/>: no accepted form of that
    /// TPS, contest and sender names it, yet) and what happened to the partial page (<see cref="HashMismatch"/>,
    /// <see cref="Conflict"/>: start again) never are, so the cloud signs none of those and a device gives no page up
    /// for them.
    /// </summary>
    public static bool IsFinal(string? reason) => reason is Malformed or UnsupportedVersion or Oversized;
}
