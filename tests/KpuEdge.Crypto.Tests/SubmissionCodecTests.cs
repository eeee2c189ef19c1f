using System.Formats.Cbor;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;

namespace KpuEdge.Crypto.Tests;

public class SubmissionCodecTests
{
    private static SubmissionFormatException Refused(byte[] wire, SubmissionFormatError error)
    {
        var e = Assert.Throws<SubmissionFormatException>(() => SignedSubmission.Decode(wire));
        Assert.Equal(error, e.Error);
        Assert.False(string.IsNullOrWhiteSpace(e.Message));
        return e;
    }

    private static byte[] Resign(byte[] body) => SubmissionCodec.EncodeWire(body, Samples.Key.Sign(SubmissionCodec.SignedMessage(body)));

    // --- malformed input ------------------------------------------------------------------------

    [Fact]
    public void Refuses_empty_input()
    {
        Refused([], SubmissionFormatError.Malformed);
    }

    [Fact]
    public void Refuses_random_bytes()
    {
        var random = new Random(20240214);
        for (int i = 0; i < 2000; i++)
        {
            var bytes = new byte[random.Next(1, 600)];
            random.NextBytes(bytes);
            Assert.Throws<SubmissionFormatException>(() => SignedSubmission.Decode(bytes));
        }
    }

    [Fact]
    public void Refuses_random_bodies_in_a_well_formed_wire()
    {
        var random = new Random(14022024);
        for (int i = 0; i < 2000; i++)
        {
            var body = new byte[random.Next(0, 400)];
            random.NextBytes(body);
            if (body.Length > 0) body[0] = (byte)(0x80 | random.Next(0, 24)); // start with a definite array header
            Assert.Throws<SubmissionFormatException>(() => SignedSubmission.Decode(SubmissionCodec.EncodeWire(body, new byte[64])));
        }
    }

    [Theory]
    [InlineData(ContestId.Ppwp)]
    [InlineData(ContestId.Dpr)]
    public void Random_corruptions_of_a_body_are_refused_or_fail_verification(ContestId contest)
    {
        var signed = Samples.Signed(contest);
        var random = new Random(7 + (int)contest);
        for (int i = 0; i < 3000; i++)
        {
            var body = (byte[])signed.Body.Clone();
            for (int n = random.Next(1, 4); n > 0; n--) body[random.Next(body.Length)] = (byte)random.Next(256);
            if (body.AsSpan().SequenceEqual(signed.Body)) continue;
            try
            {
                var decoded = SignedSubmission.Decode(SubmissionCodec.EncodeWire(body, signed.Signature));
                Assert.False(decoded.VerifySignature(Samples.Key.PublicKey));
            }
            catch (SubmissionFormatException)
            {
                // refused: fine
            }
        }
    }

    [Theory]
    [InlineData(ContestId.Ppwp)]
    [InlineData(ContestId.Dpr)]
    public void Refuses_a_wire_truncated_at_any_length(ContestId contest)
    {
        var wire = Samples.Signed(contest).Wire;
        for (int length = 0; length < wire.Length; length++)
        {
            Refused(wire[..length], SubmissionFormatError.Malformed);
        }
    }

    [Fact]
    public void Refuses_a_trailing_byte_after_the_wire()
    {
        var wire = Samples.Signed(ContestId.Ppwp).Wire;
        Refused([.. wire, 0x00], SubmissionFormatError.Malformed);
        Refused([.. wire, 0xF6], SubmissionFormatError.Malformed);
        Refused([.. wire, .. wire], SubmissionFormatError.Malformed);
    }

    [Fact]
    public void Refuses_a_trailing_byte_after_the_body()
    {
        var body = Samples.Signed(ContestId.Ppwp).Body;
        Refused(Resign([.. body, 0x00]), SubmissionFormatError.Malformed);
    }

