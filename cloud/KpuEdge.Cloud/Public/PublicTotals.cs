using System.Text.Json.Nodes;
using KpuEdge.Cloud.Recap;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;

namespace KpuEdge.Cloud.Public;

/// <summary>
/// A row of a region file's <c>table</c> and the region's own totals: votes per choice under the public keys, the
/// administrative sums and the TPS reported. A region's totals are the sum of its rows, so any reader can check a file
/// on its own, and a parent is updated by replacing the rows of the children that changed.
/// </summary>
public sealed class PublicTotals
{
    /// <summary>The administrative numbers summed over a region (Sirekap's names; each a total, <c>_j</c>).</summary>
    public static readonly string[] AdministrasiKeys =
    [
        "suara_sah", "suara_tidak_sah", "suara_total", "pemilih_dpt_j", "pengguna_dpt_j", "pengguna_dptb_j", "pengguna_non_dpt_j", "pengguna_total_j",
    ];

    private readonly List<KeyValuePair<string, long>> _votes = [];
    private readonly long[] _administrasi = new long[AdministrasiKeys.Length];

    public long TpsReported { get; private set; }
    public IReadOnlyList<KeyValuePair<string, long>> Votes => _votes;
    public long Administrasi(string key) => _administrasi[Array.IndexOf(AdministrasiKeys, key)];

    /// <summary>The starting keys of a region's chart: the pairs or parties in ballot order (DPD has none fixed).</summary>
    public static PublicTotals Empty(ContestId contest, ElectionDefinition election)
    {
        var totals = new PublicTotals();
        IEnumerable<string> keys = contest == ContestId.Ppwp ? election.PpwpPairs.Select(p => p.PublicKey)
            : contest.IsPartyContest() ? election.Parties.Select(p => p.PublicKey)
            : [];
        foreach (var key in keys) totals._votes.Add(new(key, 0));
        return totals;
    }

    /// <summary>One TPS's counted form, as a row of its desa.</summary>
    public static PublicTotals Of(ContestTotals counted, ContestId contest, ElectionDefinition election)
    {
        var totals = Empty(contest, election);
        foreach (var (key, votes) in counted.Chart()) totals.AddVotes(election.PublicKey(contest, key), votes);
        long[] a = [counted.SuaraSah, counted.SuaraTidakSah, counted.SuaraTotal, counted.DptL + counted.DptP, counted.PenggunaDpt,
            counted.PenggunaDptb, counted.PenggunaDpk, counted.PenggunaTotal];
        a.CopyTo(totals._administrasi, 0);
        totals.TpsReported = counted.TpsReported;
        return totals;
    }

    /// <summary>The sum of a region file's rows (a row that reported nothing adds nothing).</summary>
    public static PublicTotals SumOf(JsonObject table, ContestId contest, ElectionDefinition election)
    {
        var sum = Empty(contest, election);
        foreach (var (_, node) in table)
        {
            if (node is not JsonObject row || row["tps_reported"]?.GetValue<long>() is not > 0) continue;
            foreach (var (key, value) in row)
                if (key.Length > 0 && char.IsAsciiDigit(key[0]) && value is not null) sum.AddVotes(key, value.GetValue<long>());
            if (row["administrasi"] is JsonObject adm)
                for (int i = 0; i < AdministrasiKeys.Length; i++) sum._administrasi[i] += adm[AdministrasiKeys[i]]?.GetValue<long>() ?? 0;
            sum.TpsReported += row["tps_reported"]!.GetValue<long>();
        }
        return sum;
    }

    /// <summary>This as a row of its parent's table (Sirekap's keys, then the sums a reader needs to check the parent).</summary>
    public JsonObject Row(long tpsExpected)
    {
        var row = new JsonObject();
        foreach (var (key, votes) in _votes) row[key] = TpsReported > 0 ? votes : null;
        row["psu"] = null;
        row["persen"] = Percent(TpsReported, tpsExpected);
        row["status_progress"] = tpsExpected > 0 && TpsReported >= tpsExpected;
        row["tps_reported"] = TpsReported;
        row["administrasi"] = TpsReported > 0 ? AdministrasiJson() : null;
        return row;
    }

    /// <summary>An unreported child's row: its choice keys null, nothing counted.</summary>
    public static JsonObject EmptyRow(ContestId contest, ElectionDefinition election, long tpsExpected) => Empty(contest, election).Row(tpsExpected);

    public JsonObject Chart(long tpsExpected)
    {
        var chart = new JsonObject();
        foreach (var (key, votes) in _votes) chart[key] = votes;
        chart["persen"] = Percent(TpsReported, tpsExpected);
        return chart;
    }

    public JsonObject AdministrasiJson()
    {
        var adm = new JsonObject();
        for (int i = 0; i < AdministrasiKeys.Length; i++) adm[AdministrasiKeys[i]] = _administrasi[i];
        return adm;
    }

    public static double Percent(long reported, long expected) => expected == 0 ? 0 : Math.Round(100.0 * reported / expected, 2);

    private void AddVotes(string key, long votes)
    {
        for (int i = 0; i < _votes.Count; i++)
            if (_votes[i].Key == key)
            {
                _votes[i] = new(key, _votes[i].Value + votes);
                return;
            }
        _votes.Add(new(key, votes));
    }
}
