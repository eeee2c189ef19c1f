using KpuEdge.Core.Elections;

namespace KpuEdge.Crypto.Tests;

public class SignedSubmissionTests
{
    [Theory]
    [InlineData(ContestId.Ppwp)]
    [InlineData(ContestId.Dpr)]
    [InlineData(ContestId.Dpd)]
    [InlineData(ContestId.DprdProvinsi)]
    [InlineData(ContestId.DprdKabKota)]
    public void Decodes_what_it_signed_for_every_contest(ContestId contest)
    {
        var signed = Samples.Signed(contest);

        var decoded = SignedSubmission.Decode(signed.Wire);

        var (original, copy) = (signed.Submission, decoded.Submission);
        Assert.Equal(original.ElectionId, copy.ElectionId);
        Assert.Equal(original.DeviceId, copy.DeviceId);
        Assert.Equal(original.Sequence, copy.Sequence);
        Assert.Equal(original.PreviousHash, copy.PreviousHash);
        Assert.Equal(original.DeviceTime, copy.DeviceTime);
        Assert.Equal(original.ImageHash, copy.ImageHash);
        Assert.Equal(contest, copy.Contest);
        Assert.Equal(Samples.Tps, copy.Tps);
        Assert.Equal(original.Tally.ToJson(), copy.Tally.ToJson());

        Assert.Equal(signed.Body, decoded.Body);
        Assert.Equal(signed.Signature, decoded.Signature);
        Assert.Equal(signed.Wire, decoded.Wire);
        Assert.Equal(signed.Hash, decoded.Hash);
        Assert.Equal(signed.Body, SubmissionCodec.EncodeBody(copy));
        Assert.Equal(signed.Wire, SubmissionCodec.EncodeWire(decoded.Body, decoded.Signature));
        Assert.True(decoded.VerifySignature(Samples.Key.PublicKey));
        Assert.True(signed.VerifySignature(Samples.Key.PublicKey));
    }

    [Fact]
    public void Decodes_the_first_submission_of_a_device_with_empty_hashes()
    {
        var signed = SignedSubmission.Sign(Samples.Submission(Samples.Tally(ContestId.Ppwp), sequence: 1, firstOfDevice: true), Samples.Key);

        var decoded = SignedSubmission.Decode(signed.Wire);

        Assert.True(decoded.Submission.PreviousHash.IsEmpty);
        Assert.True(decoded.Submission.ImageHash.IsEmpty);
        Assert.Equal(1UL, decoded.Submission.Sequence);
        Assert.True(decoded.VerifySignature(Samples.Key.PublicKey));
    }

    [Fact]
    public void Keeps_the_device_time_to_the_millisecond()
    {
        var time = new DateTimeOffset(2024, 2, 14, 23, 59, 59, 999, TimeSpan.FromHours(9)).AddTicks(1234);
        var submission = Samples.Submission(Samples.Tally(ContestId.Ppwp)) with { DeviceTime = time };

        var decoded = SignedSubmission.Decode(SignedSubmission.Sign(submission, Samples.Key).Wire);

        Assert.Equal(time.ToUnixTimeMilliseconds(), decoded.Submission.DeviceTime.ToUnixTimeMilliseconds());
        Assert.Equal(new DateTimeOffset(2024, 2, 14, 14, 59, 59, 999, TimeSpan.Zero), decoded.Submission.DeviceTime);
    }

    [Fact]
    public void Signing_the_same_submission_twice_gives_the_same_bytes_and_hash()
    {
        var submission = Samples.Submission(Samples.Tally(ContestId.Dpr));

        var a = SignedSubmission.Sign(submission, Samples.Key);
        var b = SignedSubmission.Sign(submission, DeviceKey.Deterministic(Samples.DeviceId, 1));

        Assert.Equal(a.Wire, b.Wire);
        Assert.Equal(a.Signature, b.Signature);
        Assert.Equal(a.Hash, b.Hash);
        Assert.Equal(Sha256Hash.Of(a.Wire), a.Hash);
    }

