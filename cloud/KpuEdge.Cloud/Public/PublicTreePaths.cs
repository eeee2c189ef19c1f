using System.Diagnostics.CodeAnalysis;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;

namespace KpuEdge.Cloud.Public;

/// <summary>
/// Where each file of the public tree lies, relative to its root, in Sirekap's layout: a region's results at
/// <c>pemilu/hhcw/{contest}/{p}/{k}/{c}/{d}.json</c> (the nation at <c>pemilu/hhcw/{contest}.json</c>), a TPS's below its
/// desa, the region listings at <c>wilayah/pemilu/ppwp/…</c> (one listing for every contest, as Sirekap has it). A
/// request path is only ever mapped onto one of these by <see cref="TryResolve"/>: what it names is parsed, never joined.
/// </summary>
public static class PublicTreePaths
{
    public const string Manifest = "pemilu/snapshot.json";

    /// <summary>The file of a contest's results in a region (<see cref="RegionCode.Nasional"/> for the nation).</summary>
    public static string Region(ContestId contest, RegionCode region) =>
        region.IsNasional ? $"pemilu/hhcw/{contest.Slug()}.json" : $"pemilu/hhcw/{contest.Slug()}/{Chain(region)}.json";

    public static string Tps(ContestId contest, TpsCode tps) =>
        $"pemilu/hhcw/{contest.Slug()}/{Chain(tps.Desa)}/{tps.Value}.json";

    /// <summary>The anomaly flags of a contest: the nation's summary, or a province's flagged TPS.</summary>
    public static string Flags(ContestId contest, RegionCode region) =>
        region.IsNasional ? $"pemilu/anomali/{contest.Slug()}.json" : $"pemilu/anomali/{contest.Slug()}/{region.Value}.json";

    /// <summary>The listing of a region's children (the nation's: <c>0.json</c>; a desa's lists its TPS).</summary>
    public static string Wilayah(RegionCode region) =>
        region.IsNasional ? "wilayah/pemilu/ppwp/0.json" : $"wilayah/pemilu/ppwp/{Chain(region)}.json";

    /// <summary>Ancestors from the province down, then the region: <c>32/3273/327301</c>.</summary>
    private static string Chain(RegionCode region)
    {
        var parts = new List<string>(5);
        for (var r = region; !r.IsNasional; r = r.Parent) parts.Add(r.Value);
        parts.Reverse();
        return string.Join('/', parts);
    }

    /// <summary>
    /// The tree's file a request under <c>/pemilu/</c> or <c>/wilayah/</c> names — only a region or TPS file of a known contest,
    /// each segment the right number of digits and inside the one before — or why not.
    /// </summary>
    public static bool TryResolve(string requestPath, [NotNullWhen(true)] out string? relative, [NotNullWhen(false)] out string? problem)
    {
        relative = null;
        var segments = requestPath.TrimStart('/').Split('/');
        if (segments is ["pemilu", "snapshot.json"]) return Done(Manifest, out relative, out problem);
        if (segments.Length < 3 || !segments[^1].EndsWith(".json", StringComparison.Ordinal))
            return Fail("Ask for a .json file of the tree: /pemilu/hhcw/{contest}[/…].json or /wilayah/pemilu/ppwp/{region…}.json.", out problem);
        segments[^1] = segments[^1][..^".json".Length];
        if (segments[0] == "pemilu" && segments[1] == "hhcw")
        {
            if (!Contests.TryParseSlug(segments[2], out var contest))
                return Fail($"Unknown contest '{segments[2]}'; one of {string.Join(", ", Contests.All.Select(c => c.Slug()))}.", out problem);
            if (segments.Length == 3) return Done(Region(contest, RegionCode.Nasional), out relative, out problem);
            if (!TryChain(segments.AsSpan(3), out var last, out problem)) return false;
            return Done(last.Length == 13 ? Tps(contest, TpsCode.Parse(last)) : Region(contest, RegionCode.Parse(last)), out relative, out problem);
        }
        if (segments[0] == "pemilu" && segments[1] == "anomali")
        {
            if (!Contests.TryParseSlug(segments[2], out var contest))
                return Fail($"Unknown contest '{segments[2]}'; one of {string.Join(", ", Contests.All.Select(c => c.Slug()))}.", out problem);
            if (segments.Length == 3) return Done(Flags(contest, RegionCode.Nasional), out relative, out problem);
            if (segments.Length != 4) return Fail("Flags are listed per province: /pemilu/anomali/{contest}/{p}.json.", out problem);
            if (!TryChain(segments.AsSpan(3), out var province, out problem)) return false;
            return Done(Flags(contest, RegionCode.Parse(province)), out relative, out problem);
        }
        if (segments.Length >= 4 && segments[0] == "wilayah" && segments[1] == "pemilu" && segments[2] == "ppwp")
        {
            if (segments is [_, _, _, "0"]) return Done(Wilayah(RegionCode.Nasional), out relative, out problem);
            if (!TryChain(segments.AsSpan(3), out var last, out problem)) return false;
            if (last.Length == 13) return Fail("A TPS has no listing: its desa's lists it.", out problem);
            return Done(Wilayah(RegionCode.Parse(last)), out relative, out problem);
        }
        return Fail("Not a file of the public tree.", out problem);
    }

    private static readonly int[] Lengths = [2, 4, 6, 10, 13];

    /// <summary>Region codes from the province down, each the next level's length and inside the one before it.</summary>
    private static bool TryChain(ReadOnlySpan<string> segments, out string last, [NotNullWhen(false)] out string? problem)
    {
        last = "";
        if (segments.Length > Lengths.Length) return Fail("Too deep: the tree ends at the TPS.", out problem);
        for (int i = 0; i < segments.Length; i++)
        {
            var s = segments[i];
            if (s.Length != Lengths[i] || !s.All(char.IsAsciiDigit))
                return Fail($"'{s}' is not a {Lengths[i]}-digit region code at this depth.", out problem);
            if (i > 0 && !s.StartsWith(segments[i - 1], StringComparison.Ordinal))
                return Fail($"'{s}' does not lie in '{segments[i - 1]}'.", out problem);
            last = s;
        }
        problem = null;
        return true;
    }

    private static bool Done(string file, out string? relative, out string? problem)
    {
        (relative, problem) = (file, null);
        return true;
    }

    private static bool Fail(string why, [NotNullWhen(false)] out string? problem)
    {
        problem = why;
        return false;
    }
}
