using System.Globalization;
using nietras.SeparatedValues;

namespace KpuEdge.Simulator.Replay;

/// <summary>How both replay files are read and written: comma-separated, RFC 4180 quoting, a header row, UTF-8.</summary>
internal static class ReplayCsv
{
    /// <summary>
    /// Quotes are unescaped; spaces around a field are trimmed (outside and inside quotes); the field count is checked
    /// per row by the loaders so a short row is refused alone instead of ending the read.
    /// </summary>
    public static SepReader OpenReader(Stream stream, string file)
    {
        try
        {
            return Sep.New(',').Reader(o => o with
            {
                Unescape = true,
                Trim = SepTrim.All,
                DisableColCountCheck = true,
                ColNameComparer = StringComparer.OrdinalIgnoreCase,
                CultureInfo = CultureInfo.InvariantCulture,
            }).From(stream, leaveOpen: true);
        }
        catch (ArgumentException e) // a column named twice in the header
        {
            throw new InvalidDataException($"{file}: {e.Message}", e);
        }
    }

    /// <summary>An empty line: skipped, not a row.</summary>
    public static bool IsBlank(SepReader.Row row) => row.ColCount == 1 && row.Span.IsEmpty;

    /// <summary>Why a row has the wrong number of fields; a row over several lines likely has an unclosed quote.</summary>
    public static string FieldCountProblem(SepReader.Row row, int expected)
    {
        string text = $"{row.ColCount} fields, the header has {expected}.";
        if (row.LineNumberToExcl - row.LineNumberFrom > 1)
            text += $" The row runs on past line {row.LineNumberFrom}: an unclosed quote?";
        return text;
    }

    public static SepWriter OpenWriter(string path) =>
        Sep.New(',').Writer(o => o with
        {
            Escape = true,
            ColNotSetOption = SepColNotSetOption.Empty,
            CultureInfo = CultureInfo.InvariantCulture,
        }).ToFile(path);

    /// <summary>The index of each required column; a missing or unexpected column fails the whole file.</summary>
    public static int[] RequireColumns(SepReader reader, string file, IReadOnlyList<string> required, Func<string, bool>? alsoAllowed = null)
    {
        if (reader.Header.IsEmpty)
            throw new InvalidDataException($"{file}: no header; expected {string.Join(',', required)}.");
        var indices = new int[required.Count];
        for (int i = 0; i < required.Count; i++)
        {
            if (!reader.Header.TryIndexOf(required[i], out indices[i]))
                throw new InvalidDataException($"{file}: the header lacks column '{required[i]}'; expected {string.Join(',', required)}.");
        }
        foreach (string name in reader.Header.ColNames)
        {
            if (!required.Contains(name, StringComparer.OrdinalIgnoreCase) && !(alsoAllowed?.Invoke(name) ?? false))
                throw new InvalidDataException($"{file}: unexpected column '{name}' in the header; expected {string.Join(',', required)}.");
        }
        return indices;
    }

    public enum Number { Empty, Value, Bad }

    /// <summary>A whole number written with digits only (no sign, separators or decimals), or an empty field.</summary>
    public static Number ParseNumber(ReadOnlySpan<char> text, out int value)
    {
        value = 0;
        if (text.IsEmpty) return Number.Empty;
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) ? Number.Value : Number.Bad;
    }
}
