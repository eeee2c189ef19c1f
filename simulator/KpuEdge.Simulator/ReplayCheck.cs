using System.Text.Json;
using System.Text.Json.Nodes;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Simulator.Replay;

namespace KpuEdge.Simulator;

/// <summary>
/// One contest's totals over one region, in the fields the replay compares: TPS reported, DPT, voters, valid and invalid
/// votes, and votes per choice keyed as the recap's <c>chart</c>.
/// </summary>
public sealed record RegionTotals(long Tps, long Dpt, long PenggunaTotal, long SuaraSah, long SuaraTidakSah, IReadOnlyDictionary<string, long> Votes)
{
    /// <summary>The sums straight from the file.</summary>
    public static RegionTotals FromFile(ReplayTotals file) =>
        new(file.Forms, file.Dpt, file.PenggunaTotal, file.SuaraSah, file.SuaraTidakSah, file.Votes);

    /// <summary>What the public API publishes: <c>GET /api/v1/results/{contest}/{region}</c>.</summary>
    public static async Task<RegionTotals> ReadAsync(HttpClient http, ContestId contest, RegionCode region, CancellationToken cancellationToken)
    {
        using var document = JsonDocument.Parse(await http.GetStringAsync($"api/v1/results/{contest.Slug()}/{region}", cancellationToken));
        var root = document.RootElement;
        var administrasi = root.GetProperty("administrasi");
        var votes = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var choice in root.GetProperty("chart").EnumerateObject())
        {
            // "persen" is the progress share; a choice nobody has voted for yet is null.
            if (choice.Name != "persen" && choice.Value.ValueKind == JsonValueKind.Number) votes[choice.Name] = choice.Value.GetInt64();
        }
        return new RegionTotals(root.GetProperty("progres").GetProperty("progres").GetInt64(), administrasi.GetProperty("pemilih_dpt_j").GetInt64(),
            administrasi.GetProperty("pengguna_total_j").GetInt64(), administrasi.GetProperty("suara_sah").GetInt64(),
            administrasi.GetProperty("suara_tidak_sah").GetInt64(), votes);
    }

    /// <summary>The fields in which <paramref name="other"/> differs, each with both values (a choice missing on one side counts as 0).</summary>
    public IReadOnlyList<string> Differences(RegionTotals other)
    {
        var differences = new List<string>();
        void Check(string what, long mine, long theirs)
        {
            if (mine != theirs) differences.Add($"{what} {mine} vs {theirs}");
        }
        Check("TPS", Tps, other.Tps);
        Check("DPT", Dpt, other.Dpt);
        Check("pengguna_total", PenggunaTotal, other.PenggunaTotal);
        Check("suara_sah", SuaraSah, other.SuaraSah);
        Check("suara_tidak_sah", SuaraTidakSah, other.SuaraTidakSah);
        foreach (var key in Votes.Keys.Union(other.Votes.Keys).Order(StringComparer.Ordinal))
            Check($"votes {key}", Votes.GetValueOrDefault(key), other.Votes.GetValueOrDefault(key));
        return differences;
    }

    public JsonObject ToJson()
    {
        var votes = new JsonObject();
        foreach (var (key, value) in Votes.OrderBy(v => v.Key, StringComparer.Ordinal)) votes[key] = value;
        return new JsonObject
        {
            ["tps"] = Tps, ["dpt"] = Dpt, ["pengguna_total"] = PenggunaTotal, ["suara_sah"] = SuaraSah, ["suara_tidak_sah"] = SuaraTidakSah,
            ["votes"] = votes,
        };
    }
}

/// <summary>
/// One contest over one region: what the public API shows (of the first node, and whether every node shows the same)
/// beside what the file sums to.
/// </summary>
public sealed record ReplayComparison(ContestId Contest, RegionCode Region, string Name, RegionTotals Api, RegionTotals File, IReadOnlyList<string> Problems)
{
    public bool Equal => Problems.Count == 0;
}

/// <summary>
/// The replay's independent check: the national and per-province totals of every contest as every node's public API
/// publishes them, against <see cref="ReplayFileSums"/> — sums straight from the file, untouched by the tally, signing,
/// ledger or recap code.
/// </summary>
public static class ReplayCheck
{
    public static async Task<IReadOnlyList<ReplayComparison>> CompareAsync(
        IReadOnlyList<Uri> apis, RegionTree tree, ReplayFileSums sums, CancellationToken cancellationToken)
    {
        var clients = apis.Select(api => new HttpClient { BaseAddress = api }).ToArray();
        try
        {
            var comparisons = new List<ReplayComparison>();
            // Every province of the registry, also one whose rows were all refused: there the API must show nothing.
            var provinces = tree.ChildrenOf(RegionCode.Nasional).ToArray();
            foreach (var contest in Contests.All)
            {
                comparisons.Add(await CompareAsync(clients, contest, RegionCode.Nasional, "Nasional", RegionTotals.FromFile(sums.Nasional(contest)), cancellationToken));
                foreach (var province in provinces)
                    comparisons.Add(await CompareAsync(clients, contest, province, tree.NameOf(province), RegionTotals.FromFile(sums.Province(contest, province)), cancellationToken));
            }
            return comparisons;
        }
        finally
        {
            foreach (var client in clients) client.Dispose();
        }
    }

    private static async Task<ReplayComparison> CompareAsync(HttpClient[] nodes, ContestId contest, RegionCode region, string name, RegionTotals file,
        CancellationToken cancellationToken)
    {
        RegionTotals? first = null;
        var problems = new List<string>();
        for (int node = 0; node < nodes.Length; node++)
        {
            var api = await RegionTotals.ReadAsync(nodes[node], contest, region, cancellationToken);
            first ??= api;
            string where = nodes.Length > 1 ? $" (node {node + 1})" : "";
            problems.AddRange(api.Differences(file).Select(d => $"{contest.Slug()} {region}{where}: API vs file {d}"));
        }
        return new ReplayComparison(contest, region, name, first!, file, problems);
    }
}
