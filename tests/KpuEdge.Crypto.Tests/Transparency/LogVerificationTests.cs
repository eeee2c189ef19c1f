using KpuEdge.Core.Elections;
using KpuEdge.Crypto.Transparency;

namespace KpuEdge.Crypto.Tests.Transparency;

/// <summary>The client-side checks a device or a witness runs: signed checkpoint first, then the proof against it.</summary>
public sealed class LogVerificationTests
{
    private const string Origin = "kpu.go.id/kpuedge/pemilu-2024";
    private static readonly CheckpointSigner Log = new(DeviceKey.Deterministic("kpu-log", 1), Origin);
    private static readonly NoteVerifierKey Key = Log.VerifierKey;

    private static byte[] Entry(int i) => i == 3 ? LogEntry.For(Samples.Signed(ContestId.Ppwp)).Bytes : [0x01, .. BitConverter.GetBytes(i * 7919)];

    private static MerkleTree Tree(int size, int rewritten = -1)
    {
        var tree = new MerkleTree();
        for (int i = 0; i < size; i++) tree.Append(i == rewritten ? [0xee] : Entry(i));
        return tree;
    }

    private static SignedCheckpoint Signed(MerkleTree tree, long size) => SignedCheckpoint.Parse(Log.Sign(tree, size));

    private static string? Error(LogVerificationResult result) => result.Error;

    [Fact]
    public void Proves_every_leaf_of_every_tree_up_to_64_against_its_signed_checkpoint()
    {
        var tree = Tree(64);
        var checkpoints = Enumerable.Range(0, 65).Select(size => Signed(tree, size)).ToArray();
        for (int size = 1; size <= 64; size++)
        {
            var checkpoint = checkpoints[size];
            for (int index = 0; index < size; index++)
            {
                var proof = tree.InclusionProof(index, size);
                var result = LogVerification.VerifyInclusion(Entry(index), index, proof, checkpoint, Key, treeSize: size);
                Assert.True(result.Ok, $"{index} of {size}: {result.Detail}");
                Assert.True(LogVerification.VerifyLeafHashInclusion(tree.LeafHashAt(index), index, proof, checkpoint, Key).Ok);

                // Another entry, another index, a tampered proof: each fails as bad_proof.
                Assert.Equal(LogErrors.BadProof, Error(LogVerification.VerifyInclusion(Entry(index + 1), index, proof, checkpoint, Key)));
                if (size > 1) Assert.Equal(LogErrors.BadProof, Error(LogVerification.VerifyInclusion(Entry(index), (index + 1) % size, proof, checkpoint, Key)));
                if (proof.Count > 0)
                {
                    var bent = proof.Select(p => (byte[])p.Clone()).ToArray();
                    bent[index % proof.Count][index % 32] ^= 0x80;
                    Assert.Equal(LogErrors.BadProof, Error(LogVerification.VerifyInclusion(Entry(index), index, bent, checkpoint, Key)));
                    Assert.Equal(LogErrors.BadProof, Error(LogVerification.VerifyInclusion(Entry(index), index, proof.Skip(1).ToArray(), checkpoint, Key)));
                }
                Assert.Equal(LogErrors.BadProof, Error(LogVerification.VerifyInclusion(Entry(index), index, [.. proof, tree.Root(size)], checkpoint, Key)));
                // The proof of this size against the checkpoint of the next size.
                if (size < 64 && proof.Count > 0)
                    Assert.Equal(LogErrors.BadProof, Error(LogVerification.VerifyInclusion(Entry(index), index, proof, checkpoints[size + 1], Key)));
            }
        }
    }

    [Fact]
    public void Proves_every_tree_up_to_64_consistent_with_every_earlier_signed_checkpoint()
    {
        var tree = Tree(64);
        var rewritten = Tree(64, rewritten: 5);
        var checkpoints = Enumerable.Range(0, 65).Select(size => Signed(tree, size)).ToArray();
        for (int newSize = 1; newSize <= 64; newSize++)
        for (int oldSize = 0; oldSize <= newSize; oldSize++)
        {
            var proof = tree.ConsistencyProof(oldSize, newSize);
            var result = LogVerification.VerifyConsistency(checkpoints[oldSize], checkpoints[newSize], proof, Key);
            Assert.True(result.Ok, $"{oldSize} → {newSize}: {result.Detail}");
            if (oldSize == newSize || oldSize == 0) continue;

            // A log that rewrote entry 5 after signing the old checkpoint cannot prove the new one consistent with it.
            if (oldSize > 5)
                Assert.Equal(LogErrors.BadProof, Error(LogVerification.VerifyConsistency(checkpoints[oldSize], Signed(rewritten, newSize),
                    rewritten.ConsistencyProof(oldSize, newSize), Key)));
            var bent = proof.Select(p => (byte[])p.Clone()).ToArray();
            bent[^1][0] ^= 1;
            Assert.Equal(LogErrors.BadProof, Error(LogVerification.VerifyConsistency(checkpoints[oldSize], checkpoints[newSize], bent, Key)));
            // Old and new swapped.
            Assert.Equal(LogErrors.SizeMismatch, Error(LogVerification.VerifyConsistency(checkpoints[newSize], checkpoints[oldSize], proof, Key)));
        }
    }

    [Fact]
    public void Detects_a_fork_two_signed_checkpoints_of_one_size_with_different_roots()
    {
        var forked = Signed(Tree(10, rewritten: 2), 10);
        var result = LogVerification.VerifyConsistency(Signed(Tree(10), 10), forked, [], Key);
        Assert.Equal(LogErrors.BadProof, result.Error);
        Assert.Contains("forked", result.Detail);
    }

