using System.IO.Compression;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace KpuEdge.Cloud.Public;

/// <summary>
/// The public tree's files held in memory as they are served, so a hot file (the nation, a province) costs a request
/// one look at the file's size and time rather than an open, a read and a close. The file on disk stays the truth: an
/// entry serves only while the file's size and write time are those it was read at (the builder replaces files by
/// rename, so a new version is a new time), whichever node wrote it. Bounded by <see cref="CloudOptions.PublicCacheBytes"/>;
/// the least recently used entries go first.
/// </summary>
public sealed class PublicFileCache(IOptions<CloudOptions> options) : IDisposable
{
    /// <summary>A file larger than this is served from disk each time (no tree file comes near it).</summary>
    public const int MaxEntryBytes = 4 << 20;

    /// <summary>One version of a file: its ETag, its bytes and their gzip (compressed once a version, a node).</summary>
    public sealed record Entry(string ETag, byte[] Plain, byte[] Gzip, long Length, long WriteTicks);

    private readonly MemoryCache _entries = new(new MemoryCacheOptions { SizeLimit = options.Value.PublicCacheBytes });

    /// <summary>The file at <paramref name="path"/> as it is now, or null when there is none.</summary>
    public Entry? Get(string path)
    {
        var file = new FileInfo(path);
        if (!file.Exists) return null;
        long length = file.Length, ticks = file.LastWriteTimeUtc.Ticks;
        if (_entries.TryGetValue(path, out Entry? cached) && cached!.Length == length && cached.WriteTicks == ticks) return cached;
        byte[] plain;
        try { plain = File.ReadAllBytes(path); }
        catch (FileNotFoundException) { return null; }
        // Compressed here rather than read from a gzip twin: most files have none, and one read of the file is one version.
        var gzip = Compress(plain);
        var entry = new Entry($"\"{length:x}-{ticks:x}\"", plain, gzip, length, ticks);
        long size = plain.Length + gzip.Length + path.Length * 2L + 64;
        if (size <= MaxEntryBytes) _entries.Set(path, entry, new MemoryCacheEntryOptions { Size = size });
        return entry;
    }

    private static byte[] Compress(byte[] plain)
    {
        var compressed = new MemoryStream();
        using (var zip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
            zip.Write(plain);
        return compressed.ToArray();
    }

    public void Dispose() => _entries.Dispose();
}
