using System.Formats.Cbor;
using KpuEdge.Core.Elections;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Transparency;

namespace KpuEdge.Crypto.Tests.Transparency;

public sealed class LogEntryTests
{
    private static readonly LoggedRevocation Revocation =
        new("dev-3273011001003-a", "00:1F:2E:3D", DateTimeOffset.FromUnixTimeMilliseconds(1707900000123), RevocationReason.Superseded);

    [Fact]
    public void A_submission_entry_is_0x01_and_the_exact_wire_bytes()
    {
        var signed = Samples.Signed(ContestId.Dpr);
        var entry = LogEntry.For(signed);

        Assert.Equal(LogEntryType.Submission, entry.Type);
        Assert.Equal([0x01, .. signed.Wire], entry.Bytes);
        Assert.Equal(entry.Bytes, LogEntry.EncodeSubmission(signed.Wire));
        Assert.Equal(MerkleTree.LeafHash(entry.Bytes), entry.LeafHash());

        var decoded = LogEntry.Decode(entry.Bytes);
        Assert.Equal(signed.Hash, decoded.Submission!.Hash);
        Assert.Null(decoded.Revocation);
        Assert.True(decoded.Submission.VerifySignature(Samples.Key.PublicKey));
    }

    [Fact]
    public void A_revocation_entry_round_trips_with_a_normalised_serial()
    {
        var entry = LogEntry.For(Revocation);

        Assert.Equal(LogEntryType.Revocation, entry.Type);
        Assert.Equal("1f2e3d", Revocation.CertificateSerialHex);
        var decoded = LogEntry.Decode(entry.Bytes).Revocation!;
        Assert.Equal(Revocation.DeviceId, decoded.DeviceId);
        Assert.Equal("1f2e3d", decoded.CertificateSerialHex);
        Assert.Equal(Revocation.RevokedAt, decoded.RevokedAt);
        Assert.Equal(RevocationReason.Superseded, decoded.Reason);
        Assert.Equal(entry.Bytes, LogEntry.EncodeRevocation(decoded));
    }

    [Theory]
    [InlineData(RevocationReason.Unspecified, "unspecified")]
    [InlineData(RevocationReason.KeyCompromise, "key_compromise")]
    [InlineData(RevocationReason.Superseded, "superseded")]
    [InlineData(RevocationReason.CessationOfOperation, "cessation_of_operation")]
    public void Writes_each_reason_as_its_text(RevocationReason reason, string text)
    {
        Assert.Equal(text, reason.ToLogText());
        var entry = LogEntry.For(new LoggedRevocation("dev-1", "1", DateTimeOffset.UnixEpoch, reason));
        Assert.Equal(reason, LogEntry.Decode(entry.Bytes).Revocation!.Reason);
    }

    private static byte[] RevocationEntry(Action<CborWriter> write, bool canonical = true)
    {
        var w = new CborWriter(canonical ? CborConformanceMode.Canonical : CborConformanceMode.Lax);
        write(w);
        return [0x02, .. w.Encode()];
    }

    private static void Fields(CborWriter w, int version = 1, string device = "dev-1", string serial = "1f", ulong at = 1707900000000, string reason = "superseded", int count = 5)
    {
        w.WriteStartArray(count);
        w.WriteInt32(version);
        w.WriteTextString(device);
        w.WriteTextString(serial);
        w.WriteUInt64(at);
        w.WriteTextString(reason);
        w.WriteEndArray();
    }

    public static TheoryData<string, byte[]> BadEntries()
    {
        var wire = Samples.Signed(ContestId.Ppwp).Wire;
        var good = RevocationEntry(w => Fields(w));
        return new TheoryData<string, byte[]>
        {
            { "empty", [] },
            { "unknown type", [0x03, .. wire] },
            { "type 0", [0x00, .. wire] },
            { "submission truncated", [0x01, .. wire[..^1]] },
            { "submission with trailing byte", [0x01, .. wire, 0x00] },
            { "submission type, revocation content", [0x01, .. good[1..]] },
            { "revocation type, submission content", [0x02, .. wire] },
            { "revocation with trailing byte", [.. good, 0x00] },
            { "revocation version 2", RevocationEntry(w => Fields(w, version: 2)) },
            { "revocation of 4 fields", RevocationEntry(w => { w.WriteStartArray(4); w.WriteInt32(1); w.WriteTextString("d"); w.WriteTextString("1f"); w.WriteUInt64(1); w.WriteEndArray(); }) },
            { "unknown reason", RevocationEntry(w => Fields(w, reason: "keyCompromise")) },
            { "upper-case serial", RevocationEntry(w => Fields(w, serial: "1F")) },
            { "serial with leading zero", RevocationEntry(w => Fields(w, serial: "01f")) },
            { "serial with colon", RevocationEntry(w => Fields(w, serial: "1f:2e")) },
            { "empty serial", RevocationEntry(w => Fields(w, serial: "")) },
            { "empty device id", RevocationEntry(w => Fields(w, device: "")) },
            { "device id of 65 characters", RevocationEntry(w => Fields(w, device: new string('d', 65))) },
            // 1 written in two bytes (0x18 0x01): a second spelling of the same revocation.
            { "non-canonical integer", [0x02, 0x85, 0x18, 0x01, 0x65, .. "dev-1"u8, 0x62, .. "1f"u8, 0x01, 0x6a, .. "superseded"u8] },
            { "indefinite array", [0x02, 0x9f, 0x01, 0x65, .. "dev-1"u8, 0x62, .. "1f"u8, 0x01, 0x6a, .. "superseded"u8, 0xff] },
        };
    }

    [Theory]
    [MemberData(nameof(BadEntries))]
    public void Refuses_entries_that_are_not_in_the_logs_encoding(string what, byte[] entry)
    {
        Assert.Throws<LogEntryFormatException>(() => LogEntry.Decode(entry));
        Assert.False(LogEntry.TryDecode(entry, out _, out string? error), what);
        Assert.NotEmpty(error);
    }

    [Fact]
    public void Cannot_hold_an_invalid_revocation()
    {
        Assert.Throws<ArgumentException>(() => new LoggedRevocation("", "1f", DateTimeOffset.UnixEpoch, RevocationReason.Unspecified));
        Assert.Throws<ArgumentException>(() => new LoggedRevocation("dev-1", "xyz", DateTimeOffset.UnixEpoch, RevocationReason.Unspecified));
        Assert.Throws<ArgumentException>(() => new LoggedRevocation("dev-1", new string('1', 41), DateTimeOffset.UnixEpoch, RevocationReason.Unspecified));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LoggedRevocation("dev-1", "1f", DateTimeOffset.UnixEpoch.AddDays(-1), RevocationReason.Unspecified));
    }
}
