using KpuEdge.Core.Elections;
using KpuEdge.Crypto.Transparency;

namespace KpuEdge.Crypto.Tests.Transparency;

public sealed class WitnessQrTests
{
    [Fact]
    public void Carries_the_exact_wire_bytes_in_url_safe_base64()
    {
        foreach (var contest in Contests.All)
        {
            var signed = Samples.Signed(contest);
            string payload = WitnessQr.Encode(signed);

            Assert.StartsWith("KPU1S:", payload);
            Assert.DoesNotContain('=', payload);
            Assert.DoesNotContain('+', payload);
            Assert.DoesNotContain('/', payload);
            Assert.True(WitnessQr.TryDecode(payload, out var wire, out _));
            Assert.Equal(signed.Wire, wire);
            Assert.Equal(signed.Hash, SignedSubmission.Decode(wire).Hash);
            // Byte mode at ECC level M holds 2,331 bytes in the largest QR version.
            Assert.True(payload.Length <= 2331, $"{contest.Slug()}: {payload.Length} characters");
        }
    }

    [Fact]
    public void Encodes_a_known_payload()
    {
        Assert.Equal("KPU1S:-_8A", WitnessQr.Encode([0xfb, 0xff, 0x00]));
        Assert.Equal("KPU1S:AQ", WitnessQr.Encode([0x01]));
    }

    [Theory]
    [InlineData(null, "wrong_prefix")]
    [InlineData("", "wrong_prefix")]
    [InlineData("KPU1C:AQ", "wrong_prefix")]
    [InlineData("kpu1s:AQ", "wrong_prefix")]
    [InlineData("https://example.com/KPU1S:AQ", "wrong_prefix")]
    [InlineData("KPU1S:", "empty")]
    [InlineData("KPU1S:AQ==", "bad_base64")]   // padding
    [InlineData("KPU1S:+/8A", "bad_base64")]   // standard alphabet
    [InlineData("KPU1S:-_8 A", "bad_base64")]  // whitespace
    [InlineData("KPU1S:A", "bad_base64")]      // impossible length
    [InlineData("KPU1S:AR", "bad_base64")]     // spare bits set: a second spelling of 0x01
    [InlineData("KPU1S:-_8A\n", "bad_base64")]
    public void Refuses_payloads_that_are_not_a_witness_qr(string? payload, string error)
    {
        Assert.False(WitnessQr.TryDecode(payload, out var wire, out string? actual));
        Assert.Null(wire);
        Assert.Equal(error, actual);
    }

    [Fact]
    public void Refuses_oversized_payloads_unread()
    {
        string justFits = WitnessQr.Encode(new byte[WitnessQr.MaxWireBytes]);
        Assert.True(WitnessQr.TryDecode(justFits, out _, out _));
        Assert.False(WitnessQr.TryDecode(justFits + "AAAA", out _, out string? error));
        Assert.Equal("oversized", error);
        Assert.Throws<ArgumentException>(() => WitnessQr.Encode(new byte[WitnessQr.MaxWireBytes + 1]));
        Assert.Throws<ArgumentException>(() => WitnessQr.Encode([]));
    }
}
