using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Transparency;
using KpuEdge.Edge.Device;
using KpuEdge.Edge.Transport;

namespace KpuEdge.Edge.Tests;

/// <summary>
/// A device believes a receipt only when the log key from its bundle signed the checkpoint and the proof leads from
/// exactly the bytes it sent to that checkpoint's root. The log here is a real one, built in memory.
/// </summary>
public sealed class ReceiptVerifierTests
{
    private static readonly string Origin = Checkpoint.DefaultOrigin("pemilu-2024");
    private static readonly DeviceKey LogKey = DeviceKey.Deterministic("transparency-log", 7);
    private static readonly CheckpointSigner Log = new(LogKey, Origin);
    /// <summary>What the device was given in its configuration bundle.</summary>
    private static readonly NoteVerifierKey TrustedLogKey = NoteVerifierKey.Create(Origin, LogKey);
    private static readonly DateTimeOffset ReceivedAt = new(2024, 2, 14, 14, 5, 0, TimeSpan.FromHours(7));

    /// <summary>20 real signed forms of one TPS device, chained (sequence 1..20), so every wire differs.</summary>
    private static readonly IReadOnlyList<SignedSubmission> Forms = SignForms(20);

    /// <summary>
    /// The log the receipts speak of: a revocation, forms of this device, and an entry that is neither; our form
    /// (<see cref="Ours"/>) is at <see cref="OurIndex"/>.
    /// </summary>
    private static readonly MerkleTree Tree = BuildLog();
    private const long OurIndex = 3;
    private static SignedSubmission Ours => Forms[1];

    private static IReadOnlyList<SignedSubmission> SignForms(int count)
    {
        var tree = RegionTree.LoadEmbedded();
        var election = ElectionDefinition.Default;
        var tps = TpsCode.Parse("3273011001003");
        var ballots = election.Ballots(tree);
        var device = new DeviceIdentity("dev-3273011001003", tps, DeviceKey.Deterministic("dev-3273011001003", 1));
        var signer = new FormSigner(device, election, ballots, new FixedTime(new DateTimeOffset(2024, 2, 14, 14, 0, 0, TimeSpan.FromHours(7))));
        var tallies = SyntheticTally.ForTps(tps, ballots, election, 5);
        return Enumerable.Range(0, count).Select(i => signer.Sign(tallies[i % tallies.Count])).ToArray();
    }

    private static MerkleTree BuildLog()
    {
        var tree = new MerkleTree();
        tree.Append(LogEntry.EncodeRevocation(new LoggedRevocation("dev-3273011001999", "1f2e3d", new DateTimeOffset(2024, 2, 13, 0, 0, 0, TimeSpan.Zero), RevocationReason.KeyCompromise)));
        tree.Append(LogEntry.EncodeSubmission(Forms[0].Wire));
        tree.Append([0x7f, 1, 2, 3]);
        Assert.Equal(OurIndex, tree.Append(LogEntry.EncodeSubmission(Ours.Wire)));
        tree.Append(LogEntry.EncodeSubmission(Forms[2].Wire));
        tree.Append(LogEntry.EncodeSubmission(Forms[3].Wire));
        tree.Append(LogEntry.EncodeSubmission(Forms[4].Wire));
        return tree;
    }

    private static IReadOnlyList<string> Base64(IEnumerable<byte[]> proof) => proof.Select(Convert.ToBase64String).ToArray();

    /// <summary>The receipt an honest cloud sends for leaf <paramref name="index"/> of the first <paramref name="size"/> leaves of <paramref name="tree"/>.</summary>
    private static Receipt ReceiptFor(SignedSubmission form, MerkleTree tree, long index, long size, CheckpointSigner? log = null) => new()
    {
        Status = ReceiptStatus.Accepted,
        SubmissionHash = form.Hash.ToString(),
        LedgerPosition = index + 1,
        LogIndex = index,
        Checkpoint = (log ?? Log).Sign(tree, size),
        InclusionProof = Base64(tree.InclusionProof(index, size)),
        Tps = form.Submission.Tally.Tps.Value,
        Sequence = form.Submission.Sequence,
        Ts = ReceivedAt,
    };

    private static Receipt Good() => ReceiptFor(Ours, Tree, OurIndex, Tree.Size);

