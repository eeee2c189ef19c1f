using System.Security.Cryptography;

namespace KpuEdge.Crypto.Images;

/// <summary>What became of a chunk: how many bytes of its page are now durably held, and whether the page is complete.</summary>
public sealed record ChunkResult(int Received, bool Stored, string? Refusal = null, string? Detail = null);

/// <summary>
/// Puts pages together from chunks, durably: each page's bytes so far sit in a partial file named by the page's hash,
/// extended only at its end (a chunk further on is a gap: ignored, the sender is told where to resume; a chunk already
/// held is a repeat: ignored) and flushed to disk before the caller acknowledges. A complete page is checked against
/// its hash and moved into place; a page that does not hash right is discarded. Safe for concurrent chunks.
/// </summary>
public sealed class PageAssembler
{
    private readonly string _partialDirectory;
    private readonly Lock[] _locks = Enumerable.Range(0, 64).Select(_ => new Lock()).ToArray();

    public PageAssembler(string partialDirectory)
    {
        _partialDirectory = partialDirectory;
        Directory.CreateDirectory(partialDirectory);
    }

    /// <summary>Adds a chunk; when it completes a page whose bytes hash right, the page is moved to <paramref name="destination"/>.</summary>
    public ChunkResult Add(ImageChunk chunk, string destination)
    {
        var hash = chunk.PageHash;
        lock (_locks[hash.Bytes[0] % _locks.Length])
        {
            if (File.Exists(destination)) return new ChunkResult(chunk.PageSize, Stored: true);
            string partial = Path.Combine(_partialDirectory, hash + ".part");
            long held;
            using (var file = new FileStream(partial, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
            {
                held = file.Length;
                if (held > chunk.PageSize)
                {
                    file.Dispose();
                    File.Delete(partial);
                    return new ChunkResult(0, false, ImageRefusals.Conflict, $"Page {hash} was being sent with another size; start it again.");
                }
                long end = (long)chunk.Offset + chunk.Data.Length;
                if (chunk.Offset <= held && end > held)
                {
                    file.Seek(held, SeekOrigin.Begin);
                    file.Write(chunk.Data.Span[(int)(held - chunk.Offset)..]);
                    file.Flush(flushToDisk: true);
                    held = end;
                }
            }
            if (held < chunk.PageSize) return new ChunkResult((int)held, Stored: false);

            byte[] actual;
            using (var file = File.OpenRead(partial)) actual = SHA256.HashData(file);
            if (!actual.AsSpan().SequenceEqual(hash.Bytes))
            {
                File.Delete(partial);
                return new ChunkResult(0, false, ImageRefusals.HashMismatch,
                    $"Page {chunk.Page + 1}'s {chunk.PageSize} bytes hash to {Convert.ToHexStringLower(actual)}, not {hash}; start it again.");
            }
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(destination))!);
            File.Move(partial, destination, overwrite: true);
            return new ChunkResult(chunk.PageSize, Stored: true);
        }
    }

    /// <summary>How many bytes of a page are held so far (0 when none).</summary>
    public int Held(Sha256Hash pageHash)
    {
        var info = new FileInfo(Path.Combine(_partialDirectory, pageHash + ".part"));
        return info.Exists ? (int)info.Length : 0;
    }
}