    [Fact]
    public void Refuses_checkpoints_not_signed_by_the_trusted_key()
    {
        var tree = Tree(8);
        var proof = tree.InclusionProof(3, 8);
        // Signed by another key under the log's name.
        var impostor = new CheckpointSigner(DeviceKey.Deterministic("impostor", 1), Origin);
        var forged = SignedCheckpoint.Parse(impostor.Sign(tree, 8));
        Assert.Equal(LogErrors.BadCheckpointSignature, Error(LogVerification.VerifyInclusion(Entry(3), 3, proof, forged, Key)));

        // The log's own signature over an altered size or root.
        string note = Log.Sign(tree, 8);
        string rootText = Convert.ToBase64String(tree.Root(8));
        var alteredSize = SignedCheckpoint.Parse(note.Replace($"{Origin}\n8\n", $"{Origin}\n9\n"));
        var alteredRoot = SignedCheckpoint.Parse(note.Replace(rootText, Convert.ToBase64String(tree.Root(7))));
        Assert.Equal(LogErrors.BadCheckpointSignature, Error(LogVerification.VerifyCheckpoint(alteredSize, Key)));
        Assert.Equal(LogErrors.BadCheckpointSignature, Error(LogVerification.VerifyInclusion(Entry(3), 3, proof, alteredRoot, Key)));
        Assert.Equal(LogErrors.BadCheckpointSignature, Error(LogVerification.VerifyConsistency(Signed(tree, 4), alteredRoot, tree.ConsistencyProof(4, 8), Key)));
        Assert.Equal(LogErrors.BadCheckpointSignature, Error(LogVerification.VerifyConsistency(alteredSize, Signed(tree, 8), [], Key)));

        // Unparseable checkpoints.
        Assert.Equal(LogErrors.MalformedCheckpoint, Error(LogVerification.VerifyCheckpoint("not a checkpoint", Key, out var none)));
        Assert.Null(none);
        Assert.Equal(LogErrors.MalformedCheckpoint, Error(LogVerification.VerifyCheckpoint(note.Replace("\n8\n", "\n08\n"), Key, out _)));
        Assert.True(LogVerification.VerifyCheckpoint(note, Key, out var parsed).Ok);
        Assert.Equal(8, parsed!.Checkpoint.Size);
    }

    [Fact]
    public void Refuses_a_checkpoint_of_another_log_even_when_the_key_signed_it()
    {
        var tree = Tree(4);
        string otherLog = SignedNote.Sign(new Checkpoint("kpu.go.id/kpuedge/latihan", 4, tree.Root(4)).Format(), new NoteSigner(Origin, DeviceKey.Deterministic("kpu-log", 1)));
        var checkpoint = SignedCheckpoint.Parse(otherLog);
        Assert.Equal(LogErrors.WrongOrigin, Error(LogVerification.VerifyCheckpoint(checkpoint, Key)));
        Assert.Equal(LogErrors.WrongOrigin, Error(LogVerification.VerifyInclusion(Entry(1), 1, tree.InclusionProof(1, 4), checkpoint, Key)));
    }

    [Fact]
    public void Refuses_sizes_that_do_not_fit_the_checkpoint()
    {
        var tree = Tree(8);
        var checkpoint = Signed(tree, 8);
        var proof = tree.InclusionProof(2, 8);
        Assert.Equal(LogErrors.SizeMismatch, Error(LogVerification.VerifyInclusion(Entry(2), 2, proof, checkpoint, Key, treeSize: 9)));
        Assert.Equal(LogErrors.SizeMismatch, Error(LogVerification.VerifyInclusion(Entry(2), 8, proof, checkpoint, Key)));
        Assert.Equal(LogErrors.SizeMismatch, Error(LogVerification.VerifyInclusion(Entry(2), -1, proof, checkpoint, Key)));
        Assert.Equal(LogErrors.SizeMismatch, Error(LogVerification.VerifyInclusion(Entry(0), 0, [], Signed(tree, 0), Key)));
        Assert.Equal(LogErrors.BadProof, Error(LogVerification.VerifyLeafHashInclusion(new byte[31], 2, proof, checkpoint, Key)));
        Assert.Equal(LogErrors.BadProof, Error(LogVerification.VerifyInclusion(Entry(2), 2, [.. proof.SkipLast(1), new byte[31]], checkpoint, Key)));
    }

    [Fact]
    public void Refuses_an_empty_tree_checkpoint_with_a_root_other_than_the_empty_hash()
    {
        var bogus = SignedCheckpoint.Parse(Log.Sign(0, new byte[32]));
        Assert.Equal(LogErrors.BadProof, Error(LogVerification.VerifyCheckpoint(bogus, Key)));
        Assert.True(LogVerification.VerifyCheckpoint(SignedCheckpoint.Parse(Log.Sign(0, LogVerification.EmptyTreeRoot)), Key).Ok);
    }

    [Fact]
    public void Checks_that_the_logs_entry_is_exactly_the_submission()
    {
        var signed = Samples.Signed(ContestId.Ppwp);
        var entry = LogEntry.For(signed).Bytes;
        Assert.True(LogVerification.VerifySubmissionEntry(entry, signed.Wire).Ok);

        var other = Samples.Signed(ContestId.Dpd);
        Assert.Equal(LogErrors.LeafMismatch, Error(LogVerification.VerifySubmissionEntry(entry, other.Wire)));
        Assert.Equal(LogErrors.LeafMismatch, Error(LogVerification.VerifySubmissionEntry([0x02, .. signed.Wire], signed.Wire)));
        Assert.Equal(LogErrors.LeafMismatch, Error(LogVerification.VerifySubmissionEntry([], signed.Wire)));
        Assert.Equal(LogErrors.LeafMismatch, Error(LogVerification.VerifySubmissionEntry(entry[..^1], signed.Wire)));
    }
}
