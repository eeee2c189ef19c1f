using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using nietras.SeparatedValues;

namespace KpuEdge.Simulator.Replay;

/// <summary>
/// The polling stations of a replayed election and their registered voters (DPT), read from a registry file
/// (<c>tps_code,dpt,province,regency,district,village</c>, see README.md). The region tree is built from the codes'
/// prefixes with the names given; codes need not be 2024's.
/// </summary>
/// <remarks>
/// A bad row is refused and listed (<see cref="Refused"/>) while the rest load: a code that is not a TPS code, a
/// <c>dpt</c> that is not a whole number 0–999, an empty name, a TPS that has a row already, or a name that
/// disagrees with an earlier row for the same province, regency, district or village code (the earlier row's name
/// stands; the refusal names both lines). A refused row registers nothing, so its TPS's results are refused as
/// unknown. A file whose header lacks a column fails whole.
/// </remarks>
public sealed class ReplayRegistry
{
    public static readonly IReadOnlyList<string> Columns = ["tps_code", "dpt", "province", "regency", "district", "village"];

    private static readonly string[] LevelColumn = ["", "province", "regency", "district", "village"];

    private readonly Dictionary<string, int> _indexByCode;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _indexBySpan;
    private readonly TpsCode[] _codes;
    private readonly int[] _dpt;
    private readonly Dictionary<string, long> _refusedLineByCode;

