using System.Diagnostics.CodeAnalysis;

namespace KpuEdge.Core.Regions;

/// <summary>The levels of the Indonesian administrative hierarchy as KPU uses them for the recap.</summary>
public enum RegionLevel
{
    Nasional = 0,
    Provinsi = 1,
    KabKota = 2,
    Kecamatan = 3,
    Desa = 4,
    Tps = 5,
}

/// <summary>
/// A Kemendagri region code (provinsi 2 digits, kab/kota 4, kecamatan 6, desa 10, TPS 13) or the
/// national root (empty). Cannot hold a malformed code: build it with <see cref="Parse"/> or <see cref="TryParse"/>.
/// </summary>
public readonly record struct RegionCode : IComparable<RegionCode>
{
    private static readonly int[] LengthByLevel = [0, 2, 4, 6, 10, 13];

    private readonly string? _value;

    private RegionCode(string value, RegionLevel level)
    {
        _value = value;
        Level = level;
    }

    public static RegionCode Nasional => default;

    /// <summary>The digits of the code; empty for the national root.</summary>
    public string Value => _value ?? "";

    public RegionLevel Level { get; }

    public bool IsNasional => Level == RegionLevel.Nasional;

    public static int CodeLength(RegionLevel level) => LengthByLevel[(int)level];

    /// <summary>Accepts "", "0" or "nasional" for the root, otherwise 2, 4, 6, 10 or 13 digits.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out RegionCode code)
    {
        code = default;
        if (text is null) return false;
        if (text is "" or "0" || text.Equals("nasional", StringComparison.OrdinalIgnoreCase)) return true;
        int level = Array.IndexOf(LengthByLevel, text.Length);
        if (level <= 0) return false;
        foreach (char c in text)
        {
            if (c is < '0' or > '9') return false;
        }
        // Each segment of a real code is non-zero: province 11..99, TPS number 001..999, and so on.
        if (text[0] == '0') return false;
        for (int l = 2; l <= level; l++)
        {
            int start = LengthByLevel[l - 1], end = LengthByLevel[l];
            if (text.AsSpan(start, end - start).IndexOfAnyExcept('0') < 0) return false;
        }
        code = new RegionCode(text, (RegionLevel)level);
        return true;
    }

    public static RegionCode Parse(string text) =>
        TryParse(text, out var code) ? code : throw new FormatException($"Not a region code: '{text}'.");

    /// <summary>The parent region; the national root is its own parent.</summary>
    public RegionCode Parent => Level == RegionLevel.Nasional ? this : AncestorAt(Level - 1);

    public RegionCode AncestorAt(RegionLevel level)
    {
        if (level > Level) throw new ArgumentOutOfRangeException(nameof(level), $"{this} has no ancestor at {level}.");
        if (level == Level) return this;
        if (level == RegionLevel.Nasional) return Nasional;
        return new RegionCode(Value[..LengthByLevel[(int)level]], level);
    }

    /// <summary>True if <paramref name="other"/> is this region or lies inside it.</summary>
    public bool Contains(RegionCode other) => other.Level >= Level && other.Value.StartsWith(Value, StringComparison.Ordinal);

    public int CompareTo(RegionCode other) => string.CompareOrdinal(Value, other.Value);

    /// <summary>The code as the public API writes it: "0" for the national root.</summary>
    public override string ToString() => IsNasional ? "0" : Value;
}

/// <summary>A polling station code: the 10-digit desa code followed by the 3-digit TPS number.</summary>
public readonly record struct TpsCode : IComparable<TpsCode>
{
    private TpsCode(RegionCode region) => Region = region;

    public RegionCode Region { get; }

    public string Value => Region.Value;

    public RegionCode Desa => Region.Parent;

    public int Number => int.Parse(Value.AsSpan(10, 3));

    public static bool TryParse([NotNullWhen(true)] string? text, out TpsCode code)
    {
        code = default;
        if (!RegionCode.TryParse(text, out var region) || region.Level != RegionLevel.Tps) return false;
        code = new TpsCode(region);
        return true;
    }

    public static TpsCode Parse(string text) =>
        TryParse(text, out var code) ? code : throw new FormatException($"Not a TPS code (13 digits): '{text}'.");

    public static TpsCode Of(RegionCode desa, int number)
    {
        if (desa.Level != RegionLevel.Desa) throw new ArgumentException($"{desa} is not a desa code.", nameof(desa));
        if (number is < 1 or > 999) throw new ArgumentOutOfRangeException(nameof(number), "A TPS number is 1..999.");
        return Parse(desa.Value + number.ToString("D3"));
    }

    public int CompareTo(TpsCode other) => Region.CompareTo(other.Region);

    public override string ToString() => Value;
}
