using System.Security.Cryptography;

namespace KpuEdge.Crypto.Transparency;

/// <summary>Stable error codes of log verification: devices, kpu-verify's JSON and monitors key on them.</summary>
public static class LogErrors
{
    /// <summary>The checkpoint is not a signed note with a tlog-checkpoint body.</summary>
    public const string MalformedCheckpoint = "malformed_checkpoint";
    /// <summary>The checkpoint carries no valid signature of the trusted log key (unsigned, another key, or a bad signature).</summary>
    public const string BadCheckpointSignature = "bad_checkpoint_signature";
    /// <summary>The checkpoint's origin is not the trusted log key's name: a checkpoint of another log.</summary>
    public const string WrongOrigin = "wrong_origin";
    /// <summary>Sizes do not fit: proof for another tree size, index outside the tree, or a "new" checkpoint smaller than the old.</summary>
    public const string SizeMismatch = "size_mismatch";
    /// <summary>The proof does not lead from the leaf (or old root) to the signed root.</summary>
    public const string BadProof = "bad_proof";
    /// <summary>The log's entry is not the one the verifier holds.</summary>
    public const string LeafMismatch = "leaf_mismatch";
    /// <summary>The entries the log serves do not hash to the root it signed.</summary>
    public const string RootMismatch = "root_mismatch";
    /// <summary>An entry that is neither a submission nor a revocation in this log's encoding.</summary>
    public const string MalformedEntry = "malformed_entry";
    /// <summary>A rejection receipt without the cloud's valid signed statement, or one about another submission or reason.</summary>
    public const string BadRejection = "bad_rejection";
    /// <summary>An answer about a page image without the cloud's valid signed statement, or one about another page or outcome.</summary>
    public const string BadImageStatement = "bad_image_statement";
}

/// <summary>The outcome of one check: <see cref="Error"/> is null when it passed, else one of <see cref="LogErrors"/>.</summary>
public sealed record LogVerificationResult(string? Error, string Detail)
{
    public bool Ok => Error is null;

    public static LogVerificationResult Success(string detail) => new(null, detail);

    public static LogVerificationResult Failure(string error, string detail) => new(error, detail);
}

/// <summary>
/// What a device, a party witness or kpu-verify checks on the client side, trusting nothing but the log's verifier
/// key it was given out of band: the checkpoint's signature and origin, then the RFC 9162 proof against the signed
/// root (§2.1.3.2 inclusion, §2.1.4.2 consistency).
/// </summary>
public static class LogVerification
{
    /// <summary>MTH({}) = SHA-256 of nothing (RFC 9162 §2.1.1).</summary>
    public static byte[] EmptyTreeRoot => SHA256.HashData(ReadOnlySpan<byte>.Empty);

    /// <summary>Parses a checkpoint note and verifies it: signed by <paramref name="key"/>, origin = the key's name.</summary>
    public static LogVerificationResult VerifyCheckpoint(string? note, NoteVerifierKey key, out SignedCheckpoint? checkpoint)
    {
        if (!SignedCheckpoint.TryParse(note, out checkpoint, out string? error))
            return LogVerificationResult.Failure(LogErrors.MalformedCheckpoint, error);
        return VerifyCheckpoint(checkpoint, key);
    }

    public static LogVerificationResult VerifyCheckpoint(SignedCheckpoint checkpoint, NoteVerifierKey key)
    {
        try
        {
            checkpoint.Parsed.Verify(key);
        }
        catch (NoteFormatException e)
        {
            return LogVerificationResult.Failure(LogErrors.BadCheckpointSignature, $"{e.Message} [{e.Code}]");
        }
        var c = checkpoint.Checkpoint;
        if (c.Origin != key.Name)
            return LogVerificationResult.Failure(LogErrors.WrongOrigin, $"The checkpoint is of log '{c.Origin}', the key is of '{key.Name}'.");
        if (c.Size == 0 && !c.RootHash.AsSpan().SequenceEqual(EmptyTreeRoot))
            return LogVerificationResult.Failure(LogErrors.BadProof, "A checkpoint of the empty tree whose root is not SHA-256 of nothing.");
        return LogVerificationResult.Success($"Checkpoint of {c.Origin} at size {c.Size} signed by {key.Name}+{key.KeyHash:x8}.");
    }

    /// <summary>Is <paramref name="entry"/> (type byte ‖ content) leaf <paramref name="index"/> of the signed tree?</summary>
    /// <param name="treeSize">The tree size the proof was served for, when the server said; must be the checkpoint's.</param>
    public static LogVerificationResult VerifyInclusion(ReadOnlySpan<byte> entry, long index, IReadOnlyList<byte[]> proof,
        SignedCheckpoint checkpoint, NoteVerifierKey key, long? treeSize = null) =>
        VerifyLeafHashInclusion(MerkleTree.LeafHash(entry), index, proof, checkpoint, key, treeSize);

