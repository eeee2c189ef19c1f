using KpuEdge.Core.Elections;

namespace KpuEdge.Simulator.Replay;

/// <summary>
/// The spellings of a contest a results file may use. Case is ignored, and so are spaces, <c>-</c>, <c>_</c>,
/// <c>/</c> and <c>.</c>; what remains must be one of:
/// <list type="bullet">
/// <item>PPWP: <c>ppwp</c>, <c>pilpres</c>, <c>presiden</c></item>
/// <item>DPR: <c>dpr</c>, <c>dprri</c></item>
/// <item>DPD: <c>dpd</c>, <c>dpdri</c></item>
/// <item>DPRD Provinsi: <c>dprdprov</c>, <c>dprdprovinsi</c></item>
/// <item>DPRD Kab/Kota: <c>dprdkab</c>, <c>dprdkota</c>, <c>dprdkabkota</c></item>
/// </list>
/// So the project's slugs (<c>ppwp</c>, <c>dpr</c>, <c>dpd</c>, <c>dprd-prov</c>, <c>dprd-kab</c>), the enum names
/// (<c>DprdProvinsi</c>) and KPU's own writing (<c>DPR RI</c>, <c>DPRD Kab/Kota</c>) are all accepted.
/// </summary>
public static class ReplayContests
{
    private static readonly (string Spelling, ContestId Contest)[] Spellings =
    [
        ("ppwp", ContestId.Ppwp), ("pilpres", ContestId.Ppwp), ("presiden", ContestId.Ppwp),
        ("dpr", ContestId.Dpr), ("dprri", ContestId.Dpr),
        ("dpd", ContestId.Dpd), ("dpdri", ContestId.Dpd),
        ("dprdprov", ContestId.DprdProvinsi), ("dprdprovinsi", ContestId.DprdProvinsi),
        ("dprdkab", ContestId.DprdKabKota), ("dprdkota", ContestId.DprdKabKota), ("dprdkabkota", ContestId.DprdKabKota),
    ];

    /// <summary>Every accepted spelling after normalising, for documentation and error messages.</summary>
    public static IEnumerable<string> Accepted => Spellings.Select(s => s.Spelling);

    public static bool TryParse(ReadOnlySpan<char> text, out ContestId contest)
    {
        contest = default;
        Span<char> normal = stackalloc char[16];
        int length = 0;
        foreach (char c in text)
        {
            if (c is ' ' or '-' or '_' or '/' or '.') continue;
            if (length == normal.Length) return false;
            normal[length++] = char.ToLowerInvariant(c);
        }
        foreach (var (spelling, id) in Spellings)
        {
            if (normal[..length].SequenceEqual(spelling))
            {
                contest = id;
                return true;
            }
        }
        return false;
    }
}
