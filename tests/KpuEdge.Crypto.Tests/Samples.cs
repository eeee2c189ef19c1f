using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;

namespace KpuEdge.Crypto.Tests;

/// <summary>Reproducible submissions of one real TPS (KOTA BANDUNG, SUKASARI, SUKARASA, TPS 003).</summary>
internal static class Samples
{
    public static readonly RegionTree Tree = RegionTree.LoadEmbedded();
    public static readonly ElectionDefinition Election = ElectionDefinition.Default;
    public static readonly TpsCode Tps = TpsCode.Parse("3273011001003");
    public const string DeviceId = "dev-3273011001003-a";
    public static readonly DeviceKey Key = DeviceKey.Deterministic(DeviceId, 1);
    public static readonly DateTimeOffset SignedAt = new(2024, 2, 14, 14, 30, 15, 250, TimeSpan.FromHours(7));

    public static IReadOnlyList<C1Tally> Tallies(TpsCode tps, int seed = 1) =>
        SyntheticTally.ForTps(tps, Election.Ballots(Tree), Election, seed);

    public static C1Tally Tally(ContestId contest) => Tallies(Tps).Single(t => t.Contest == contest);

    public static Submission Submission(C1Tally tally, ulong sequence = 2, bool firstOfDevice = false) => new()
    {
        ElectionId = Election.ElectionId,
        DeviceId = DeviceId,
        Sequence = sequence,
        PreviousHash = firstOfDevice ? Sha256Hash.Empty : Sha256Hash.Of("previous submission"u8),
        DeviceTime = SignedAt,
        ImageHash = firstOfDevice ? Sha256Hash.Empty : Sha256Hash.Of("form image"u8),
        Tally = tally,
    };

    public static SignedSubmission Signed(ContestId contest) => SignedSubmission.Sign(Submission(Tally(contest)), Key);
}
