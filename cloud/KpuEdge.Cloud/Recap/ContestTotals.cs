using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Tally;

namespace KpuEdge.Cloud.Recap;

/// <summary>
/// Sums for one contest over a region (or one TPS): votes per choice key and the administrative numbers that
/// Sirekap publishes. Absolute values, so pushing the same totals twice changes nothing.
/// </summary>
/// <remarks>
/// The nation's desa grains hold one of these per TPS and contest — four million at the end of the night — so the
/// votes are an array beside the ballot's choice keys, and the keys one array shared by every TPS of that ballot
/// (<see cref="ChoiceKeys"/>). A dictionary per form cost ≈ 800 bytes in four objects, and the garbage collector
/// traced all of them again and again as the night went on.
/// </remarks>
[GenerateSerializer, Alias("kpu.ContestTotals")]
public sealed class ContestTotals
{
    [Id(0), Immutable] private string[] _keys = []; // shared: never written, only replaced
    [Id(1)] private long[] _votes = [];
    [Id(2)] public long SuaraSah { get; set; }
    [Id(3)] public long SuaraTidakSah { get; set; }
    [Id(4)] public long SuaraTotal { get; set; }
    [Id(5)] public long DptL { get; set; }
    [Id(6)] public long DptP { get; set; }
    [Id(7)] public long PenggunaDpt { get; set; }
    [Id(8)] public long PenggunaDptb { get; set; }
    [Id(9)] public long PenggunaDpk { get; set; }
    [Id(10)] public long PenggunaTotal { get; set; }
    /// <summary>TPS whose form of this contest has been accepted.</summary>
    [Id(11)] public long TpsReported { get; set; }

    /// <summary>The choice keys counted, in ballot order (the first ballot's, then keys other ballots added).</summary>
    public IReadOnlyList<string> Keys => _keys;

    /// <summary>Votes for a choice key; 0 for a key not counted here.</summary>
    public long VotesFor(string key)
    {
        int i = Array.IndexOf(_keys, key);
        return i < 0 ? 0 : _votes[i];
    }

    /// <summary>Votes per choice key, as the results API publishes them (a new dictionary each call).</summary>
    public Dictionary<string, long> Chart()
    {
        var chart = new Dictionary<string, long>(_keys.Length, StringComparer.Ordinal);
        for (int i = 0; i < _keys.Length; i++) chart[_keys[i]] = _votes[i];
        return chart;
    }

    public static ContestTotals FromTally(C1Tally tally, Ballot ballot)
    {
        var keys = ChoiceKeys.Of(ballot);
        var votes = new long[keys.Length];
        List<(string Key, long Votes)>? offBallot = null;
        foreach (var choice in tally.Suara)
        {
            int i = ChoiceKeys.IndexOf(ballot, choice.Number);
            if (i >= 0) votes[i] += choice.Total;
            else (offBallot ??= []).Add((choice.Number.ToString(), choice.Total)); // the checker refuses these; counted apart, never lost
        }
        var totals = new ContestTotals
        {
            _keys = keys,
            _votes = votes,
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
        foreach (var (key, count) in offBallot ?? []) totals.AddVotes(key, count);
        return totals;
    }

    public void Add(ContestTotals other)
    {
        if (ReferenceEquals(_keys, other._keys) || _keys.AsSpan().SequenceEqual(other._keys))
        {
            for (int i = 0; i < _votes.Length; i++) _votes[i] += other._votes[i];
        }
        else if (_keys.Length == 0)
        {
            _keys = other._keys;
            _votes = (long[])other._votes.Clone();
        }
        else MergeByKey(other);
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

    /// <summary>Makes the keys the one shared array of equal keys (totals that came from another node carry a copy).</summary>
    public void ShareKeys() => _keys = ChoiceKeys.Intern(_keys);

    /// <summary>Adds totals counted over other keys (the nation's DPD chart gathers every province's candidates).</summary>
    private void MergeByKey(ContestTotals other)
    {
        var keys = new List<string>(_keys);
        var votes = new List<long>(_votes);
        var at = new Dictionary<string, int>(keys.Count + other._keys.Length, StringComparer.Ordinal);
        for (int i = 0; i < keys.Count; i++) at[keys[i]] = i;
        for (int j = 0; j < other._keys.Length; j++)
        {
            if (at.TryGetValue(other._keys[j], out int i)) votes[i] += other._votes[j];
            else
            {
                at[other._keys[j]] = keys.Count;
                keys.Add(other._keys[j]);
                votes.Add(other._votes[j]);
            }
        }
        _keys = keys.ToArray();
        _votes = votes.ToArray();
    }

    private void AddVotes(string key, long votes)
    {
        int i = Array.IndexOf(_keys, key);
        if (i < 0)
        {
            i = _keys.Length;
            _keys = [.. _keys, key];
            Array.Resize(ref _votes, i + 1);
        }
        _votes[i] += votes;
    }
}

/// <summary>
/// The choice keys of a ballot as one array per distinct list of keys, shared by every <see cref="ContestTotals"/>
/// that counts them; arrays equal in content are made the same instance.
/// </summary>
public static class ChoiceKeys
{
    private static readonly ConditionalWeakTable<Ballot, string[]> ByBallot = new();
    private static readonly ConcurrentDictionary<string, string[]> ByContent = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<string[], byte> Shared = new(ReferenceEqualityComparer.Instance);

    public static string[] Of(Ballot ballot) =>
        ByBallot.GetValue(ballot, b => Intern(b.Choices.Select(c => c.Key).ToArray()));

    /// <summary>Index of a ballot number among the ballot's choices (the order of <see cref="Of"/>), or -1.</summary>
    public static int IndexOf(Ballot ballot, int number)
    {
        var choices = ballot.Choices;
        for (int i = 0; i < choices.Count; i++)
            if (choices[i].Number == number) return i;
        return -1;
    }

    public static string[] Intern(string[] keys)
    {
        if (keys.Length == 0 || Shared.ContainsKey(keys)) return keys;
        var shared = ByContent.GetOrAdd(string.Join('\u001f', keys), _ => keys);
        Shared.TryAdd(shared, 0);
        return shared;
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