    [Fact]
    public void Refuses_an_integer_encoded_longer_than_needed()
    {
        var body = Samples.Signed(ContestId.Ppwp).Body;
        Assert.Equal(0x8A, body[0]); // array of 10
        Assert.Equal(0x01, body[1]); // version 1 in its shortest form
        byte[] longVersion = [0x8A, 0x18, 0x01, .. body[2..]]; // version 1 as a one-byte-argument integer

        Refused(Resign(longVersion), SubmissionFormatError.Malformed);
    }

    [Fact]
    public void Refuses_a_byte_string_length_encoded_longer_than_needed()
    {
        var signed = Samples.Signed(ContestId.Ppwp);
        Assert.InRange(signed.Body.Length, 24, 255);
        byte[] wire =
        [
            0x82,
            0x59, 0x00, (byte)signed.Body.Length, .. signed.Body, // body length as a 2-byte argument
            0x58, 0x40, .. signed.Signature,
        ];
        Refused(wire, SubmissionFormatError.Malformed);

        // The same bytes with the shortest length form are the canonical wire.
        byte[] canonical = [0x82, 0x58, (byte)signed.Body.Length, .. signed.Body, 0x58, 0x40, .. signed.Signature];
        Assert.Equal(signed.Wire, canonical);
    }

    [Fact]
    public void Refuses_an_indefinite_length_array()
    {
        var signed = Samples.Signed(ContestId.Ppwp);
        byte[] wire = [0x9F, .. signed.Wire[1..], 0xFF];
        Refused(wire, SubmissionFormatError.Malformed);
    }

    [Fact]
    public void Refuses_a_wire_that_is_not_a_pair()
    {
        var signed = Samples.Signed(ContestId.Ppwp);
        var w = new CborWriter(CborConformanceMode.Canonical);
        w.WriteStartArray(3);
        w.WriteByteString(signed.Body);
        w.WriteByteString(signed.Signature);
        w.WriteByteString(signed.Signature);
        w.WriteEndArray();
        Refused(w.Encode(), SubmissionFormatError.Malformed);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(0)]
    [InlineData(100)]
    public void Refuses_an_unknown_format_version(int version)
    {
        var body = Samples.Signed(ContestId.Ppwp).Body;
        var reader = new CborReader(body, CborConformanceMode.Canonical);
        var writer = new CborWriter(CborConformanceMode.Canonical);
        int fields = reader.ReadStartArray()!.Value;
        writer.WriteStartArray(fields);
        reader.ReadInt32();
        writer.WriteInt32(version);
        for (int i = 1; i < fields; i++) writer.WriteEncodedValue(reader.ReadEncodedValue().Span);
        reader.ReadEndArray();
        writer.WriteEndArray();

        var e = Refused(Resign(writer.Encode()), SubmissionFormatError.UnsupportedVersion);
        Assert.Contains(version.ToString(), e.Message);
    }

    [Fact]
    public void Refuses_a_future_version_even_with_a_different_layout()
    {
        var writer = new CborWriter(CborConformanceMode.Canonical);
        writer.WriteStartArray(1);
        writer.WriteInt32(2);
        writer.WriteEndArray();
        Refused(Resign(writer.Encode()), SubmissionFormatError.UnsupportedVersion);
    }

    [Fact]
    public void Refuses_an_oversized_wire_before_reading_it()
    {
        Refused(new byte[SubmissionCodec.MaxWireBytes + 1], SubmissionFormatError.Oversized);

        var signed = Samples.Signed(ContestId.Ppwp);
        byte[] padded = SubmissionCodec.EncodeWire(signed.Body, new byte[SubmissionCodec.MaxWireBytes]);
        Refused(padded, SubmissionFormatError.Oversized);
    }

    [Fact]
    public void A_wire_of_exactly_the_limit_is_read_not_refused_as_oversized()
    {
        Refused(new byte[SubmissionCodec.MaxWireBytes], SubmissionFormatError.Malformed);
    }

