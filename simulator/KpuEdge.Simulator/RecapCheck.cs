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
        long tps = 0, sah = 0, tidakSah = 0, total = 0, dpt = 0;
        var chart = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var t in tallies)
        {
            if (t.Contest != contest || !region.Contains(t.Tps.Region)) continue;
            tps++;
            sah += t.SuaraSah;
            tidakSah += t.SuaraTidakSah;
            total += t.SuaraTotal;
            dpt += t.Dpt.Total;
            foreach (var choice in t.Suara)
            {
                string key = contest == ContestId.Dpd ? $"{t.Tps.Value[..2]}-{choice.Number:D2}" : choice.Number.ToString();
                chart[key] = chart.GetValueOrDefault(key) + choice.Total;
            }
        }
        return new Expected(tps, sah, tidakSah, total, dpt, chart);
    }

    /// <summary>Compares one region and contest; returns the differences (empty when exact).</summary>
    public static async Task<IReadOnlyList<string>> CompareAsync(HttpClient http, IReadOnlyCollection<C1Tally> accepted, ContestId contest, RegionCode region)
    {
        var expected = Sum(accepted, contest, region);
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