    [Fact]
    public void Submissions_that_differ_in_one_field_have_different_hashes()
    {
        var submission = Samples.Submission(Samples.Tally(ContestId.Ppwp));
        var hashes = new[]
        {
            submission,
            submission with { Sequence = submission.Sequence + 1 },
            submission with { DeviceId = "dev-3273011001003-b" },
            submission with { DeviceTime = submission.DeviceTime.AddMilliseconds(1) },
            submission with { ImageHash = Sha256Hash.Of("another image"u8) },
            submission with { Tally = submission.Tally with { SuaraTidakSah = submission.Tally.SuaraTidakSah + 1 } },
        }.Select(s => SignedSubmission.Sign(s, Samples.Key).Hash);

        Assert.Equal(6, hashes.Distinct().Count());
    }

    [Theory]
    [InlineData(ContestId.Ppwp)]
    [InlineData(ContestId.Dpr)]
    public void No_single_flipped_bit_of_the_wire_ever_verifies(ContestId contest)
    {
        var signed = Samples.Signed(contest);
        var key = Samples.Key.PublicKey;
        int refusedAsMalformed = 0, refusedBySignature = 0;

        for (int position = 0; position < signed.Wire.Length; position++)
        for (int bit = 0; bit < 8; bit++)
        {
            var wire = (byte[])signed.Wire.Clone();
            wire[position] ^= (byte)(1 << bit);
            SignedSubmission decoded;
            try
            {
                decoded = SignedSubmission.Decode(wire);
            }
            catch (SubmissionFormatException)
            {
                refusedAsMalformed++;
                continue;
            }
            Assert.False(decoded.VerifySignature(key), $"Flipping bit {bit} of byte {position} still verifies.");
            Assert.NotEqual(signed.Hash, decoded.Hash);
            refusedBySignature++;
        }

        Assert.Equal(signed.Wire.Length * 8, refusedAsMalformed + refusedBySignature);
        Assert.True(refusedBySignature >= 64 * 8, "Every bit of the signature decodes and must fail verification.");
        Assert.True(refusedAsMalformed > 0);
    }

    [Fact]
    public void A_signature_never_verifies_under_another_device_key()
    {
        var signed = Samples.Signed(ContestId.Ppwp);
        var decoded = SignedSubmission.Decode(signed.Wire);

        for (int seed = 0; seed < 20; seed++)
        {
            var other = DeviceKey.Deterministic($"dev-other-{seed}", seed);
            Assert.False(decoded.VerifySignature(other.PublicKey));
            Assert.False(signed.VerifySignature(other.PublicKey));
        }
        Assert.False(decoded.VerifySignature(DeviceKey.Deterministic(Samples.DeviceId, 2).PublicKey));
    }

    [Fact]
    public void A_submission_signed_by_another_key_does_not_verify_under_the_registered_key()
    {
        var forged = SignedSubmission.Sign(Samples.Submission(Samples.Tally(ContestId.Ppwp)), DeviceKey.Deterministic("attacker", 666));

        var decoded = SignedSubmission.Decode(forged.Wire);

        Assert.False(decoded.VerifySignature(Samples.Key.PublicKey));
        Assert.True(decoded.VerifySignature(DeviceKey.Deterministic("attacker", 666).PublicKey));
    }

    [Fact]
    public void A_signature_moved_onto_another_body_does_not_verify()
    {
        var a = Samples.Signed(ContestId.Ppwp);
        var b = Samples.Signed(ContestId.Dpd);

        var spliced = SignedSubmission.Decode(SubmissionCodec.EncodeWire(b.Body, a.Signature));

        Assert.False(spliced.VerifySignature(Samples.Key.PublicKey));
    }

    [Fact]
    public void The_signature_covers_a_domain_tag_not_the_bare_body()
    {
        var signed = Samples.Signed(ContestId.Ppwp);
        var key = Samples.Key.PublicKey;

        Assert.False(key.Verify(signed.Body, 0, signed.Body.Length, signed.Signature));
        var message = SubmissionCodec.SignedMessage(signed.Body);
        Assert.True(key.Verify(message, 0, message.Length, signed.Signature));
        Assert.Equal("KPU-C1\0"u8.ToArray(), message[..7]);
    }

    [Fact]
    public void A_wire_with_a_short_signature_decodes_but_never_verifies()
    {
        var signed = Samples.Signed(ContestId.Ppwp);

        var decoded = SignedSubmission.Decode(SubmissionCodec.EncodeWire(signed.Body, signed.Signature.AsSpan(0, 63)));

        Assert.False(decoded.VerifySignature(Samples.Key.PublicKey));
    }
}