    [Fact]
    public void Refuses_an_unknown_contest_or_a_malformed_TPS_code_in_the_body()
    {
        var body = Samples.Signed(ContestId.Ppwp).Body;
        Refused(Resign(ReplaceField(body, 2, w => w.WriteInt32(6))), SubmissionFormatError.Malformed);
        Refused(Resign(ReplaceField(body, 2, w => w.WriteInt32(0))), SubmissionFormatError.Malformed);
        Refused(Resign(ReplaceField(body, 3, w => w.WriteTextString("3273011001000"))), SubmissionFormatError.Malformed);
        Refused(Resign(ReplaceField(body, 3, w => w.WriteTextString("3273011001"))), SubmissionFormatError.Malformed);
        Refused(Resign(ReplaceField(body, 4, w => w.WriteTextString(""))), SubmissionFormatError.Malformed);
        Refused(Resign(ReplaceField(body, 6, w => w.WriteByteString(new byte[31]))), SubmissionFormatError.Malformed);
        Refused(Resign(ReplaceField(body, 5, w => w.WriteInt32(-1))), SubmissionFormatError.Malformed);
    }

    [Fact]
    public void Refuses_choices_shaped_for_another_contest()
    {
        // Party choices are [number, total, party, [candidates]]; PPWP choices are [number, total].
        var dprBody = Samples.Signed(ContestId.Dpr).Body;
        Refused(Resign(ReplaceField(dprBody, 2, w => w.WriteInt32((int)ContestId.Ppwp))), SubmissionFormatError.Malformed);
        var ppwpBody = Samples.Signed(ContestId.Ppwp).Body;
        Refused(Resign(ReplaceField(ppwpBody, 2, w => w.WriteInt32((int)ContestId.Dpr))), SubmissionFormatError.Malformed);
    }

    /// <summary>Re-encodes a body with one top-level field replaced.</summary>
    private static byte[] ReplaceField(byte[] body, int index, Action<CborWriter> write)
    {
        var reader = new CborReader(body, CborConformanceMode.Canonical);
        var writer = new CborWriter(CborConformanceMode.Canonical);
        int fields = reader.ReadStartArray()!.Value;
        writer.WriteStartArray(fields);
        for (int i = 0; i < fields; i++)
        {
            var value = reader.ReadEncodedValue();
            if (i == index) write(writer);
            else writer.WriteEncodedValue(value.Span);
        }
        reader.ReadEndArray();
        writer.WriteEndArray();
        return writer.Encode();
    }

    // --- sizes ----------------------------------------------------------------------------------

    [Fact]
    public void A_PPWP_submission_fits_in_one_kilobyte()
    {
        Assert.InRange(Samples.Signed(ContestId.Ppwp).Wire.Length, 1, 1024);
    }

    [Fact]
    public void The_five_forms_of_one_TPS_fit_in_five_kilobytes()
    {
        var wires = Samples.Tallies(Samples.Tps).Select(t => SignedSubmission.Sign(Samples.Submission(t), Samples.Key).Wire).ToList();
        Assert.Equal(5, wires.Count);
        Assert.InRange(wires.Sum(w => w.Length), 1, 5 * 1024);
    }

    [Fact]
    public void Forms_of_TPS_across_the_country_stay_small()
    {
        foreach (var prov in Samples.Tree.Nasional.Children)
        {
            var tps = Samples.Tree.TpsIn(prov).First();
            foreach (int seed in new[] { 1, 2 })
            {
                var tallies = Samples.Tallies(tps, seed);
                var wires = tallies.Select(t => SignedSubmission.Sign(Samples.Submission(t), Samples.Key).Wire).ToList();
                Assert.All(wires.Zip(tallies), x => Assert.True(x.Second.Contest != ContestId.Ppwp || x.First.Length <= 1024));
                Assert.InRange(wires.Sum(w => w.Length), 1, 5 * 1024);
            }
        }
    }

