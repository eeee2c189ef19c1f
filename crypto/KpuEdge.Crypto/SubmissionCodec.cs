using System.Formats.Cbor;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;

namespace KpuEdge.Crypto;

/// <summary>Why bytes on the wire are not a submission this build can read.</summary>
public enum SubmissionFormatError
{
    Malformed,
    UnsupportedVersion,
    Oversized,
}

public sealed class SubmissionFormatException(SubmissionFormatError error, string message, Exception? inner = null)
    : Exception(message, inner)
{
    public SubmissionFormatError Error { get; } = error;

    /// <summary>The receipt's reason code for this refusal (<c>unsupported_version</c>, <c>oversized</c> or <c>malformed</c>).</summary>
    public string RejectReason => Error switch
    {
        SubmissionFormatError.UnsupportedVersion => Core.Protocol.RejectReasons.UnsupportedVersion,
        SubmissionFormatError.Oversized => Core.Protocol.RejectReasons.Oversized,
        _ => Core.Protocol.RejectReasons.Malformed,
    };
}

/// <summary>
/// The one canonical encoding of a signed C.Hasil submission (RFC 8949 deterministic CBOR, positional arrays).
/// <code>
/// wire      = [ body: bstr, signature: bstr(64) ]
/// body      = [ version=1, election_id, contest, tps, device_id, sequence, previous_hash, device_time_ms, image_hash, tally ]
/// tally     = [ dpt, pengguna_dpt, pengguna_dptb, pengguna_dpk, pengguna_total, disabilitas,   ; each [l, p, total]
///               [diterima, digunakan, rusak, sisa], [choice...], suara_sah, suara_tidak_sah, suara_total ]
/// choice    = [ number, total ] | [ number, total, party_votes, [candidate_votes...] ]   ; the latter for party contests
/// signature = Ed25519(device key, "KPU-C1\0" || body)
/// </code>
/// Decoding is strict: non-canonical encodings, trailing bytes and unknown versions are refused, so every
/// submission has exactly one byte string and one hash.
/// </summary>
public static class SubmissionCodec
{
    /// <summary>Largest wire size accepted; a full DPR form is under 1.5 KB.</summary>
    public const int MaxWireBytes = 16 * 1024;

    /// <summary>
    /// Highest sequence number a form may carry: 2^53 − 1, exact in every JSON reader and far beyond any device's
    /// life, so the number means the same in the ledger, the API and a browser, before and after any restart.
    /// </summary>
    public const ulong MaxSequence = (1UL << 53) - 1;

    private const int MaxTextLength = 64;
    /// <summary>Longest correction reason, in UTF-16 code units: a sentence, not an essay, on a thin link.</summary>
    public const int MaxReasonLength = 200;
    private static readonly byte[] Domain = "KPU-C1\0"u8.ToArray();

    public static byte[] EncodeBody(Submission s)
    {
        // Never sign what the decoder would refuse: a device must not produce an unreadable form.
        CheckText(s.ElectionId, "election id", allowEmpty: true);
        CheckText(s.DeviceId, "device id", allowEmpty: false);
        if (s.Sequence > MaxSequence)
            throw new ArgumentException($"A sequence number is at most {MaxSequence}.", nameof(s));
        if (s.CorrectionReason is { } reason && (reason.Trim().Length == 0 || reason.Length > MaxReasonLength))
            throw new ArgumentException($"A correction reason is 1..{MaxReasonLength} characters, not blank.", nameof(s));
        var w = new CborWriter(CborConformanceMode.Canonical);
        // Ten fields; an eleventh, the correction reason, only on a correction (absent rather than empty: one encoding).
        w.WriteStartArray(s.CorrectionReason is null ? 10 : 11);
        w.WriteInt32(Submission.FormatVersion);
        w.WriteTextString(s.ElectionId);
        w.WriteInt32((int)s.Contest);
        w.WriteTextString(s.Tps.Value);
        w.WriteTextString(s.DeviceId);
        w.WriteUInt64(s.Sequence);
        w.WriteByteString(s.PreviousHash.Bytes);
        w.WriteInt64(s.DeviceTime.ToUnixTimeMilliseconds());
        w.WriteByteString(s.ImageHash.Bytes);
        TallyCbor.Write(w, s.Tally);
        if (s.CorrectionReason is { } correction) w.WriteTextString(correction);
        w.WriteEndArray();
        return w.Encode();
    }

    /// <summary>The bytes the device signs: a domain tag, so a signature over a form can never be reused for anything else.</summary>
    public static byte[] SignedMessage(ReadOnlySpan<byte> body) => SignedWire.Tagged(Domain, body);

