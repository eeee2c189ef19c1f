using System.Reflection;
using Microsoft.VisualBasic.FileIO;

namespace KpuEdge.Core.Regions;

/// <summary>A region of the hierarchy (provinsi down to desa) with its name and TPS count.</summary>
public sealed class Region
{
    internal readonly List<RegionCode> ChildList = [];

    internal Region(RegionCode code, string name) => (Code, Name) = (code, name);

    public RegionCode Code { get; }
    public string Name { get; }
    public RegionLevel Level => Code.Level;
    public IReadOnlyList<RegionCode> Children => ChildList;

    /// <summary>Number of TPS inside this region.</summary>
    public int TpsCount { get; internal set; }
}

/// <summary>
/// The region tree: provinsi down to desa with their TPS. <see cref="LoadEmbedded"/> gives the real 2024 tree
/// (38 provinsi, 514 kab/kota, 7,277 kecamatan, 83,731 desa and their 820,161 TPS), loaded once from the
/// vendored CSVs; <see cref="RegionTreeBuilder"/> builds any other (a replayed election's). Read-only and safe to share.
/// </summary>
public sealed class RegionTree
{
    private readonly Dictionary<RegionCode, Region> _regions = new();
    private readonly Dictionary<RegionCode, int[]> _tpsNumbersByDesa = new();

    private static readonly Lazy<RegionTree> Embedded = new(() =>
    {
        var assembly = typeof(RegionTree).Assembly;
        using var wilayah = Open(assembly, "KpuEdge.Core.Data.wilayah.csv");
        using var tps = Open(assembly, "KpuEdge.Core.Data.tps.csv");
        return Load(wilayah, tps);
    });

    private RegionTree() { }

    /// <summary>The vendored 2024 tree, loaded on first use and shared.</summary>
    public static RegionTree LoadEmbedded() => Embedded.Value;

    public Region Nasional => _regions[RegionCode.Nasional];

    public int TpsTotal => Nasional.TpsCount;

    public int Count(RegionLevel level) =>
        level == RegionLevel.Tps ? TpsTotal : _regions.Values.Count(r => r.Level == level);

    public bool TryGet(RegionCode code, out Region region) => _regions.TryGetValue(code, out region!);

    public Region this[RegionCode code] =>
        _regions.TryGetValue(code, out var region) ? region : throw new KeyNotFoundException($"Unknown region {code}.");

    public bool Contains(TpsCode tps) =>
        _tpsNumbersByDesa.TryGetValue(tps.Desa, out var numbers) && Array.BinarySearch(numbers, tps.Number) >= 0;

    /// <summary>Name of a region, or the TPS label for a TPS code.</summary>
    public string NameOf(RegionCode code) =>
        code.Level == RegionLevel.Tps ? $"TPS {code.Value[10..]}" : this[code].Name;

    public IReadOnlyList<int> TpsNumbers(RegionCode desa) =>
        _tpsNumbersByDesa.TryGetValue(desa, out var numbers) ? numbers : [];

    /// <summary>Children of a region; for a desa, its TPS codes.</summary>
    public IEnumerable<RegionCode> ChildrenOf(RegionCode code)
    {
        if (code.Level == RegionLevel.Desa) return TpsNumbers(code).Select(n => TpsCode.Of(code, n).Region);
        return TryGet(code, out var region) ? region.Children : [];
    }

    /// <summary>Every TPS inside the region, in code order.</summary>
    public IEnumerable<TpsCode> TpsIn(RegionCode code)
    {
        if (code.Level == RegionLevel.Tps)
        {
            var tps = TpsCode.Parse(code.Value);
            if (Contains(tps)) yield return tps;
            yield break;
        }
        if (code.Level == RegionLevel.Desa)
        {
            foreach (int n in TpsNumbers(code)) yield return TpsCode.Of(code, n);
            yield break;
        }
        foreach (var child in ChildrenOf(code))
        foreach (var tps in TpsIn(child))
            yield return tps;
    }

