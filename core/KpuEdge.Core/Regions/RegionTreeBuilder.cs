namespace KpuEdge.Core.Regions;

/// <summary>
/// Builds a <see cref="RegionTree"/> from named regions (provinsi, kab/kota, kecamatan, desa) and TPS codes. The one
/// way trees are made: the vendored 2024 CSVs go through it, and so does a replayed election's registry.
/// </summary>
/// <remarks>
/// Add each region once, in any order; <see cref="Build"/> checks that every region's parent and every TPS's desa
/// were added. Errors are <see cref="InvalidDataException"/>s naming the code.
/// </remarks>
public sealed class RegionTreeBuilder
{
    private readonly Dictionary<RegionCode, string> _names = new() { [RegionCode.Nasional] = "INDONESIA" };
    private readonly Dictionary<RegionCode, List<int>> _tpsNumbersByDesa = new();

    /// <summary>Regions added so far (the national root not counted).</summary>
    public int RegionCount => _names.Count - 1;

    /// <summary>Adds a provinsi, kab/kota, kecamatan or desa with its name.</summary>
    public RegionTreeBuilder AddRegion(RegionCode code, string name)
    {
        if (code.Level is RegionLevel.Nasional or RegionLevel.Tps)
            throw new ArgumentException($"{code} is not a provinsi, kab/kota, kecamatan or desa code.", nameof(code));
        if (string.IsNullOrWhiteSpace(name)) throw new InvalidDataException($"Region {code} has no name.");
        if (!_names.TryAdd(code, name))
            throw new InvalidDataException($"Region {code} is added twice ('{_names[code]}' and '{name}').");
        return this;
    }

    /// <summary>True if the region was added (the national root always is).</summary>
    public bool HasRegion(RegionCode code) => _names.ContainsKey(code);

    public RegionTreeBuilder AddTps(TpsCode tps) => AddTps(tps.Desa, [tps.Number]);

    /// <summary>Adds TPS by number (1..999) to a desa; each TPS once.</summary>
    public RegionTreeBuilder AddTps(RegionCode desa, IEnumerable<int> numbers)
    {
        if (desa.Level != RegionLevel.Desa) throw new ArgumentException($"{desa} is not a desa code.", nameof(desa));
        if (!_tpsNumbersByDesa.TryGetValue(desa, out var list)) _tpsNumbersByDesa[desa] = list = [];
        foreach (int number in numbers)
        {
            if (number is < 1 or > 999) throw new InvalidDataException($"TPS number {number} of {desa} is not 1..999.");
            list.Add(number);
        }
        return this;
    }

    public RegionTree Build()
    {
        foreach (var code in _names.Keys)
        {
            if (!code.IsNasional && !_names.ContainsKey(code.Parent))
                throw new InvalidDataException($"Region {code} has no parent {code.Parent}.");
        }
        var numbersByDesa = new Dictionary<RegionCode, int[]>(_tpsNumbersByDesa.Count);
        foreach (var (desa, list) in _tpsNumbersByDesa)
        {
            if (!_names.ContainsKey(desa)) throw new InvalidDataException($"TPS of unknown desa {desa}.");
            var numbers = list.ToArray();
            Array.Sort(numbers);
            for (int i = 1; i < numbers.Length; i++)
            {
                if (numbers[i] == numbers[i - 1]) throw new InvalidDataException($"TPS {TpsCode.Of(desa, numbers[i])} is added twice.");
            }
            numbersByDesa[desa] = numbers;
        }
        return RegionTree.Assemble(_names, numbersByDesa);
    }
}
