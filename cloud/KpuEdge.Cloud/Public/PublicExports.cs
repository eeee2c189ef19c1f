using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using KpuEdge.Cloud.Recap;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;

namespace KpuEdge.Cloud.Public;

/// <summary>A region's (or TPS's) published file, read back: what the exports are made of.</summary>
public sealed record PublishedRegion(RegionCode Region, ContestId Contest, JsonObject File)
{
    public JsonObject Chart => File["chart"]!.AsObject();
    public JsonObject? Table => File["table"] as JsonObject;
    public long Size => File["checkpoint"]!["size"]!.GetValue<long>();
    public string Root => File["checkpoint"]!["root"]!.GetValue<string>();
    public string Ts => File["ts"]!.GetValue<string>();

    /// <summary>The choice keys in chart order (Sirekap's public keys).</summary>
    public IEnumerable<string> ChoiceKeys => Chart.Select(c => c.Key).Where(k => k is not ("persen" or "null"));

    public long Administrasi(string key) => File["administrasi"]?[key]?.GetValue<long>() ?? 0;

    /// <summary>TPS reported and expected: a region's <c>progres</c>; a TPS file is one TPS that reported.</summary>
    public (long Reported, long Total) Progress =>
        File["progres"] is JsonObject p ? (p["progres"]!.GetValue<long>(), p["total"]!.GetValue<long>()) : (1, 1);
}

/// <summary>
/// Reads the public tree's files for the exports (CSV, NIST SP 1500-100): every export is made of published files only,
/// so it names the checkpoint its numbers are from and costs the ledger nothing.
/// </summary>
public sealed class PublicTreeReader(PublicTreeBuilder builder, RecapContext context)
{
    /// <summary>Most files one export reads: a wider one is refused (ask per province, or a level up).</summary>
    public const int MaxFilesPerExport = 10_000;

    public RecapContext Context => context;

    public PublishedRegion? Read(ContestId contest, RegionCode region)
    {
        var relative = region.Level == RegionLevel.Tps
            ? PublicTreePaths.Tps(contest, TpsCode.Parse(region.Value))
            : PublicTreePaths.Region(contest, region);
        var path = Path.Combine(builder.Root, relative);
        if (!File.Exists(path)) return null;
        using var stream = File.OpenRead(path);
        return new PublishedRegion(region, contest, JsonNode.Parse(stream)!.AsObject());
    }

    /// <summary>The regions at <paramref name="level"/> inside <paramref name="region"/>, in code order.</summary>
    public IEnumerable<RegionCode> Within(RegionCode region, RegionLevel level)
    {
        if (region.Level == level) return [region];
        return context.Tree.ChildrenOf(region).SelectMany(child => Within(child, level));
    }

    /// <summary>How many regions lie at <paramref name="level"/> inside <paramref name="region"/> (without listing them).</summary>
    public long CountWithin(RegionCode region, RegionLevel level) => level switch
    {
        RegionLevel.Tps => context.Tree.TpsCountOf(region),
        _ when level == region.Level => 1,
        _ => context.Tree.ChildrenOf(region).Sum(child => CountWithin(child, level)),
    };
}

/// <summary>
/// CSV of a contest: one row per region at a level inside a region (its children unless asked); the lines starting with
/// <c>#</c> before the header name the newest checkpoint the numbers are from and what each choice column is. Each row's
/// <c>checkpoint</c> column is the log size of the file it was read from (0: no file, nothing counted there): the row is
/// the log's count at that size, which holds even for an export read while a build was writing the tree
/// (<c>kpu-verify export</c> checks each row at its own size).
/// </summary>
public static class CsvExport
{
    public static string Write(PublicTreeReader reader, ContestId contest, RegionCode region, RegionLevel level)
    {
        var parent = region.Level == RegionLevel.Tps ? null : reader.Read(contest, region);
        var keys = parent?.ChoiceKeys.ToList() ?? [];
        var election = reader.Context.Election;
        var csv = new StringBuilder();
        long size = parent?.Size ?? 0;
        string root = parent?.Root ?? "";
        var rows = new List<(RegionCode Code, JsonObject? Row, long Size)>();
        // A level's rows live in the files of the level above it.
        foreach (var holder in reader.Within(region, level - 1))
        {
            var file = holder == region ? parent : reader.Read(contest, holder);
            if (file is not null && file.Size > size) (size, root) = (file.Size, file.Root);
            foreach (var child in reader.Context.Tree.ChildrenOf(holder))
                rows.Add((child, file?.Table?[child.Value] as JsonObject, file?.Size ?? 0));
        }
        csv.Append("# KpuEdge ").Append(election.ElectionId).Append(' ').Append(contest.Slug()).Append(", region ").Append(region)
            .Append(", level ").Append(level.ToString().ToLowerInvariant()).Append('\n');
        csv.Append("# checkpoint size=").Append(size).Append(" root=").Append(root)
            .Append(" (the newest; each row is the log's count at the size in its checkpoint column: GET /api/v1/log/checkpoint, /pemilu/snapshot.json)\n");
        // Columns are the choices' public keys (as the JSON files key them); what each is, in a line of its own.
        foreach (var key in keys) csv.Append("# ").Append(key).Append(" = ").Append(ChoiceLabel(election, contest, key).ReplaceLineEndings(" ")).Append('\n');
        csv.Append("kode,nama");
        foreach (var key in keys) csv.Append(',').Append(Field(key));
        csv.Append(",suara_sah,suara_tidak_sah,suara_total,pemilih_dpt_j,pengguna_total_j,tps_dilaporkan,tps_total,checkpoint\n");
        foreach (var (code, row, rowSize) in rows)
        {
            csv.Append(code.Value).Append(',').Append(Field(Name(reader, code)));
            foreach (var key in keys) csv.Append(',').Append(Number(row?[key]));
            var adm = row?["administrasi"] as JsonObject;
            foreach (var name in (string[])["suara_sah", "suara_tidak_sah", "suara_total", "pemilih_dpt_j", "pengguna_total_j"])
                csv.Append(',').Append(Number(adm?[name]));
            csv.Append(',').Append(row?["tps_reported"]?.GetValue<long>() ?? 0)
                .Append(',').Append(reader.Context.TpsExpected(contest, code)).Append(',').Append(rowSize).Append('\n');
        }
        return csv.ToString();
    }

    private static string Name(PublicTreeReader reader, RegionCode code) =>
        code.Level == RegionLevel.Tps ? $"TPS {TpsCode.Parse(code.Value).Number:D3}" : reader.Context.Tree.NameOf(code);

    public static string ChoiceLabel(ElectionDefinition election, ContestId contest, string key)
    {
        if (contest == ContestId.Ppwp && election.PpwpPairs.FirstOrDefault(p => p.PublicKey == key) is { } pair) return $"{pair.Number} {pair.Name}";
        if (contest.IsPartyContest() && election.Parties.FirstOrDefault(p => p.PublicKey == key) is { } party) return $"{party.Number} {party.Abbreviation}";
        return key;
    }

    private static string Number(JsonNode? value) => value is null ? "" : value.GetValue<long>().ToString(CultureInfo.InvariantCulture);

    /// <summary>RFC 4180: quoted when it holds a comma, quote or line break; and never read as a formula by a spreadsheet.</summary>
    private static string Field(string text)
    {
        if (text.Length > 0 && text[0] is '=' or '+' or '-' or '@') text = "'" + text;
        return text.IndexOfAny([',', '"', '\n', '\r']) < 0 ? text : $"\"{text.Replace("\"", "\"\"")}\"";
    }
}
