using KpuEdge.Crypto.Transparency;

namespace KpuEdge.Crypto.Tests;

/// <summary>
/// The transparency log's tree against RFC 6962/9162 known answers (the reference test vectors; the proofs were
/// computed with an independent Python implementation of the RFC's recursive definitions), and every proof for
/// every tree size up to 64.
/// </summary>
public sealed class MerkleTreeTests
{
    private static readonly byte[][] Vectors =
    [
        [], [0x00], [0x10], [0x20, 0x21], [0x30, 0x31], [0x40, 0x41, 0x42, 0x43],
        [0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
        [0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f],
    ];

    private static readonly string[] Roots =
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    private static MerkleTree Tree(int size)
    {
        var tree = new MerkleTree();
        for (int i = 0; i < size; i++) tree.Append(i < Vectors.Length ? Vectors[i] : BitConverter.GetBytes(i * 7919));
        return tree;
    }

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);

    [Fact]
    public void Gives_the_RFC_roots_for_every_size_of_the_reference_vectors()
    {
        var tree = new MerkleTree();
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Hex(tree.Root()));
        for (int i = 0; i < Vectors.Length; i++)
        {
            tree.Append(Vectors[i]);
            Assert.Equal(Roots[i], Hex(tree.Root()));
        }
        for (int size = 1; size <= Vectors.Length; size++) Assert.Equal(Roots[size - 1], Hex(tree.Root(size)));
    }

    [Fact]
    public void A_tree_past_its_storage_chunks_agrees_with_the_recursive_definition()
    {
        // 70,000 leaves cross two chunk boundaries of the leaf level (32,768 hashes each) and one of level 1.
        var leaves = Enumerable.Range(0, 70_000).Select(i => MerkleTree.LeafHash(BitConverter.GetBytes(i * 7919))).ToArray();
        var tree = new MerkleTree();
        foreach (var leaf in leaves) tree.AppendLeafHash(leaf);
        foreach (int size in new[] { 32_767, 32_768, 32_769, 65_536, 65_537, 70_000 })
            Assert.Equal(Hex(Mth(leaves, 0, size)), Hex(tree.Root(size)));
        foreach (long index in new long[] { 0, 32_767, 32_768, 65_535, 69_999 })
        {
            Assert.Equal(Hex(leaves[index]), Hex(tree.LeafHashAt(index)));
            Assert.True(MerkleProof.VerifyInclusion(index, 70_000, leaves[index], tree.InclusionProof(index, 70_000), tree.Root()));
        }
        Assert.True(MerkleProof.VerifyConsistency(32_768, 70_000, tree.Root(32_768), tree.Root(), tree.ConsistencyProof(32_768, 70_000)));
    }

    /// <summary>RFC 9162 §2.1.1 MTH, recursively, straight from the definition.</summary>
    private static byte[] Mth(byte[][] leaves, int start, int count)
    {
        if (count == 1) return leaves[start];
        int k = 1;
        while (k * 2 < count) k *= 2;
        return MerkleTree.NodeHash(Mth(leaves, start, k), Mth(leaves, start + k, count - k));
    }

    [Theory]
    [InlineData(0, 8, "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7,5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e,6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]
    [InlineData(5, 8, "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b,ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0,d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]
    [InlineData(2, 3, "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]
    public void Gives_the_known_inclusion_proofs(int index, int size, string expected)
    {
        var proof = Tree(8).InclusionProof(index, size);
        Assert.Equal(expected, string.Join(",", proof.Select(Hex)));
    }

    [Theory]
    [InlineData(1, 8, "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7,5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e,6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]
    [InlineData(6, 8, "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a,ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0,d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]
    [InlineData(3, 7, "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7,07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7,fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125,837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e")]
    public void Gives_the_known_consistency_proofs(int oldSize, int newSize, string expected)
    {
        var proof = Tree(8).ConsistencyProof(oldSize, newSize);
        Assert.Equal(expected, string.Join(",", proof.Select(Hex)));
    }

    [Fact]
    public void Proves_every_leaf_of_every_tree_up_to_64_and_refuses_a_tampered_proof()
    {
        var tree = Tree(64);
        for (int size = 1; size <= 64; size++)
        {
            var root = tree.Root(size);
            for (int index = 0; index < size; index++)
            {
                var leaf = tree.LeafHashAt(index);
                var proof = tree.InclusionProof(index, size);
                Assert.True(MerkleProof.VerifyInclusion(index, size, leaf, proof, root), $"leaf {index} of {size}");

                Assert.False(MerkleProof.VerifyInclusion(index, size, tree.LeafHashAt((index + 1) % 64), proof, root));
                if (size > 1) Assert.False(MerkleProof.VerifyInclusion((index + 1) % size, size, leaf, proof, root));
                // The proof alone does not bind the size (a checkpoint signs size and root together): against the
                // checkpoint of another size it must fail.
                if (size < 64) Assert.False(MerkleProof.VerifyInclusion(index, size + 1, leaf, proof, tree.Root(size + 1)));
                if (proof.Count > 0)
                {
                    var bent = proof.Select(p => (byte[])p.Clone()).ToArray();
                    bent[^1][0] ^= 1;
                    Assert.False(MerkleProof.VerifyInclusion(index, size, leaf, bent, root));
                    Assert.False(MerkleProof.VerifyInclusion(index, size, leaf, proof.SkipLast(1).ToArray(), root));
                }
            }
        }
    }

    [Fact]
    public void Proves_every_tree_up_to_64_consistent_with_every_earlier_one_and_detects_a_rewritten_history()
    {
        var tree = Tree(64);
        var rewritten = new MerkleTree();
        for (int i = 0; i < 64; i++) rewritten.Append(i == 5 ? [0xee] : i < Vectors.Length ? Vectors[i] : BitConverter.GetBytes(i * 7919));
        for (int newSize = 1; newSize <= 64; newSize++)
        for (int oldSize = 1; oldSize <= newSize; oldSize++)
        {
            var proof = tree.ConsistencyProof(oldSize, newSize);
            Assert.True(MerkleProof.VerifyConsistency(oldSize, newSize, tree.Root(oldSize), tree.Root(newSize), proof), $"{oldSize} → {newSize}");
            if (oldSize == newSize) continue;
            // A log that rewrote entry 5 after publishing the old checkpoint cannot prove consistency with it.
            if (oldSize > 5)
                Assert.False(MerkleProof.VerifyConsistency(oldSize, newSize, tree.Root(oldSize), rewritten.Root(newSize), rewritten.ConsistencyProof(oldSize, newSize)));
            if (newSize - 1 > oldSize)
                Assert.False(MerkleProof.VerifyConsistency(oldSize, newSize, tree.Root(oldSize), tree.Root(newSize - 1), proof));
        }
    }

    [Fact]
    public void Refuses_proofs_for_sizes_it_does_not_have()
    {
        var tree = Tree(10);
        Assert.Throws<ArgumentOutOfRangeException>(() => tree.InclusionProof(10, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => tree.Root(11));
        Assert.Throws<ArgumentOutOfRangeException>(() => tree.ConsistencyProof(11, 10));
        Assert.False(MerkleProof.VerifyConsistency(3, 10, tree.Root(3), tree.Root(10), []));
    }
}
