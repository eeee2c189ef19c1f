using KpuEdge.Core.Elections;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Transparency;

namespace KpuEdge.Crypto.Tests.Transparency;

/// <summary>
/// A three-entry log (the PPWP submission of <see cref="Samples"/>, a revocation, the DPD submission) whose entries,
/// leaf hashes, signed checkpoints and proofs were computed independently by <c>known_answers.py</c> beside this file:
/// Python's standard library only, Ed25519 written from RFC 8032 and checked there against RFC 8032's test vector 1
/// and the Go sumdb/note vector. docs/verification.md shows the same bytes as its worked example.
/// </summary>
public sealed class LogKnownAnswerTests
{
    private const string Origin = "kpu.go.id/kpuedge/pemilu-2024";
    private static readonly DeviceKey LogKey = DeviceKey.Deterministic("kpu-log", 2024);
    private const string VerifierKeyText = "kpu.go.id/kpuedge/pemilu-2024+b9bb7a1e+AVLk3qq7/irVVQNL8SJB/ovKqjdQvsRjDJRt86MHhdYt";

    private const string RevocationEntryHex =
        "028501736465762d333237333031313030313030332d61663166326533641b0000018da6c5d7006e6b65795f636f6d70726f6d697365";

    private static readonly string[] LeafHashes =
    [
        "47c17e6026d8e9f1a130beb2a80782fffdeb232bcd4ec93acd99f875cae5ee5b",
        "e31f33deec2523c5e619cbd25b74ea1159248ffa6f3f6bc324c087489ef0c416",
        "d9a101a5055320c6ceca3de914ade5514e3dbfb328c2b88a653178ea60fd36a9",
    ];

    private static readonly string[] Checkpoints =
    [
        "kpu.go.id/kpuedge/pemilu-2024\n1\nR8F+YCbY6fGhML6yqAeC//3rIyvNTsk6zZn4dcrl7ls=\n\n— kpu.go.id/kpuedge/pemilu-2024 ubt6HsDDlLlO2wLIvMy+AyI4stlbuniG+Dl+VVMF8gOS3/lkd/t24voXO+Cmtn/KihsOhQ7fjnifKrH42pVC/713GAA=\n",
        "kpu.go.id/kpuedge/pemilu-2024\n2\nucWIqE66R2kDXkFHfB3Hv6abgEXfXLkkBrSJft5aRKQ=\n\n— kpu.go.id/kpuedge/pemilu-2024 ubt6Hg3NgvLhVqJP9xX/ndlkw05Mgf+yxZgI43O50kBeLDD7tt+aekINDPM0dD3XBvz4lm0E9zyeWeU77cFRczZeKQI=\n",
        "kpu.go.id/kpuedge/pemilu-2024\n3\njW8G6tnDhp81ycSqWGnXvkieX8rMkSrF81bh1uxZBGM=\n\n— kpu.go.id/kpuedge/pemilu-2024 ubt6Ht0H5IiTvUOZ34lIbU6iy86/1J01qdgAe7DknTaiDfbtEz76TFlBCrC9pxAr0/k8K4C4b938STqagcfDZFv1qAc=\n",
    ];

    private static readonly string[][] InclusionProofs =
    [
        ["4x8z3uwlI8XmGcvSW3TqEVkkj/pvP2vDJMCHSJ7wxBY=", "2aEBpQVTIMbOyj3pFK3lUU49v7MowriKZTF46mD9Nqk="],
        ["R8F+YCbY6fGhML6yqAeC//3rIyvNTsk6zZn4dcrl7ls=", "2aEBpQVTIMbOyj3pFK3lUU49v7MowriKZTF46mD9Nqk="],
        ["ucWIqE66R2kDXkFHfB3Hv6abgEXfXLkkBrSJft5aRKQ="],
    ];

    private static readonly string[][] ConsistencyProofsTo3 =
    [
        ["4x8z3uwlI8XmGcvSW3TqEVkkj/pvP2vDJMCHSJ7wxBY=", "2aEBpQVTIMbOyj3pFK3lUU49v7MowriKZTF46mD9Nqk="],
        ["2aEBpQVTIMbOyj3pFK3lUU49v7MowriKZTF46mD9Nqk="],
    ];

    private static readonly LoggedRevocation Revocation =
        new("dev-3273011001003-a", "1F2E3D", DateTimeOffset.FromUnixTimeMilliseconds(1707900000000), RevocationReason.KeyCompromise);

    private static byte[][] Entries() =>
    [
        LogEntry.For(Samples.Signed(ContestId.Ppwp)).Bytes,
        LogEntry.For(Revocation).Bytes,
        LogEntry.For(Samples.Signed(ContestId.Dpd)).Bytes,
    ];

    private static IReadOnlyList<byte[]> Proof(string[] base64) => base64.Select(Convert.FromBase64String).ToArray();

    [Fact]
    public void Encodes_the_entries_and_hashes_the_leaves_as_computed_independently()
    {
        Assert.Equal(RevocationEntryHex, Convert.ToHexStringLower(LogEntry.EncodeRevocation(Revocation)));
        var entries = Entries();
        for (int i = 0; i < entries.Length; i++) Assert.Equal(LeafHashes[i], Convert.ToHexStringLower(LogEntry.LeafHash(entries[i])));
    }

    [Fact]
    public void Signs_the_checkpoints_byte_for_byte()
    {
        var signer = new CheckpointSigner(LogKey, Checkpoint.DefaultOrigin("pemilu-2024"));
        Assert.Equal(VerifierKeyText, signer.VerifierKey.Format());
        var tree = new MerkleTree();
        foreach (var entry in Entries()) tree.Append(entry);
        for (int size = 1; size <= 3; size++) Assert.Equal(Checkpoints[size - 1], signer.Sign(tree, size));
    }

    [Fact]
    public void Verifies_the_independent_proofs_against_the_independent_checkpoints()
    {
        var key = NoteVerifierKey.Parse(VerifierKeyText);
        var three = SignedCheckpoint.Parse(Checkpoints[2]);
        Assert.Equal(new Checkpoint(Origin, 3, Convert.FromBase64String("jW8G6tnDhp81ycSqWGnXvkieX8rMkSrF81bh1uxZBGM=")), three.Checkpoint);
        var entries = Entries();
        for (int i = 0; i < 3; i++)
        {
            var result = LogVerification.VerifyInclusion(entries[i], i, Proof(InclusionProofs[i]), three, key, treeSize: 3);
            Assert.True(result.Ok, result.Detail);
        }
        for (int oldSize = 1; oldSize <= 2; oldSize++)
        {
            var result = LogVerification.VerifyConsistency(SignedCheckpoint.Parse(Checkpoints[oldSize - 1]), three, Proof(ConsistencyProofsTo3[oldSize - 1]), key);
            Assert.True(result.Ok, result.Detail);
        }
        var tree = new MerkleTree();
        foreach (var entry in entries) tree.Append(entry);
        for (int i = 0; i < 3; i++) Assert.Equal(InclusionProofs[i], tree.InclusionProof(i, 3).Select(Convert.ToBase64String));
        for (int m = 1; m <= 2; m++) Assert.Equal(ConsistencyProofsTo3[m - 1], tree.ConsistencyProof(m, 3).Select(Convert.ToBase64String));
    }
}
