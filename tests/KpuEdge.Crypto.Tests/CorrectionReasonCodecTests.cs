using System.Formats.Cbor;
using KpuEdge.Core.Elections;

namespace KpuEdge.Crypto.Tests;

/// <summary>The optional eleventh field of a signed form: the reason a correction replaces an earlier version.</summary>
public class CorrectionReasonCodecTests
{
    private static Submission Correction(string? reason) =>
        Samples.Submission(Samples.Tally(ContestId.Ppwp)) with { CorrectionReason = reason };

    [Fact]
    public void A_correction_reason_is_signed_and_decoded_back()
    {
        var signed = SignedSubmission.Sign(Correction("Salah tulis jumlah suara pasangan 2 (58, bukan 948)"), Samples.Key);
        var decoded = SignedSubmission.Decode(signed.Wire);
        Assert.Equal("Salah tulis jumlah suara pasangan 2 (58, bukan 948)", decoded.Submission.CorrectionReason);
        Assert.True(decoded.VerifySignature(Samples.Key.PublicKey));
    }

    [Fact]
    public void A_form_without_a_reason_keeps_its_ten_fields_and_its_bytes()
    {
        var plain = SignedSubmission.Sign(Correction(null), Samples.Key);
        var reader = new CborReader(SubmissionCodec.EncodeBody(plain.Submission), CborConformanceMode.Canonical);
        Assert.Equal(10, reader.ReadStartArray());
        Assert.Null(SignedSubmission.Decode(plain.Wire).Submission.CorrectionReason);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void Refuses_to_sign_a_blank_reason(string reason) =>
        Assert.Throws<ArgumentException>(() => SubmissionCodec.EncodeBody(Correction(reason)));

    [Fact]
    public void Refuses_to_sign_an_overlong_reason() =>
        Assert.Throws<ArgumentException>(() => SubmissionCodec.EncodeBody(Correction(new string('x', SubmissionCodec.MaxReasonLength + 1))));

    [Fact]
    public void Refuses_to_decode_a_form_whose_eleventh_field_is_empty()
    {
        // Built by hand: a signer that skipped the checks. Absent, not empty, is the one encoding of "no reason".
        var body = SubmissionCodec.EncodeBody(Correction("x"));
        var tampered = body.ToArray();
        int at = Array.LastIndexOf(tampered, (byte)0x61); // text string of length 1
        tampered[at] = 0x60;
        var trimmed = tampered.Take(at + 1).ToArray();
        var wire = SubmissionCodec.EncodeWire(trimmed, Samples.Key.Sign(SubmissionCodec.SignedMessage(trimmed)));
        var e = Assert.Throws<SubmissionFormatException>(() => SignedSubmission.Decode(wire));
        Assert.Equal(SubmissionFormatError.Malformed, e.Error);
    }
}