    /// <summary>Is the leaf with hash <paramref name="leafHash"/> (SHA-256(0x00 ‖ entry)) at <paramref name="index"/> of the signed tree?</summary>
    public static LogVerificationResult VerifyLeafHashInclusion(ReadOnlySpan<byte> leafHash, long index, IReadOnlyList<byte[]> proof,
        SignedCheckpoint checkpoint, NoteVerifierKey key, long? treeSize = null)
    {
        var signature = VerifyCheckpoint(checkpoint, key);
        if (!signature.Ok) return signature;
        var c = checkpoint.Checkpoint;
        if (treeSize is { } served && served != c.Size)
            return LogVerificationResult.Failure(LogErrors.SizeMismatch, $"The proof is for a tree of {served} leaves, the checkpoint signs {c.Size}.");
        if (index < 0 || index >= c.Size)
            return LogVerificationResult.Failure(LogErrors.SizeMismatch, $"Leaf {index} is not in a tree of {c.Size} leaves.");
        if (leafHash.Length != Sha256Hash.Size)
            return LogVerificationResult.Failure(LogErrors.BadProof, $"A leaf hash is {Sha256Hash.Size} bytes, not {leafHash.Length}.");
        if (!MerkleProof.VerifyInclusion(index, c.Size, leafHash, proof, c.RootHash))
            return LogVerificationResult.Failure(LogErrors.BadProof,
                $"The {proof.Count}-hash proof does not lead from leaf {index} to the root of the tree of {c.Size} leaves.");
        return LogVerificationResult.Success($"Leaf {index} is in the tree of {c.Size} leaves signed by {c.Origin}.");
    }

    /// <summary>Is the tree of <paramref name="oldCheckpoint"/> a prefix of the tree of <paramref name="newCheckpoint"/>, both signed by the log?</summary>
    public static LogVerificationResult VerifyConsistency(SignedCheckpoint oldCheckpoint, SignedCheckpoint newCheckpoint,
        IReadOnlyList<byte[]> proof, NoteVerifierKey key)
    {
        var oldSignature = VerifyCheckpoint(oldCheckpoint, key);
        if (!oldSignature.Ok) return oldSignature with { Detail = $"Old checkpoint: {oldSignature.Detail}" };
        var newSignature = VerifyCheckpoint(newCheckpoint, key);
        if (!newSignature.Ok) return newSignature with { Detail = $"New checkpoint: {newSignature.Detail}" };
        Checkpoint o = oldCheckpoint.Checkpoint, n = newCheckpoint.Checkpoint;
        if (o.Size > n.Size)
            return LogVerificationResult.Failure(LogErrors.SizeMismatch, $"The old checkpoint ({o.Size} leaves) is larger than the new one ({n.Size}).");
        if (!MerkleProof.VerifyConsistency(o.Size, n.Size, o.RootHash, n.RootHash, proof))
            return LogVerificationResult.Failure(LogErrors.BadProof,
                o.Size == n.Size
                    ? $"Two checkpoints of {o.Size} leaves with different roots (or a non-empty proof): the log forked."
                    : $"The {proof.Count}-hash proof does not show the tree of {o.Size} leaves to be a prefix of the tree of {n.Size}.");
        return LogVerificationResult.Success($"The tree of {o.Size} leaves is a prefix of the tree of {n.Size} leaves.");
    }

    /// <summary>Is the log's <paramref name="entry"/> exactly the submission <paramref name="wire"/> (0x01 ‖ wire)?</summary>
    public static LogVerificationResult VerifySubmissionEntry(ReadOnlySpan<byte> entry, ReadOnlySpan<byte> wire)
    {
        if (entry.Length == 0 || entry[0] != (byte)LogEntryType.Submission)
            return LogVerificationResult.Failure(LogErrors.LeafMismatch, entry.Length == 0 ? "The log's entry is empty." : $"The log's entry is of type 0x{entry[0]:x2}, not a submission.");
        if (!entry[1..].SequenceEqual(wire))
            return LogVerificationResult.Failure(LogErrors.LeafMismatch,
                $"The log's entry ({entry.Length - 1} bytes, SHA-256 {Convert.ToHexStringLower(SHA256.HashData(entry[1..]))}) is not this submission ({wire.Length} bytes, SHA-256 {Convert.ToHexStringLower(SHA256.HashData(wire))}).");
        return LogVerificationResult.Success($"The log's entry is exactly this submission ({wire.Length} bytes).");
    }
}
