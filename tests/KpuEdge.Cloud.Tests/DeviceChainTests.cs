using KpuEdge.Cloud.Ingest;
using KpuEdge.Crypto;

namespace KpuEdge.Cloud.Tests;

/// <summary><see cref="DeviceChain"/> on its own: one decision, pure, no broker.</summary>
public sealed class DeviceChainTests
{
    private static readonly DateTimeOffset T0 = new(2024, 2, 14, 13, 0, 0, TimeSpan.Zero);

    private static Sha256Hash H(ulong n) => Sha256Hash.Of(BitConverter.GetBytes(n));

    /// <summary>The genuine link n of a device: it follows n−1 and was signed a minute after it.</summary>
    private static ChainLink Link(ulong n) => new(n, H(n), n == 1 ? default : H(n - 1), T0.AddMinutes(n));

    [Fact]
    public void Links_a_first_form_and_the_next_in_order()
    {
        Assert.Equal(ChainVerdictKind.Linked, DeviceChain.Judge(Link(1), null, null, null, null).Kind);
        Assert.Equal(ChainVerdictKind.Linked, DeviceChain.Judge(Link(2), Link(1), Link(1), null, null).Kind);
    }

    [Fact]
    public void Accepts_a_form_above_a_gap_and_says_what_is_missing()
    {
        var verdict = DeviceChain.Judge(Link(5), Link(2), null, null, null);
        Assert.Equal((ChainVerdictKind.Gap, 3UL, 4UL), (verdict.Kind, verdict.MissingFrom, verdict.MissingTo));
        Assert.False(verdict.Refused);
    }

    [Fact]
    public void Refuses_a_reused_number_a_broken_link_and_a_rewind()
    {
        var other = Link(2) with { Hash = Sha256Hash.Of("other"u8) };
        Assert.Equal(ChainVerdictKind.Fork, DeviceChain.Judge(other, Link(2), Link(1), Link(2), null).Kind);
        Assert.Equal(ChainVerdictKind.Fork, DeviceChain.Judge(Link(3) with { PreviousHash = H(9) }, Link(2), Link(2), null, null).Kind);
        Assert.Equal(ChainVerdictKind.Fork, DeviceChain.Judge(Link(0), null, null, null, null).Kind);
        var rewound = Link(1) with { Hash = H(100), DeviceTime = T0.AddHours(5) };
        Assert.Equal(ChainVerdictKind.Rewind, DeviceChain.Judge(rewound, Link(3), null, null, null).Kind);
    }

    [Theory]
    [InlineData(0UL, 1_001UL)]                        // a first form numbered past the bound
    [InlineData(2UL, 1_003UL)]
    [InlineData(2UL, (1UL << 53) - 1)]                // the top of the protocol's range
    [InlineData(7UL, ulong.MaxValue)]                 // what the probe sent
    public void Refuses_a_number_far_beyond_the_devices_chain(ulong head, ulong sequence)
    {
        var candidate = new ChainLink(sequence, H(sequence), H(sequence - 1), T0.AddHours(1));
        var verdict = DeviceChain.Judge(candidate, head == 0 ? null : Link(head), null, null, null, maxJump: 1_000);
        Assert.Equal(ChainVerdictKind.Jump, verdict.Kind);
        Assert.True(verdict.Refused);
    }

    [Theory]
    [InlineData(0UL, 1_000UL)]
    [InlineData(2UL, 1_002UL)]
    public void Accepts_a_jump_up_to_the_bound_as_a_gap(ulong head, ulong sequence)
    {
        var candidate = new ChainLink(sequence, H(sequence), H(sequence - 1), T0.AddHours(1));
        Assert.Equal(ChainVerdictKind.Gap, DeviceChain.Judge(candidate, head == 0 ? null : Link(head), null, null, null, maxJump: 1_000).Kind);
    }

    [Fact]
    public void A_number_below_the_head_is_never_a_jump()
    {
        var late = Link(3) with { DeviceTime = T0 };
        Assert.NotEqual(ChainVerdictKind.Jump, DeviceChain.Judge(late, Link(5_000), null, null, null, maxJump: 10).Kind);
    }
}
