using KpuEdge.Core.Protocol;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Transparency;

namespace KpuEdge.Edge.Transport;

/// <summary>
/// What a device checks before it believes a receipt: the checkpoint is signed by the log key from its configuration
/// bundle, and the inclusion proof leads from exactly the bytes it sent (0x01 ‖ wire for a form, 0x03 ‖ wire for a PPK
/// station's statement) to that checkpoint's root; a
/// rejection carries the cloud's statement signed by the same key, about exactly these bytes and this reason — and only
/// a reason that judges the form itself (<see cref="RejectReasons.IsFinal"/>) is ever believed.
/// A receipt that fails is ignored as if lost, so the form stays undelivered and is sent again.
/// </summary>
public static class ReceiptVerifier
{
    public static LogVerificationResult Verify(Receipt receipt, ReadOnlySpan<byte> wire, NoteVerifierKey logKey, LogEntryType entry = LogEntryType.Submission)
    {
        if (receipt.Status == ReceiptStatus.Rejected)
        {
            // Who sent a form, or where, says nothing about the form: such a refusal is never final, whoever signed it.
            if (!RejectReasons.IsFinal(receipt.Reason))
                return LogVerificationResult.Failure(LogErrors.BadRejection, $"A refusal for '{receipt.Reason}' is not a verdict on the form; it stays and is sent again.");
            return RejectionStatement.Verify(receipt.Rejection, logKey, Sha256Hash.Of(wire), receipt.Reason);
        }
        if (receipt.LogIndex is not { } index || receipt.Checkpoint is null || receipt.InclusionProof is null)
            return LogVerificationResult.Failure(LogErrors.BadProof, "The receipt carries no log index, checkpoint or inclusion proof.");
        var checkpointCheck = LogVerification.VerifyCheckpoint(receipt.Checkpoint, logKey, out var checkpoint);
        if (!checkpointCheck.Ok) return checkpointCheck;
        var proof = new List<byte[]>(receipt.InclusionProof.Count);
        foreach (var hash in receipt.InclusionProof)
        {
            try { proof.Add(Convert.FromBase64String(hash)); }
            catch (FormatException) { return LogVerificationResult.Failure(LogErrors.BadProof, "A proof hash is not base64."); }
        }
        var leaf = entry == LogEntryType.PpkStatement ? LogEntry.EncodeStatement(wire) : LogEntry.EncodeSubmission(wire);
        return LogVerification.VerifyInclusion(leaf, index, proof, checkpoint!, logKey);
    }
}
