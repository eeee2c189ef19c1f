using System.Formats.Cbor;
using System.Security.Cryptography;
using KpuEdge.Crypto.Images;

namespace KpuEdge.Crypto.Tests.Images;

public class ImageChunkTests
{
    private static byte[] Page(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static (Sha256Hash Image, Sha256Hash[] Pages) Hashes(params byte[][] pages)
    {
        var hashes = pages.Select(p => Sha256Hash.Of(p)).ToArray();
        return (ImageChunk.FormImageHash(hashes), hashes);
    }

    [Fact]
    public void One_page_image_hash_is_the_pages_hash_and_several_hash_their_hashes_in_order()
    {
        byte[] a = Page(100, 1), b = Page(200, 2);
        Assert.Equal(Sha256Hash.Of(a), ImageChunk.FormImageHash([a]));
        var expected = Sha256Hash.FromBytes(SHA256.HashData(SHA256.HashData(a).Concat(SHA256.HashData(b)).ToArray()));
        Assert.Equal(expected, ImageChunk.FormImageHash([a, b]));
        Assert.NotEqual(expected, ImageChunk.FormImageHash([b, a]));
    }

    [Fact]
    public void Split_chunks_decode_to_the_same_pieces_and_rejoin_to_the_page()
    {
        byte[] first = Page(40_000, 1), second = Page(5_000, 2);
        var (image, pages) = Hashes(first, second);

        var chunks = ImageChunk.Split(image, pages, 0, first, 16 * 1024).ToList();

        Assert.Equal([0, 16384, 32768], chunks.Select(c => c.Offset));
        var decoded = chunks.Select(c => ImageChunk.Decode(c.Encode())).ToList();
        Assert.All(decoded, c => Assert.Equal(image, c.ImageHash));
        Assert.All(decoded, c => Assert.Equal(pages, c.PageHashes));
        Assert.All(decoded, c => Assert.Equal(first.Length, c.PageSize));
        Assert.Equal(first, decoded.SelectMany(c => c.Data.ToArray()).ToArray());
        Assert.Equal(pages[0], decoded[0].PageHash);
    }

    [Fact]
    public void Split_resumes_from_an_offset()
    {
        var page = Page(10_000, 3);
        var (image, pages) = Hashes(page);
        var chunks = ImageChunk.Split(image, pages, 0, page, 4096, from: 2000).ToList();
        Assert.Equal([2000, 6096], chunks.Select(c => c.Offset));
        Assert.Equal(10_000, chunks[^1].Offset + chunks[^1].Data.Length);
    }

    public static TheoryData<string, Func<byte[]>, string> BadChunks()
    {
        var page = Page(1000, 4);
        var (image, pages) = Hashes(page);
        var good = new ImageChunk(image, pages, 0, page.Length, 0, page);
        return new TheoryData<string, Func<byte[]>, string>
        {
            { "empty", () => [], ImageRefusals.Malformed },
            { "random bytes", () => Page(300, 9), ImageRefusals.Malformed },
            { "truncated", () => good.Encode()[..^10], ImageRefusals.Malformed },
            { "trailing bytes", () => [.. good.Encode(), 0], ImageRefusals.Malformed },
            { "oversized message", () => new byte[ImageChunk.MaxWireBytes + 1], ImageRefusals.Oversized },
            { "version 2", () => Encode(2, image.Bytes.ToArray(), [pages[0].Bytes.ToArray()], 0, 1000, 0, page), ImageRefusals.UnsupportedVersion },
            { "page hashes not making the image hash", () => (good with { ImageHash = Sha256Hash.Of("other"u8) }).Encode(), ImageRefusals.Malformed },
            { "page out of range", () => (good with { Page = 1 }).Encode(), ImageRefusals.Malformed },
            { "bytes beyond the page", () => (good with { Offset = 500 }).Encode(), ImageRefusals.Malformed },
            { "page too large", () => (good with { PageSize = ImageChunk.MaxPageBytes + 1 }).Encode(), ImageRefusals.Oversized },
            { "no data", () => (good with { Data = Array.Empty<byte>() }).Encode(), ImageRefusals.Malformed },
            { "short hash", () => Encode(1, new byte[31], [pages[0].Bytes.ToArray()], 0, 1000, 0, page), ImageRefusals.Malformed },
            { "no pages", () => Encode(1, image.Bytes.ToArray(), [], 0, 1000, 0, page), ImageRefusals.Malformed },
            { "13 pages", () => Encode(1, image.Bytes.ToArray(), Enumerable.Repeat(pages[0].Bytes.ToArray(), 13).ToArray(), 0, 1000, 0, page), ImageRefusals.Malformed },
        };
    }

    [Theory]
    [MemberData(nameof(BadChunks))]
    public void Refuses_bad_chunks_with_a_stable_reason(string what, Func<byte[]> wire, string reason)
    {
        var e = Assert.Throws<ImageChunkFormatException>(() => ImageChunk.Decode(wire()));
        Assert.Equal(reason, e.Reason);
        Assert.False(string.IsNullOrWhiteSpace(e.Message), what);
    }

    private static byte[] Encode(int version, byte[] image, byte[][] pages, int page, int size, int offset, byte[] data)
    {
        var w = new CborWriter(CborConformanceMode.Canonical);
        w.WriteStartArray(7);
        w.WriteInt32(version);
        w.WriteByteString(image);
        w.WriteStartArray(pages.Length);
        foreach (var p in pages) w.WriteByteString(p);
        w.WriteEndArray();
        w.WriteInt32(page);
        w.WriteInt32(size);
        w.WriteInt32(offset);
        w.WriteByteString(data);
        w.WriteEndArray();
        return w.Encode();
    }
}

public sealed class PageAssemblerTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"kpu-pages-{Guid.NewGuid():N}");

    private static (byte[] Page, ImageChunk[] Chunks) Chunked(int size, int chunk, int seed)
    {
        var page = new byte[size];
        new Random(seed).NextBytes(page);
        var hash = Sha256Hash.Of(page);
        return (page, ImageChunk.Split(hash, [hash], 0, page, chunk).ToArray());
    }

    [Fact]
    public void Puts_a_page_together_in_order_and_moves_it_into_place_when_it_hashes_right()
    {
        var assembler = new PageAssembler(Path.Combine(_root, ".partial"));
        var (page, chunks) = Chunked(50_000, 16_384, 1);
        string destination = Path.Combine(_root, "a", "b", "page.jpg");

        var results = chunks.Select(c => assembler.Add(c, destination)).ToList();

        Assert.Equal([16_384, 32_768, 49_152], results.SkipLast(1).Select(r => r.Received));
        Assert.All(results.SkipLast(1), r => Assert.False(r.Stored));
        Assert.True(results[^1].Stored);
        Assert.Equal(page, File.ReadAllBytes(destination));
        Assert.Equal(0, assembler.Held(chunks[0].PageHash));
    }

    [Fact]
    public void Ignores_repeats_and_gaps_and_says_where_to_resume()
    {
        var assembler = new PageAssembler(Path.Combine(_root, ".partial"));
        var (page, chunks) = Chunked(40_000, 10_000, 2);
        string destination = Path.Combine(_root, "page.jpg");

        Assert.Equal(10_000, assembler.Add(chunks[0], destination).Received);
        Assert.Equal(10_000, assembler.Add(chunks[2], destination).Received); // a gap: resume at 10,000
        Assert.Equal(10_000, assembler.Add(chunks[0], destination).Received); // a repeat changes nothing
        Assert.Equal(20_000, assembler.Add(chunks[1], destination).Received);
        var overlapping = chunks[0] with { Offset = 15_000, Data = page.AsMemory(15_000, 10_000) };
        Assert.Equal(25_000, assembler.Add(overlapping, destination).Received); // only the new tail is added
        Assert.Equal(30_000, assembler.Add(chunks[2], destination).Received);
        Assert.True(assembler.Add(chunks[3], destination).Stored);
        Assert.Equal(page, File.ReadAllBytes(destination));
        Assert.True(assembler.Add(chunks[1], destination).Stored); // after the end: stored, nothing rewritten
    }

    [Fact]
    public void A_reopened_assembler_continues_from_what_is_on_disk()
    {
        var (page, chunks) = Chunked(30_000, 10_000, 3);
        string destination = Path.Combine(_root, "page.jpg");
        new PageAssembler(Path.Combine(_root, ".partial")).Add(chunks[0], destination);

        var again = new PageAssembler(Path.Combine(_root, ".partial"));
        Assert.Equal(10_000, again.Held(chunks[0].PageHash));
        again.Add(chunks[1], destination);
        Assert.True(again.Add(chunks[2], destination).Stored);
        Assert.Equal(page, File.ReadAllBytes(destination));
    }

    [Fact]
    public void A_page_whose_bytes_do_not_hash_right_is_discarded_and_must_start_again()
    {
        var assembler = new PageAssembler(Path.Combine(_root, ".partial"));
        var (_, chunks) = Chunked(20_000, 10_000, 4);
        var forged = chunks[1] with { Data = new byte[10_000] };
        string destination = Path.Combine(_root, "page.jpg");

        assembler.Add(chunks[0], destination);
        var result = assembler.Add(forged, destination);

        Assert.False(result.Stored);
        Assert.Equal(ImageRefusals.HashMismatch, result.Refusal);
        Assert.Equal(0, result.Received);
        Assert.False(File.Exists(destination));
        Assert.Equal(0, assembler.Held(chunks[0].PageHash));
    }

    [Fact]
    public void Concurrent_senders_of_the_same_page_store_it_once_intact()
    {
        var assembler = new PageAssembler(Path.Combine(_root, ".partial"));
        var (page, chunks) = Chunked(100_000, 4_096, 5);
        string destination = Path.Combine(_root, "page.jpg");

        Parallel.For(0, 4, sender =>
        {
            // Each sender resends from where the assembler says until the page is stored.
            int offset = 0;
            while (true)
            {
                var chunk = chunks.First(c => c.Offset <= offset && c.Offset + c.Data.Length > offset);
                var result = assembler.Add(chunk, destination);
                if (result.Stored) break;
                offset = result.Received;
            }
        });

        Assert.Equal(page, File.ReadAllBytes(destination));
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); }
        catch (IOException) { }
    }
}