    private static void AssertRefused(string error, Receipt receipt, byte[]? wire = null)
    {
        var result = ReceiptVerifier.Verify(receipt, wire ?? Ours.Wire, TrustedLogKey);
        Assert.False(result.Ok, $"The receipt was believed: {result.Detail}");
        Assert.Equal(error, result.Error);
    }

    [Fact]
    public void Believes_a_receipt_whose_proof_leads_from_the_sent_bytes_to_a_checkpoint_of_the_log()
    {
        var result = ReceiptVerifier.Verify(Good(), Ours.Wire, TrustedLogKey);

        Assert.True(result.Ok, result.Detail);
        Assert.Null(result.Error);
    }

    [Fact]
    public void Believes_the_receipt_as_it_arrives_over_MQTT_as_JSON()
    {
        var received = Receipt.TryParse(Good().ToUtf8());

        Assert.NotNull(received);
        Assert.True(ReceiptVerifier.Verify(received, Ours.Wire, TrustedLogKey).Ok);
    }

    [Fact]
    public void Believes_a_duplicate_receipt_that_proves_the_original_position()
    {
        var duplicate = Good() with { Status = ReceiptStatus.Duplicate };

        Assert.True(ReceiptVerifier.Verify(duplicate, Ours.Wire, TrustedLogKey).Ok);
    }

    [Fact]
    public void Believes_a_receipt_against_a_later_checkpoint_that_also_holds_the_entry()
    {
        var atFour = ReceiptFor(Ours, Tree, OurIndex, OurIndex + 1);
        var atSeven = ReceiptFor(Ours, Tree, OurIndex, Tree.Size);

        Assert.True(ReceiptVerifier.Verify(atFour, Ours.Wire, TrustedLogKey).Ok);
        Assert.True(ReceiptVerifier.Verify(atSeven, Ours.Wire, TrustedLogKey).Ok);
    }

    private static Receipt Rejection(string reason, string? statement) => new()
    {
        Status = ReceiptStatus.Rejected,
        SubmissionHash = Ours.Hash.ToString(),
        Reason = reason,
        Rejection = statement,
        Violations = ["suara_sah: votes_sum_is_sah"],
        Ts = ReceivedAt,
    };

    [Fact]
    public void A_rejection_is_believed_only_with_the_clouds_signed_statement_about_these_bytes_and_this_reason()
    {
        var signed = Log.Sign(new RejectionStatement(Ours.Hash, RejectReasons.InvalidTally, ReceivedAt));

        var result = ReceiptVerifier.Verify(Rejection(RejectReasons.InvalidTally, signed), Ours.Wire, TrustedLogKey);

        Assert.True(result.Ok, result.Detail);
    }

    [Theory]
    [InlineData(RejectReasons.Misaddressed)]
    [InlineData(RejectReasons.ReplayedByOtherDevice)]
    [InlineData(RejectReasons.RateLimited)]
    [InlineData("a_reason_from_a_newer_cloud")]
    public void A_refusal_for_who_sent_the_form_or_where_is_never_final_even_signed_by_the_log_key(string reason)
    {
        // The probe's attack: another device replays our form in the wrong place and the cloud's signed answer about it
        // reaches us. Whatever signs it, such a refusal says nothing about the form: we keep it and send it again.
        var signed = Log.Sign(new RejectionStatement(Ours.Hash, reason, ReceivedAt));
        var result = ReceiptVerifier.Verify(Rejection(reason, signed), Ours.Wire, TrustedLogKey);
        Assert.False(result.Ok);
        Assert.Equal(LogErrors.BadRejection, result.Error);
        Assert.False(RejectReasons.IsFinal(reason));
    }

    public static TheoryData<string, Func<string?>> ForgedRejections() => new()
    {
        { "no statement (a made-up refusal from a broker or station)", () => null },
        { "signed by another key", () => new CheckpointSigner(DeviceKey.Deterministic("impostor-log", 7), Origin)
            .Sign(new RejectionStatement(Ours.Hash, RejectReasons.InvalidTally, ReceivedAt)) },
        { "about another form", () => Log.Sign(new RejectionStatement(Forms[2].Hash, RejectReasons.InvalidTally, ReceivedAt)) },
        { "for another reason", () => Log.Sign(new RejectionStatement(Ours.Hash, RejectReasons.ChainFork, ReceivedAt)) },
        { "a checkpoint instead", () => Log.Sign(Tree, 3) },
        { "garbage", () => "not a note" },
    };

