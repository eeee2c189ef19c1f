using System.Security.Cryptography;

namespace KpuEdge.Crypto.Transparency;

/// <summary>
/// An append-only Merkle tree with RFC 9162 (Certificate Transparency v2) hashing:
/// leaf = SHA-256(0x00 ‖ entry), node = SHA-256(0x01 ‖ left ‖ right), the empty tree = SHA-256("").
/// Keeps the hash of every complete, aligned subtree, so appends cost amortised O(1) and a root or proof for
/// any tree size O(log² n) — the right-hand edge of a tree is the only part ever recomputed.
/// </summary>
public sealed class MerkleTree
{
    // _levels[h][i] = hash of the complete subtree of 2^h leaves starting at leaf i·2^h.
    private readonly List<HashColumn> _levels = [new()];

    public long Size => _levels[0].Count;

    public static byte[] LeafHash(ReadOnlySpan<byte> entry)
    {
        var buffer = new byte[entry.Length + 1];
        entry.CopyTo(buffer.AsSpan(1));
        return SHA256.HashData(buffer);
    }

    public static byte[] NodeHash(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        var hash = new byte[Sha256Hash.Size];
        NodeHash(left, right, hash);
        return hash;
    }

    private static void NodeHash(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right, Span<byte> hash)
    {
        Span<byte> buffer = stackalloc byte[1 + 2 * Sha256Hash.Size];
        buffer[0] = 1;
        left.CopyTo(buffer[1..]);
        right.CopyTo(buffer[(1 + Sha256Hash.Size)..]);
        SHA256.HashData(buffer, hash);
    }

    /// <summary>Appends an entry; returns its leaf index.</summary>
    public long Append(ReadOnlySpan<byte> entry) => AppendLeafHash(LeafHash(entry));

    public long AppendLeafHash(byte[] leafHash)
    {
        if (leafHash.Length != Sha256Hash.Size) throw new ArgumentException("A leaf hash is 32 bytes.", nameof(leafHash));
        long index = _levels[0].Count;
        _levels[0].Add(leafHash);
        // Close every subtree this leaf completes.
        Span<byte> node = stackalloc byte[Sha256Hash.Size];
        for (int h = 0; _levels[h].Count % 2 == 0; h++)
        {
            if (_levels.Count == h + 1) _levels.Add(new HashColumn());
            var level = _levels[h];
            NodeHash(level[level.Count - 2], level[level.Count - 1], node);
            _levels[h + 1].Add(node);
        }
        return index;
    }

    public byte[] LeafHashAt(long index)
    {
        if (index < 0 || index >= Size) throw new ArgumentOutOfRangeException(nameof(index), $"Leaf {index} is not in a tree of {Size}.");
        return _levels[0][index].ToArray();
    }

    /// <summary>The root of the tree of the first <paramref name="size"/> leaves (MTH(D[0:size])).</summary>
    public byte[] Root(long size)
    {
        CheckSize(size);
        return size == 0 ? SHA256.HashData(ReadOnlySpan<byte>.Empty) : Hash(0, size);
    }

    public byte[] Root() => Root(Size);

    /// <summary>The audit path of leaf <paramref name="index"/> in the tree of size <paramref name="size"/> (RFC 9162 §2.1.3.1).</summary>
    public IReadOnlyList<byte[]> InclusionProof(long index, long size)
    {
        CheckSize(size);
        if (index < 0 || index >= size) throw new ArgumentOutOfRangeException(nameof(index), $"Leaf {index} is not in a tree of {size}.");
        var path = new List<byte[]>();
        Path(index, 0, size, path);
        return path;
    }

    /// <summary>The proof that the tree of size <paramref name="oldSize"/> is a prefix of the tree of size <paramref name="newSize"/> (RFC 9162 §2.1.4.1).</summary>
    public IReadOnlyList<byte[]> ConsistencyProof(long oldSize, long newSize)
    {
        CheckSize(newSize);
        if (oldSize < 0 || oldSize > newSize) throw new ArgumentOutOfRangeException(nameof(oldSize), $"{oldSize} is not within 0..{newSize}.");
        var proof = new List<byte[]>();
        if (oldSize == 0 || oldSize == newSize) return proof;
        SubProof(oldSize, 0, newSize, true, proof);
        return proof;
    }

    private void Path(long m, long start, long n, List<byte[]> path)
    {
        if (n == 1) return;
        long k = LargestPowerOfTwoBelow(n);
        if (m < k)
        {
            Path(m, start, k, path);
            path.Add(Hash(start + k, n - k));
        }
        else
        {
            Path(m - k, start + k, n - k, path);
            path.Add(Hash(start, k));
        }
    }

    private void SubProof(long m, long start, long n, bool completeOld, List<byte[]> proof)
    {
        if (m == n)
        {
            if (!completeOld) proof.Add(Hash(start, n));
            return;
        }
        long k = LargestPowerOfTwoBelow(n);
        if (m <= k)
        {
            SubProof(m, start, k, completeOld, proof);
            proof.Add(Hash(start + k, n - k));
        }
        else
        {
            SubProof(m - k, start + k, n - k, false, proof);
            proof.Add(Hash(start, k));
        }
    }

    /// <summary>MTH of the <paramref name="count"/> leaves from <paramref name="start"/>; left parts are always complete and aligned.</summary>
    private byte[] Hash(long start, long count)
    {
        if ((count & (count - 1)) == 0 && start % count == 0)
        {
            int height = System.Numerics.BitOperations.Log2((ulong)count);
            return _levels[height][start / count].ToArray();
        }
        long k = LargestPowerOfTwoBelow(count);
        return NodeHash(Hash(start, k), Hash(start + k, count - k));
    }

    internal static long LargestPowerOfTwoBelow(long n) => 1L << System.Numerics.BitOperations.Log2((ulong)(n - 1));

    private void CheckSize(long size)
    {
        if (size < 0 || size > Size) throw new ArgumentOutOfRangeException(nameof(size), $"The tree has {Size} leaves, not {size}.");
    }

    /// <summary>
    /// One level's hashes back to back in chunks of 1 MiB (the first grows to that size): the nation's four million
    /// leaves and their inner nodes are a few hundred objects for the garbage collector to trace, not eight million
    /// 32-byte arrays of 56 bytes each.
    /// </summary>
    private sealed class HashColumn
    {
        private const int PerChunk = 32_768;
        private readonly List<byte[]> _chunks = [];

        public long Count { get; private set; }

        public ReadOnlySpan<byte> this[long index] =>
            _chunks[checked((int)(index / PerChunk))].AsSpan((int)(index % PerChunk) * Sha256Hash.Size, Sha256Hash.Size);

        public void Add(ReadOnlySpan<byte> hash)
        {
            int slot = (int)(Count % PerChunk);
            if (slot == 0) _chunks.Add(new byte[Sha256Hash.Size * 64]);
            var chunk = _chunks[^1];
            if ((slot + 1) * Sha256Hash.Size > chunk.Length)
            {
                Array.Resize(ref chunk, Math.Min(chunk.Length * 2, PerChunk * Sha256Hash.Size));
                _chunks[^1] = chunk;
            }
            hash.CopyTo(chunk.AsSpan(slot * Sha256Hash.Size));
            Count++;
        }
    }
}
