namespace KpuEdge.Crypto;

/// <summary>
/// A submission with its device signature, exactly as it travels: <see cref="Wire"/> is canonical, so
/// <see cref="Hash"/> (SHA-256 of the wire bytes) names it everywhere — receipts, ledger, public API.
/// </summary>
public sealed class SignedSubmission
{
    private readonly byte[] _signedMessage;

    private SignedSubmission(Submission submission, byte[] body, byte[] signature, byte[] wire)
    {
        Submission = submission;
        Body = body;
        Signature = signature;
        Wire = wire;
        Hash = Sha256Hash.Of(wire);
        _signedMessage = SubmissionCodec.SignedMessage(body);
    }

    public Submission Submission { get; }
    public byte[] Body { get; }
    public byte[] Signature { get; }
    public byte[] Wire { get; }
    public Sha256Hash Hash { get; }

    public static SignedSubmission Sign(Submission submission, DeviceKey key)
    {
        var body = SubmissionCodec.EncodeBody(submission);
        var signature = key.Sign(SubmissionCodec.SignedMessage(body));
        return new SignedSubmission(submission, body, signature, SubmissionCodec.EncodeWire(body, signature));
    }

    /// <summary>Decodes wire bytes (strictly); throws <see cref="SubmissionFormatException"/> with the reason.</summary>
    public static SignedSubmission Decode(ReadOnlyMemory<byte> wire)
    {
        var (submission, body, signature) = SubmissionCodec.DecodeWire(wire);
        return new SignedSubmission(submission, body, signature, wire.ToArray());
    }

    public bool VerifySignature(DevicePublicKey key) => key.Verify(_signedMessage, 0, _signedMessage.Length, Signature);
}
