using System.Collections.Concurrent;
using KpuEdge.Core.Regions;

namespace KpuEdge.Core.Elections;

/// <summary>One choice on a ballot: a PPWP pair, a party (with its candidate list) or a DPD candidate.</summary>
/// <param name="Number">The ballot number written on the form.</param>
/// <param name="Key">Identifies the choice across regions in the recap (a DPD candidate's key names its province).</param>
/// <param name="CandidateCount">Candidates listed under a party; 0 for pairs and DPD candidates.</param>
public sealed record BallotChoice(int Number, string Key, string Name, int CandidateCount);

/// <summary>What one TPS's ballot of one contest lists, so a tally can be checked against it.</summary>
/// <param name="Dapil">Electoral district code for party contests, province for DPD, empty for PPWP.</param>
public sealed record Ballot(ContestId Contest, string Dapil, IReadOnlyList<BallotChoice> Choices)
{
    public BallotChoice? Choice(int number)
    {
        foreach (var choice in Choices)
        {
            if (choice.Number == number) return choice;
        }
        return null;
    }
}

/// <summary>Ballots of an election per contest and dapil, derived from the region tree once and shared.</summary>
public sealed class BallotCatalog
{
    private readonly ElectionDefinition _election;
    private readonly ConcurrentDictionary<(ContestId, string), Ballot> _ballots = new();
    private readonly Dictionary<RegionCode, int> _positionInParent = new();

    internal BallotCatalog(ElectionDefinition election, RegionTree tree)
    {
        _election = election;
        Tree = tree;
        foreach (var level in new[] { RegionLevel.Provinsi, RegionLevel.KabKota })
        foreach (var code in RegionsAt(tree, level))
        {
            var children = tree[code].Children;
            for (int i = 0; i < children.Count; i++) _positionInParent[children[i]] = i;
        }
    }

    internal RegionTree Tree { get; }

    internal ElectionDefinition Election => _election;

    /// <summary>The ballot of a contest at a TPS, or null where the contest is not held there.</summary>
    public Ballot? For(ContestId contest, TpsCode tps)
    {
        if (!_election.ContestsAt(tps).Contains(contest)) return null;
        var kab = tps.Region.AncestorAt(RegionLevel.KabKota);
        var kec = tps.Region.AncestorAt(RegionLevel.Kecamatan);
        if (!_positionInParent.ContainsKey(kab) || !_positionInParent.ContainsKey(kec)) return null;
        string prov = tps.Region.AncestorAt(RegionLevel.Provinsi).Value;
        string dapil = contest switch
        {
            ContestId.Ppwp => "",
            ContestId.Dpd => prov,
            ContestId.Dpr => prov + (_positionInParent[kab] / _election.Dpr.RegionsPerDapil + 1).ToString("D2"),
            ContestId.DprdProvinsi => prov + (_positionInParent[kab] / _election.DprdProvinsi.RegionsPerDapil + 1).ToString("D2"),
            ContestId.DprdKabKota => kab.Value + (_positionInParent[kec] / _election.DprdKabKota.RegionsPerDapil + 1).ToString("D2"),
            _ => throw new ArgumentOutOfRangeException(nameof(contest)),
        };
        return _ballots.GetOrAdd((contest, dapil), static (key, election) => Build(election, key.Item1, key.Item2), _election);
    }

    private static Ballot Build(ElectionDefinition election, ContestId contest, string dapil)
    {
        IReadOnlyList<BallotChoice> choices = contest switch
        {
            ContestId.Ppwp => election.PpwpPairs.Select(p => new BallotChoice(p.Number, p.Number.ToString(), p.Name, 0)).ToArray(),
            ContestId.Dpd => Enumerable.Range(1, election.DpdCandidatesPerProvince)
                .Select(n => new BallotChoice(n, $"{dapil}-{n:D2}", $"Calon DPD {dapil} nomor {n}", 0)).ToArray(),
            _ => election.Parties.Select(p => new BallotChoice(p.Number, p.Number.ToString(), p.Name, Rule(election, contest).CandidatesPerParty)).ToArray(),
        };
        return new Ballot(contest, dapil, choices);
    }

    private static DapilRule Rule(ElectionDefinition election, ContestId contest) => contest switch
    {
        ContestId.Dpr => election.Dpr,
        ContestId.DprdProvinsi => election.DprdProvinsi,
        _ => election.DprdKabKota,
    };

    private static IEnumerable<RegionCode> RegionsAt(RegionTree tree, RegionLevel level)
    {
        IEnumerable<RegionCode> codes = [RegionCode.Nasional];
        for (var l = RegionLevel.Nasional; l < level; l++) codes = codes.SelectMany(c => tree[c].Children);
        return codes;
    }
}
