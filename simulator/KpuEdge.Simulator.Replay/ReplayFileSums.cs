using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;

namespace KpuEdge.Simulator.Replay;

/// <summary>Sums of one contest over a region, straight from the accepted rows of a results file.</summary>
public sealed class ReplayTotals
{
    private readonly Dictionary<string, long> _votes = new(StringComparer.Ordinal);

    /// <summary>Accepted rows (= TPS reported for this contest).</summary>
    public long Forms { get; private set; }
    public long Dpt { get; private set; }
    public long PenggunaTotal { get; private set; }
    public long SuaraSah { get; private set; }
    public long SuaraTidakSah { get; private set; }
    public long SuaraTotal => SuaraSah + SuaraTidakSah;

    /// <summary>
    /// Votes per choice, keyed as the recap's <c>chart</c> is (<see cref="BallotChoice.Key"/>): the pair or party number,
    /// or <c>PP-NN</c> for DPD candidate NN of province PP.
    /// </summary>
    public IReadOnlyDictionary<string, long> Votes => _votes;

    internal void Add(Ballot ballot, ReplayNumbers numbers)
    {
        Forms++;
        Dpt += numbers.Dpt;
        PenggunaTotal += numbers.PenggunaTotal;
        SuaraSah += numbers.SuaraSah;
        SuaraTidakSah += numbers.SuaraTidakSah;
        for (int i = 0; i < numbers.Votes.Length; i++)
        {
            string key = ballot.Choices[i].Key;
            _votes[key] = _votes.GetValueOrDefault(key) + numbers.Votes[i];
        }
    }
}

/// <summary>
/// The national and per-province totals computed straight from the file: plain sums of the accepted rows' numbers
/// (<see cref="ReplayNumbers"/>, as given or derived by the fill rules), per contest. Independent of the tally and
/// recap code: what the cloud's public API must show after the replay.
/// </summary>
public sealed class ReplayFileSums
{
    private readonly Dictionary<ContestId, ReplayTotals> _nasional = new();
    private readonly Dictionary<ContestId, Dictionary<RegionCode, ReplayTotals>> _provinces = new();

    /// <summary>Contests with at least one accepted row, in the order of <see cref="Contests.All"/>.</summary>
    public IReadOnlyList<ContestId> Contests => KpuEdge.Core.Elections.Contests.All.Where(_nasional.ContainsKey).ToArray();

    /// <summary>Totals of a contest over the whole file (empty totals if it has no accepted row).</summary>
    public ReplayTotals Nasional(ContestId contest) => _nasional.GetValueOrDefault(contest) ?? new ReplayTotals();

    /// <summary>Totals of a contest in one province (empty totals if it has no accepted row there).</summary>
    public ReplayTotals Province(ContestId contest, RegionCode province)
    {
        if (province.Level != RegionLevel.Provinsi) throw new ArgumentException($"{province} is not a province code.", nameof(province));
        return _provinces.GetValueOrDefault(contest)?.GetValueOrDefault(province) ?? new ReplayTotals();
    }

    /// <summary>The provinces with accepted rows of a contest, each with its totals.</summary>
    public IReadOnlyDictionary<RegionCode, ReplayTotals> Provinces(ContestId contest) =>
        _provinces.GetValueOrDefault(contest) ?? new Dictionary<RegionCode, ReplayTotals>();

    /// <summary>Adds one accepted row of <paramref name="tps"/>; <paramref name="ballot"/> names its choices.</summary>
    public void Add(TpsCode tps, Ballot ballot, ReplayNumbers numbers)
    {
        if (numbers.Votes.Length != ballot.Choices.Count)
            throw new ArgumentException($"{numbers.Votes.Length} votes for a ballot of {ballot.Choices.Count} choices.", nameof(numbers));
        var contest = ballot.Contest;
        if (!_nasional.TryGetValue(contest, out var nasional)) _nasional[contest] = nasional = new ReplayTotals();
        nasional.Add(ballot, numbers);
        if (!_provinces.TryGetValue(contest, out var provinces)) _provinces[contest] = provinces = new();
        var province = tps.Region.AncestorAt(RegionLevel.Provinsi);
        if (!provinces.TryGetValue(province, out var totals)) provinces[province] = totals = new ReplayTotals();
        totals.Add(ballot, numbers);
    }
}