    [Theory]
    [MemberData(nameof(ForgedRejections))]
    public void Refuses_a_rejection_without_a_valid_statement(string what, Func<string?> statement)
    {
        var result = ReceiptVerifier.Verify(Rejection(RejectReasons.InvalidTally, statement()), Ours.Wire, TrustedLogKey);

        Assert.False(result.Ok, what);
        Assert.Equal(LogErrors.BadRejection, result.Error);
    }

    [Fact]
    public void Refuses_a_checkpoint_signed_by_another_key_under_the_log_s_name()
    {
        var impostor = new CheckpointSigner(DeviceKey.Deterministic("impostor-log", 7), Origin);

        AssertRefused(LogErrors.BadCheckpointSignature, ReceiptFor(Ours, Tree, OurIndex, Tree.Size, impostor));
    }

    [Fact]
    public void Refuses_a_checkpoint_signed_by_the_log_key_of_another_election()
    {
        var otherElection = new CheckpointSigner(LogKey, Checkpoint.DefaultOrigin("pilkada-2024"));

        AssertRefused(LogErrors.BadCheckpointSignature, ReceiptFor(Ours, Tree, OurIndex, Tree.Size, otherElection));
    }

    [Fact]
    public void Refuses_a_checkpoint_whose_body_names_another_log_under_the_log_s_signature()
    {
        string note = SignedNote.Sign(new Checkpoint(Checkpoint.DefaultOrigin("pilkada-2024"), Tree.Size, Tree.Root()).Format(), new NoteSigner(Origin, LogKey));

        AssertRefused(LogErrors.WrongOrigin, Good() with { Checkpoint = note });
    }

    [Fact]
    public void Refuses_a_checkpoint_that_is_not_a_signed_note()
    {
        AssertRefused(LogErrors.MalformedCheckpoint, Good() with { Checkpoint = new Checkpoint(Origin, Tree.Size, Tree.Root()).Format() });
    }

    [Fact]
    public void Refuses_a_checkpoint_whose_signed_text_was_edited()
    {
        string note = Log.Sign(Tree, Tree.Size);
        string edited = note.Replace($"\n{Tree.Size}\n", $"\n{Tree.Size + 1}\n", StringComparison.Ordinal);
        Assert.NotEqual(note, edited);

        AssertRefused(LogErrors.BadCheckpointSignature, Good() with { Checkpoint = edited });
    }

    public static TheoryData<int> ProofPositions() => new(Enumerable.Range(0, Tree.InclusionProof(OurIndex, Tree.Size).Count));

    [Theory]
    [MemberData(nameof(ProofPositions))]
    public void Refuses_a_proof_with_one_hash_altered(int position)
    {
        var proof = Tree.InclusionProof(OurIndex, Tree.Size).Select(h => h.ToArray()).ToArray();
        proof[position][Sha256Hash.Size - 1] ^= 0x01;

        AssertRefused(LogErrors.BadProof, Good() with { InclusionProof = Base64(proof) });
    }

    [Fact]
    public void Refuses_a_proof_with_a_hash_missing_or_one_too_many()
    {
        var proof = Tree.InclusionProof(OurIndex, Tree.Size);

        AssertRefused(LogErrors.BadProof, Good() with { InclusionProof = Base64(proof.Take(proof.Count - 1)) });
        AssertRefused(LogErrors.BadProof, Good() with { InclusionProof = Base64([.. proof, Tree.Root()]) });
        AssertRefused(LogErrors.BadProof, Good() with { InclusionProof = [] });
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(6)]
    public void Refuses_a_proof_of_another_leaf_index(long otherIndex)
    {
        var receipt = Good() with { InclusionProof = Base64(Tree.InclusionProof(otherIndex, Tree.Size)) };

        AssertRefused(LogErrors.BadProof, receipt);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(6)]
    public void Refuses_a_claim_that_the_form_sits_at_another_index(long otherIndex)
    {
        AssertRefused(LogErrors.BadProof, Good() with { LogIndex = otherIndex });
    }

    [Fact]
    public void Refuses_a_valid_receipt_for_another_form_of_the_same_device()
    {
        // The log holds Forms[2] at index 4; its receipt is genuine, but not for what this device sent.
        var theirs = ReceiptFor(Forms[2], Tree, 4, Tree.Size);
        Assert.True(ReceiptVerifier.Verify(theirs, Forms[2].Wire, TrustedLogKey).Ok);

        AssertRefused(LogErrors.BadProof, theirs, Ours.Wire);
    }

