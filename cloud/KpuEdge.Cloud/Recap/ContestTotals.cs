using KpuEdge.Core.Elections;
using KpuEdge.Core.Tally;

namespace KpuEdge.Cloud.Recap;

/// <summary>
/// Sums for one contest over a region (or one TPS): votes per choice key and the administrative numbers that
/// Sirekap publishes. Absolute values, so pushing the same totals twice changes nothing.
/// </summary>
[GenerateSerializer, Alias("kpu.ContestTotals")]
public sealed class ContestTotals
{
    [Id(0)] public Dictionary<string, long> Chart { get; init; } = new(StringComparer.Ordinal);
    [Id(1)] public long SuaraSah { get; set; }
    [Id(2)] public long SuaraTidakSah { get; set; }
    [Id(3)] public long SuaraTotal { get; set; }
    [Id(4)] public long DptL { get; set; }
    [Id(5)] public long DptP { get; set; }
    [Id(6)] public long PenggunaDpt { get; set; }
    [Id(7)] public long PenggunaDptb { get; set; }
    [Id(8)] public long PenggunaDpk { get; set; }
    [Id(9)] public long PenggunaTotal { get; set; }
    /// <summary>TPS whose form of this contest has been accepted.</summary>
    [Id(10)] public long TpsReported { get; set; }

    public static ContestTotals FromTally(C1Tally tally, Ballot ballot)
    {
        var totals = new ContestTotals
        {
            SuaraSah = tally.SuaraSah,
            SuaraTidakSah = tally.SuaraTidakSah,
            SuaraTotal = tally.SuaraTotal,
            DptL = tally.Dpt.L,
            DptP = tally.Dpt.P,
            PenggunaDpt = tally.PenggunaDpt.Total,
            PenggunaDptb = tally.PenggunaDptb.Total,
            PenggunaDpk = tally.PenggunaDpk.Total,
            PenggunaTotal = tally.PenggunaTotal.Total,
            TpsReported = 1,
        };
        foreach (var votes in tally.Suara)
        {
            string key = ballot.Choice(votes.Number)?.Key ?? votes.Number.ToString();
            totals.Chart[key] = totals.Chart.GetValueOrDefault(key) + votes.Total;
        }
        return totals;
    }

    public void Add(ContestTotals other)
    {
        foreach (var (key, votes) in other.Chart) Chart[key] = Chart.GetValueOrDefault(key) + votes;
        SuaraSah += other.SuaraSah;
        SuaraTidakSah += other.SuaraTidakSah;
        SuaraTotal += other.SuaraTotal;
        DptL += other.DptL;
        DptP += other.DptP;
        PenggunaDpt += other.PenggunaDpt;
        PenggunaDptb += other.PenggunaDptb;
        PenggunaDpk += other.PenggunaDpk;
        PenggunaTotal += other.PenggunaTotal;
        TpsReported += other.TpsReported;
    }
}

/// <summary>What a child pushes to its parent: its absolute totals per contest, with a version so that an
/// older push arriving late never overwrites a newer one.</summary>
[GenerateSerializer, Immutable, Alias("kpu.RecapSnapshot")]
public sealed class RecapSnapshot
{
    [Id(0)] public required long Version { get; init; }
    [Id(1)] public required Dictionary<ContestId, ContestTotals> Contests { get; init; }
}

/// <summary>A region's recap for one contest: its own totals and those of each child.</summary>
[GenerateSerializer, Immutable, Alias("kpu.RegionView")]
public sealed class RegionView
{
    [Id(0)] public required ContestTotals Totals { get; init; }
    [Id(1)] public required Dictionary<string, ContestTotals> Children { get; init; }
    [Id(2)] public required DateTimeOffset UpdatedAt { get; init; }
}