    private ReplayRegistry(RegionTree tree, Dictionary<string, int> indexByCode, TpsCode[] codes, int[] dpt, IReadOnlyList<RefusedRow> refused, long rows)
    {
        Tree = tree;
        _indexByCode = indexByCode;
        _indexBySpan = indexByCode.GetAlternateLookup<ReadOnlySpan<char>>();
        _codes = codes;
        _dpt = dpt;
        Refused = refused;
        Rows = rows;
        _refusedLineByCode = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var row in refused)
        {
            if (row.Tps is { } code) _refusedLineByCode.TryAdd(code.Value, row.Line);
        }
    }

    /// <summary>The region tree of the registered TPS, with the names the file gives.</summary>
    public RegionTree Tree { get; }

    /// <summary>Registered TPS (rows accepted).</summary>
    public int TpsCount => _codes.Length;

    /// <summary>Data rows read (accepted and refused).</summary>
    public long Rows { get; }

    public IReadOnlyList<RefusedRow> Refused { get; }

    /// <summary>Registered TPS in file order, with their DPT.</summary>
    public IEnumerable<(TpsCode Tps, int Dpt)> Tps => _codes.Select((code, i) => (code, _dpt[i]));

    public bool Contains(TpsCode tps) => _indexByCode.ContainsKey(tps.Value);

    public bool TryGetDpt(TpsCode tps, out int dpt)
    {
        bool found = _indexByCode.TryGetValue(tps.Value, out int index);
        dpt = found ? _dpt[index] : 0;
        return found;
    }

    public int DptOf(TpsCode tps) =>
        TryGetDpt(tps, out int dpt) ? dpt : throw new KeyNotFoundException($"TPS {tps} is not in the registry.");

    /// <summary>The line of the refused registry row of a TPS that has no accepted row, for the results' refusal.</summary>
    public bool TryGetRefusedLine(TpsCode tps, out long line)
    {
        line = 0;
        return !Contains(tps) && _refusedLineByCode.TryGetValue(tps.Value, out line);
    }

    /// <summary>Finds a TPS by its code as written, without allocating: the results loader's lookup per row.</summary>
    internal bool TryFind(ReadOnlySpan<char> code, out int index) => _indexBySpan.TryGetValue(code, out index);

    internal TpsCode CodeAt(int index) => _codes[index];

    internal int DptAt(int index) => _dpt[index];

    public static ReplayRegistry Load(string path)
    {
        using var stream = File.OpenRead(path);
        return Load(stream, Path.GetFileName(path));
    }

    /// <param name="name">The file's name for error messages.</param>
    public static ReplayRegistry Load(Stream utf8Csv, string name = "registry")
    {
        using var reader = ReplayCsv.OpenReader(utf8Csv, name);
        var column = ReplayCsv.RequireColumns(reader, name, Columns);
        int fieldCount = reader.Header.ColNames.Count;

        var builder = new RegionTreeBuilder();
        // Where each region's name was first given, to name both lines when a later row disagrees.
        var namedAt = new Dictionary<RegionCode, (string Name, long Line)>();
        var indexByCode = new Dictionary<string, int>(StringComparer.Ordinal);
        var lineOfTps = new List<long>();
        var codes = new List<TpsCode>();
        var dpt = new List<int>();
        var refused = new List<RefusedRow>();
        var names = new string[5];
        long rows = 0;

        foreach (var row in reader)
        {
            if (ReplayCsv.IsBlank(row)) continue;
            rows++;
            long line = row.LineNumberFrom;
            RefusedRow Refuse(TpsCode? tps, ReplayRefusal refusal, string reason) => new(ReplayFile.Registry, line, tps, null, refusal, reason);

            if (row.ColCount != fieldCount)
            {
                refused.Add(Refuse(null, ReplayRefusal.Malformed, ReplayCsv.FieldCountProblem(row, fieldCount)));
                continue;
            }
            string codeText = row[column[0]].ToString();
            if (!TpsCode.TryParse(codeText, out var tps))
            {
                refused.Add(Refuse(null, ReplayRefusal.BadTpsCode, $"'{codeText}' is not a TPS code (13 digits PP RR DD VVVV TTT, no segment all zeros)."));
                continue;
            }
            if (indexByCode.TryGetValue(tps.Value, out int earlier))
            {
                refused.Add(Refuse(tps, ReplayRefusal.DuplicateTps, $"TPS {tps} has a row already on line {lineOfTps[earlier]}."));
                continue;
            }
            var dptText = row[column[1]].Span;
            if (ReplayCsv.ParseNumber(dptText, out int dptValue) != ReplayCsv.Number.Value || dptValue > C1Validator.MaxValue)
            {
                refused.Add(Refuse(tps, ReplayRefusal.Malformed, $"dpt '{dptText}' is not a whole number 0–{C1Validator.MaxValue}."));
                continue;
            }

            string? problem = null;
            var refusal = ReplayRefusal.Malformed;
            for (var level = RegionLevel.Provinsi; level <= RegionLevel.Desa && problem is null; level++)
            {
                var region = tps.Region.AncestorAt(level);
                var text = row[column[(int)level + 1]].Span;
                if (text.IsEmpty)
                {
                    problem = $"{LevelColumn[(int)level]} of {region} is empty.";
                }
                else if (namedAt.TryGetValue(region, out var first))
                {
                    if (!text.SequenceEqual(first.Name))
                    {
                        refusal = ReplayRefusal.NameConflict;
                        problem = $"{LevelColumn[(int)level]} {region} is '{text}' here but '{first.Name}' on line {first.Line}.";
                    }
                    names[(int)level] = first.Name;
                }
                else
                {
                    names[(int)level] = text.ToString();
                }
            }
            if (problem is not null)
            {
                refused.Add(Refuse(tps, refusal, problem));
                continue;
            }

            // The whole row is good: only now do its new names enter the tree.
            for (var level = RegionLevel.Provinsi; level <= RegionLevel.Desa; level++)
            {
                var region = tps.Region.AncestorAt(level);
                if (namedAt.TryAdd(region, (names[(int)level], line))) builder.AddRegion(region, names[(int)level]);
            }
            builder.AddTps(tps);
            indexByCode.Add(tps.Value, codes.Count);
            codes.Add(tps);
            dpt.Add(dptValue);
            lineOfTps.Add(line);
        }

        return new ReplayRegistry(builder.Build(), indexByCode, codes.ToArray(), dpt.ToArray(), refused, rows);
    }
}