    [Fact]
    public void Refuses_a_receipt_when_the_sent_wire_differs_by_one_byte()
    {
        byte[] sent = Ours.Wire.ToArray();
        sent[^1] ^= 0x80;

        AssertRefused(LogErrors.BadProof, Good(), sent);
    }

    [Fact]
    public void Refuses_a_receipt_that_proves_the_bare_wire_instead_of_the_submission_entry()
    {
        // A leaf of the wire without the 0x01 type byte is not the entry the device's form becomes.
        var tree = new MerkleTree();
        tree.Append(LogEntry.EncodeSubmission(Forms[0].Wire));
        tree.Append(Ours.Wire);

        AssertRefused(LogErrors.BadProof, ReceiptFor(Ours, tree, 1, tree.Size));
    }

    [Fact]
    public void Refuses_an_accepted_receipt_without_a_log_index()
    {
        AssertRefused(LogErrors.BadProof, Good() with { LogIndex = null });
    }

    [Fact]
    public void Refuses_an_accepted_receipt_without_a_checkpoint()
    {
        AssertRefused(LogErrors.BadProof, Good() with { Checkpoint = null });
    }

    [Fact]
    public void Refuses_an_accepted_receipt_without_an_inclusion_proof()
    {
        AssertRefused(LogErrors.BadProof, Good() with { InclusionProof = null });
    }

    [Fact]
    public void Refuses_a_duplicate_receipt_without_proof()
    {
        AssertRefused(LogErrors.BadProof, Good() with { Status = ReceiptStatus.Duplicate, LogIndex = null, Checkpoint = null, InclusionProof = null });
    }

    [Theory]
    [InlineData("not base64!")]
    [InlineData("@@@@")]
    [InlineData("AAA")]
    public void Refuses_a_proof_hash_that_is_not_base64(string hash)
    {
        var proof = Base64(Tree.InclusionProof(OurIndex, Tree.Size)).ToArray();
        proof[0] = hash;

        var result = ReceiptVerifier.Verify(Good() with { InclusionProof = proof }, Ours.Wire, TrustedLogKey);

        Assert.Equal(LogErrors.BadProof, result.Error);
        Assert.Contains("base64", result.Detail);
    }

    [Fact]
    public void Refuses_a_proof_hash_that_is_base64_but_not_32_bytes()
    {
        var proof = Base64(Tree.InclusionProof(OurIndex, Tree.Size)).ToArray();
        proof[0] = Convert.ToBase64String(new byte[31]);

        AssertRefused(LogErrors.BadProof, Good() with { InclusionProof = proof });
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Refuses_a_checkpoint_too_small_to_hold_the_index(long size)
    {
        // The proof is the honest one of the full tree; only the checkpoint is of a tree that ends before our leaf.
        var receipt = Good() with { Checkpoint = Log.Sign(Tree, size) };

        AssertRefused(LogErrors.SizeMismatch, receipt);
    }

    [Fact]
    public void Refuses_a_negative_log_index()
    {
        AssertRefused(LogErrors.SizeMismatch, Good() with { LogIndex = -1 });
    }

    [Fact]
    public void Refuses_a_proof_for_another_tree_size_than_the_checkpoint_signs()
    {
        var receipt = Good() with { InclusionProof = Base64(Tree.InclusionProof(OurIndex, OurIndex + 1)) };

        AssertRefused(LogErrors.BadProof, receipt);
    }

    public static TheoryData<int> TreeSizes() => new(Enumerable.Range(1, 20));

    [Theory]
    [MemberData(nameof(TreeSizes))]
    public void Believes_the_receipt_of_every_leaf_of_a_log_of_this_size_and_no_other_form_s(int size)
    {
        var tree = new MerkleTree();
        foreach (var form in Forms.Take(size)) tree.Append(LogEntry.EncodeSubmission(form.Wire));

        for (int index = 0; index < size; index++)
        {
            var receipt = ReceiptFor(Forms[index], tree, index, size);

            var result = ReceiptVerifier.Verify(receipt, Forms[index].Wire, TrustedLogKey);
            Assert.True(result.Ok, $"size {size}, index {index}: {result.Error}: {result.Detail}");

            var neighbour = Forms[(index + 1) % Forms.Count];
            Assert.Equal(LogErrors.BadProof, ReceiptVerifier.Verify(receipt, neighbour.Wire, TrustedLogKey).Error);
        }
    }
}