    [Fact]
    public void A_DPR_form_with_every_number_at_999_stays_under_one_and_a_half_kilobytes()
    {
        var tally = Samples.Tally(ContestId.Dpr);
        var full = GenderCount.Of(999, 999) with { Total = 999 };
        var worst = tally with
        {
            Dpt = full, PenggunaDpt = full, PenggunaDptb = full, PenggunaDpk = full, PenggunaTotal = full, Disabilitas = full,
            Surat = new BallotPapers(999, 999, 999, 999),
            Suara = tally.Suara.Select(c => new ChoiceVotes(c.Number, 999, 999, Enumerable.Repeat(999, c.CandidateVotes.Length).ToArray())).ToArray(),
            SuaraSah = 999, SuaraTidakSah = 999, SuaraTotal = 999,
        };
        var submission = Samples.Submission(worst) with { Sequence = SubmissionCodec.MaxSequence, DeviceId = new string('d', 64), ElectionId = new string('e', 64) };

        var signed = SignedSubmission.Sign(submission, Samples.Key);

        Assert.InRange(signed.Wire.Length, 1, 1536);
        Assert.Equal(signed.Wire, SignedSubmission.Decode(signed.Wire).Wire);
    }

    [Theory]
    [InlineData(1UL << 53)]
    [InlineData(ulong.MaxValue)]
    public void A_sequence_number_beyond_2_to_the_53_minus_1_is_neither_encoded_nor_decoded(ulong sequence)
    {
        Assert.Throws<ArgumentException>(() => SignedSubmission.Sign(Samples.Submission(Samples.Tally(ContestId.Ppwp)) with { Sequence = sequence }, Samples.Key));
        // The same bytes with the top sequence patched to the forbidden one: refused as malformed, before any signature check.
        var top = SignedSubmission.Sign(Samples.Submission(Samples.Tally(ContestId.Ppwp)) with { Sequence = SubmissionCodec.MaxSequence }, Samples.Key);
        byte[] body = top.Body.ToArray();
        int at = body.AsSpan().IndexOf((ReadOnlySpan<byte>)[0x1B, 0x00, 0x1F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        BitConverter.GetBytes(sequence).Reverse().ToArray().CopyTo(body, at + 1);
        var error = Assert.Throws<SubmissionFormatException>(() => SignedSubmission.Decode(SubmissionCodec.EncodeWire(body, top.Signature)));
        Assert.Equal(RejectReasons.Malformed, error.RejectReason);
    }

    [Fact]
    public void Refuses_to_encode_party_votes_on_a_PPWP_choice()
    {
        var tally = Samples.Tally(ContestId.Ppwp);
        var broken = tally with { Suara = [tally.Suara[0] with { PartyVotes = 1 }, .. tally.Suara.Skip(1)] };
        Assert.Throws<ArgumentException>(() => SubmissionCodec.EncodeBody(Samples.Submission(broken)));
    }

    [Fact]
    public void Submission_exposes_the_contest_and_TPS_of_its_tally()
    {
        var submission = Samples.Submission(Samples.Tally(ContestId.Dpd));
        Assert.Equal(ContestId.Dpd, submission.Contest);
        Assert.Equal(TpsCode.Parse("3273011001003"), submission.Tps);
    }

    [Fact]
    public void Every_submission_it_signs_can_be_decoded()
    {
        foreach (var submission in new[]
                 {
                     Samples.Submission(Samples.Tally(ContestId.Ppwp)) with { DeviceId = new string('d', 65) },
                     Samples.Submission(Samples.Tally(ContestId.Ppwp)) with { DeviceId = "" },
                     Samples.Submission(Samples.Tally(ContestId.Ppwp)) with { ElectionId = new string('e', 65) },
                 })
        {
            SignedSubmission signed;
            try
            {
                signed = SignedSubmission.Sign(submission, Samples.Key);
            }
            catch (ArgumentException)
            {
                continue; // refusing to sign is fine
            }
            Assert.Equal(submission.DeviceId, SignedSubmission.Decode(signed.Wire).Submission.DeviceId);
        }
    }
}
