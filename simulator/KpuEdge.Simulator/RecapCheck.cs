using System.Text.Json;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;

namespace KpuEdge.Simulator;

/// <summary>
/// The independent check: sums what the devices signed and the cloud receipted, straight from the tallies, and
/// compares it with what the public API publishes for a region. Any difference is a bug in the recap.
/// </summary>
public static class RecapCheck
{
    public sealed record Expected(long TpsReported, long SuaraSah, long SuaraTidakSah, long SuaraTotal, long Dpt, IReadOnlyDictionary<string, long> Chart);

    public static Expected Sum(IEnumerable<C1Tally> tallies, ContestId contest, RegionCode region)
    {
        var sum = new Accumulator();
        foreach (var t in tallies)
            if (t.Contest == contest && region.Contains(t.Tps.Region)) sum.Add(t);
        return sum.ToExpected();
    }

    /// <summary>One contest's sums over some TPS.</summary>
    private sealed class Accumulator
    {
        private long _tps, _sah, _tidakSah, _total, _dpt;
        private readonly Dictionary<string, long> _chart = new(StringComparer.Ordinal);

        public void Add(C1Tally t)
        {
            _tps++;
            _sah += t.SuaraSah;
            _tidakSah += t.SuaraTidakSah;
            _total += t.SuaraTotal;
            _dpt += t.Dpt.Total;
            foreach (var choice in t.Suara)
            {
                string key = t.Contest == ContestId.Dpd ? $"{t.Tps.Value[..2]}-{choice.Number:D2}" : choice.Number.ToString();
                _chart[key] = _chart.GetValueOrDefault(key) + choice.Total;
            }
        }

        public Expected ToExpected() => new(_tps, _sah, _tidakSah, _total, _dpt, new Dictionary<string, long>(_chart, StringComparer.Ordinal));
    }

    /// <summary>
    /// The sums for the nation and every province, per contest, added to as receipts come: a national run keeps these
    /// instead of four million tallies. Thread-safe.
    /// </summary>
    public sealed class RunningTotals
    {
        private readonly Dictionary<(ContestId, RegionCode), Accumulator> _sums = [];
        private readonly Lock _lock = new();

        public void Add(C1Tally t)
        {
            var province = RegionCode.Parse(t.Tps.Value[..2]);
            lock (_lock)
            {
                foreach (var region in (ReadOnlySpan<RegionCode>)[RegionCode.Nasional, province])
                {
                    if (!_sums.TryGetValue((t.Contest, region), out var sum)) _sums[(t.Contest, region)] = sum = new Accumulator();
                    sum.Add(t);
                }
            }
        }

        /// <summary>The sums of <paramref name="contest"/> in the nation or a province (nothing added: all zero).</summary>
        public Expected For(ContestId contest, RegionCode region)
        {
            lock (_lock) return _sums.TryGetValue((contest, region), out var sum) ? sum.ToExpected() : new Accumulator().ToExpected();
        }
    }

    /// <summary>Compares one region and contest; returns the differences (empty when exact).</summary>
    public static Task<IReadOnlyList<string>> CompareAsync(HttpClient http, IReadOnlyCollection<C1Tally> accepted, ContestId contest, RegionCode region) =>
        CompareAsync(http, Sum(accepted, contest, region), contest, region);

    /// <summary>Compares one region and contest with sums made elsewhere; returns the differences (empty when exact).</summary>
    public static async Task<IReadOnlyList<string>> CompareAsync(HttpClient http, Expected expected, ContestId contest, RegionCode region)
    {
        using var document = JsonDocument.Parse(await http.GetStringAsync($"api/v1/results/{contest.Slug()}/{region}"));
        var root = document.RootElement;
        var problems = new List<string>();
        void Check(string what, long want, long got)
        {
            if (want != got) problems.Add($"{contest.Slug()} {region}: {what} published {got}, devices sent {want}");
        }
        Check("TPS reported", expected.TpsReported, root.GetProperty("progres").GetProperty("progres").GetInt64());
        var adm = root.GetProperty("administrasi");
        Check("suara_sah", expected.SuaraSah, adm.GetProperty("suara_sah").GetInt64());
        Check("suara_tidak_sah", expected.SuaraTidakSah, adm.GetProperty("suara_tidak_sah").GetInt64());
        Check("suara_total", expected.SuaraTotal, adm.GetProperty("suara_total").GetInt64());
        Check("pemilih_dpt_j", expected.Dpt, adm.GetProperty("pemilih_dpt_j").GetInt64());
        var chart = root.GetProperty("chart");
        foreach (var (key, votes) in expected.Chart)
        {
            long published = chart.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : 0;
            Check($"votes for {key}", votes, published);
        }
        return problems;
    }
}
