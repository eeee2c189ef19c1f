using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;

namespace KpuEdge.Crypto;

/// <summary>
/// What a TPS device signs for one contest: the tally read from the C.Hasil form, bound to the device,
/// its place in the device's chain of submissions and the hash of the form image.
/// </summary>
public sealed record Submission
{
    /// <summary>The only encoding version this build reads and writes.</summary>
    public const int FormatVersion = 1;

    public required string ElectionId { get; init; }
    public required string DeviceId { get; init; }
    /// <summary>Per-device counter, starting at 1, increasing with every form the device signs.</summary>
    public required ulong Sequence { get; init; }
    /// <summary>Hash of the device's previous signed submission (empty for the first).</summary>
    public Sha256Hash PreviousHash { get; init; }
    /// <summary>The device's clock when it signed (milliseconds precision); informative, never trusted for order.</summary>
    public required DateTimeOffset DeviceTime { get; init; }
    /// <summary>SHA-256 of the captured form image; empty until images exist.</summary>
    public Sha256Hash ImageHash { get; init; }
    public required C1Tally Tally { get; init; }
    /// <summary>
    /// Why this form replaces one the device signed earlier for the same TPS and contest (the KPPS's words); null for
    /// a first form. A newer form without a reason is refused: corrections are explicit and visible, never silent.
    /// </summary>
    public string? CorrectionReason { get; init; }

    public ContestId Contest => Tally.Contest;
    public TpsCode Tps => Tally.Tps;
}