    public int TpsCountOf(RegionCode code) => code.Level switch
    {
        RegionLevel.Tps => TpsCode.TryParse(code.Value, out var t) && Contains(t) ? 1 : 0,
        _ => TryGet(code, out var region) ? region.TpsCount : 0,
    };

    /// <summary>
    /// Reads the vendored format: <c>wilayah.csv</c> (<c>code,name,level,parent</c>) and <c>tps.csv</c>
    /// (<c>village_code,tps_numbers,tps_count</c>, numbers as ranges such as <c>1-4;901-902</c>).
    /// </summary>
    public static RegionTree Load(Stream wilayahCsv, Stream tpsCsv)
    {
        var builder = new RegionTreeBuilder();
        foreach (var fields in ReadCsv(wilayahCsv, "wilayah.csv", 4))
        {
            var code = RegionCode.Parse(fields[0]);
            if ((int)code.Level != int.Parse(fields[2]))
                throw new InvalidDataException($"wilayah.csv: level of {code} is {fields[2]}.");
            builder.AddRegion(code, fields[1]);
        }
        foreach (var fields in ReadCsv(tpsCsv, "tps.csv", 3))
        {
            var desa = RegionCode.Parse(fields[0]);
            var numbers = ParseRanges(fields[1]);
            if (numbers.Length != int.Parse(fields[2]))
                throw new InvalidDataException($"tps.csv: {desa} lists {numbers.Length} TPS, says {fields[2]}.");
            builder.AddTps(desa, numbers);
        }
        return builder.Build();
    }

    /// <summary>Assembles a tree from regions already checked by <see cref="RegionTreeBuilder"/>.</summary>
    internal static RegionTree Assemble(IReadOnlyDictionary<RegionCode, string> names, IReadOnlyDictionary<RegionCode, int[]> tpsNumbersByDesa)
    {
        var tree = new RegionTree();
        foreach (var (code, name) in names) tree._regions.Add(code, new Region(code, name));
        foreach (var region in tree._regions.Values)
        {
            if (region.Code.IsNasional) continue;
            tree._regions[region.Code.Parent].ChildList.Add(region.Code);
        }
        foreach (var region in tree._regions.Values) region.ChildList.Sort();
        foreach (var (desa, numbers) in tpsNumbersByDesa)
        {
            tree._tpsNumbersByDesa[desa] = numbers;
            for (var code = desa; ; code = code.Parent)
            {
                tree._regions[code].TpsCount += numbers.Length;
                if (code.IsNasional) break;
            }
        }
        return tree;
    }

    /// <summary>Parses "1-4;901-902" into sorted TPS numbers.</summary>
    internal static int[] ParseRanges(string ranges)
    {
        var numbers = new List<int>();
        foreach (var range in ranges.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            int dash = range.IndexOf('-');
            int from = int.Parse(dash < 0 ? range : range[..dash]);
            int to = dash < 0 ? from : int.Parse(range[(dash + 1)..]);
            if (from < 1 || to > 999 || to < from) throw new InvalidDataException($"Bad TPS range '{range}'.");
            for (int n = from; n <= to; n++) numbers.Add(n);
        }
        numbers.Sort();
        return numbers.ToArray();
    }

    /// <summary>Rows of a CSV file after its header (names such as "LUBUK PAKAM I,II" are quoted).</summary>
    private static IEnumerable<string[]> ReadCsv(Stream csv, string name, int columns)
    {
        using var parser = new TextFieldParser(csv) { TextFieldType = FieldType.Delimited, HasFieldsEnclosedInQuotes = true };
        parser.SetDelimiters(",");
        parser.ReadFields(); // header
        while (parser.ReadFields() is { } fields)
        {
            if (fields.Length != columns)
                throw new InvalidDataException($"{name}: line {parser.LineNumber} has {fields.Length} fields, expected {columns}.");
            yield return fields;
        }
    }

    private static Stream Open(Assembly assembly, string name) =>
        assembly.GetManifestResourceStream(name) ?? throw new InvalidOperationException($"Missing resource {name}.");
}