    public static byte[] EncodeWire(ReadOnlySpan<byte> body, ReadOnlySpan<byte> signature) => SignedWire.Encode(body, signature);

    /// <summary>Splits the wire bytes and decodes the body; the signature is not checked here.</summary>
    public static (Submission Submission, byte[] Body, byte[] Signature) DecodeWire(ReadOnlyMemory<byte> wire)
    {
        if (wire.Length > MaxWireBytes)
            throw new SubmissionFormatException(SubmissionFormatError.Oversized, $"Submission is {wire.Length} bytes; the limit is {MaxWireBytes}.");
        try
        {
            var (body, signature) = SignedWire.Split(wire, "submission", Malformed);
            return (DecodeBody(body), body, signature);
        }
        catch (CborContentException e)
        {
            throw new SubmissionFormatException(SubmissionFormatError.Malformed, $"Not a canonical CBOR submission: {e.Message}", e);
        }
        catch (InvalidOperationException e)
        {
            throw new SubmissionFormatException(SubmissionFormatError.Malformed, $"Not a submission: {e.Message}", e);
        }
        catch (OverflowException e)
        {
            throw new SubmissionFormatException(SubmissionFormatError.Malformed, $"A number is out of range: {e.Message}", e);
        }
    }

    private static Submission DecodeBody(byte[] body)
    {
        var r = new CborReader(body, CborConformanceMode.Canonical);
        int? length = r.ReadStartArray();
        if (length is null or 0) throw Malformed("body is not a definite array");
        int version = r.ReadInt32();
        if (version != Submission.FormatVersion)
            throw new SubmissionFormatException(SubmissionFormatError.UnsupportedVersion, $"Format version {version} is not supported (expected {Submission.FormatVersion}).");
        if (length is not (10 or 11)) throw Malformed($"body has {length} fields, expected 10 (11 with a correction reason)");
        string electionId = ReadText(r, "election id");
        int contestValue = r.ReadInt32();
        if (!Contests.IsDefined(contestValue)) throw Malformed($"unknown contest {contestValue}");
        var contest = (ContestId)contestValue;
        string tpsText = ReadText(r, "TPS code");
        if (!TpsCode.TryParse(tpsText, out var tps)) throw Malformed($"'{tpsText}' is not a TPS code");
        string deviceId = ReadText(r, "device id");
        if (deviceId.Length == 0) throw Malformed("empty device id");
        ulong sequence = r.ReadUInt64();
        if (sequence > MaxSequence) throw Malformed($"a sequence number is at most {MaxSequence}");
        var previous = ReadHash(r, "previous hash");
        long timeMs = r.ReadInt64();
        if (timeMs < DateTimeOffset.MinValue.ToUnixTimeMilliseconds() || timeMs > DateTimeOffset.MaxValue.ToUnixTimeMilliseconds())
            throw Malformed("device time out of range");
        var image = ReadHash(r, "image hash");
        var tally = TallyCbor.Read(r, contest, Malformed).ToTally(tps);
        string? correction = null;
        if (length == 11)
        {
            correction = r.ReadTextString();
            if (correction.Trim().Length == 0 || correction.Length > MaxReasonLength)
                throw Malformed($"a correction reason is 1..{MaxReasonLength} characters, not blank");
        }
        r.ReadEndArray();
        if (r.BytesRemaining != 0) throw Malformed("trailing bytes in the body");
        return new Submission
        {
            ElectionId = electionId,
            DeviceId = deviceId,
            Sequence = sequence,
            PreviousHash = previous,
            DeviceTime = DateTimeOffset.FromUnixTimeMilliseconds(timeMs),
            ImageHash = image,
            Tally = tally,
            CorrectionReason = correction,
        };
    }

    private static void CheckText(string text, string what, bool allowEmpty)
    {
        if (text.Length > MaxTextLength) throw new ArgumentException($"The {what} is longer than {MaxTextLength} characters.");
        if (!allowEmpty && text.Length == 0) throw new ArgumentException($"The {what} is empty.");
    }

    private static string ReadText(CborReader r, string what)
    {
        string text = r.ReadTextString();
        if (text.Length > MaxTextLength) throw Malformed($"{what} longer than {MaxTextLength} characters");
        return text;
    }

    private static Sha256Hash ReadHash(CborReader r, string what)
    {
        var bytes = r.ReadByteString();
        if (bytes.Length != 0 && bytes.Length != Sha256Hash.Size) throw Malformed($"{what} is {bytes.Length} bytes");
        return Sha256Hash.FromBytes(bytes);
    }

    private static SubmissionFormatException Malformed(string detail) =>
        new(SubmissionFormatError.Malformed, $"Malformed submission: {detail}.");

}
