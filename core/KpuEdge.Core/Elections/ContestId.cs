using System.Text.Json.Serialization;

namespace KpuEdge.Core.Elections;

/// <summary>The five contests of a general election (Pemilu), one ballot and one C.Hasil form set each.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ContestId>))]
public enum ContestId
{
    /// <summary>President and vice-president pairs (Pemilihan Presiden dan Wakil Presiden).</summary>
    [JsonStringEnumMemberName("ppwp")] Ppwp = 1,
    /// <summary>House of Representatives (DPR RI), parties and candidates per dapil.</summary>
    [JsonStringEnumMemberName("dpr")] Dpr = 2,
    /// <summary>Regional Representative Council (DPD), individual candidates per province.</summary>
    [JsonStringEnumMemberName("dpd")] Dpd = 3,
    /// <summary>Provincial legislature (DPRD Provinsi).</summary>
    [JsonStringEnumMemberName("dprd-prov")] DprdProvinsi = 4,
    /// <summary>Regency/city legislature (DPRD Kabupaten/Kota); Jakarta has none.</summary>
    [JsonStringEnumMemberName("dprd-kab")] DprdKabKota = 5,
}

public static class Contests
{
    public static IReadOnlyList<ContestId> All { get; } =
        [ContestId.Ppwp, ContestId.Dpr, ContestId.Dpd, ContestId.DprdProvinsi, ContestId.DprdKabKota];

    /// <summary>The short name used in MQTT topics and API paths.</summary>
    public static string Slug(this ContestId contest) => contest switch
    {
        ContestId.Ppwp => "ppwp",
        ContestId.Dpr => "dpr",
        ContestId.Dpd => "dpd",
        ContestId.DprdProvinsi => "dprd-prov",
        ContestId.DprdKabKota => "dprd-kab",
        _ => throw new ArgumentOutOfRangeException(nameof(contest)),
    };

    public static bool TryParseSlug(string? slug, out ContestId contest)
    {
        foreach (var c in All)
        {
            if (string.Equals(c.Slug(), slug, StringComparison.OrdinalIgnoreCase))
            {
                contest = c;
                return true;
            }
        }
        contest = default;
        return false;
    }

    public static bool IsDefined(int value) => value is >= 1 and <= 5;

    /// <summary>Party contests count votes per party and per candidate.</summary>
    public static bool IsPartyContest(this ContestId contest) =>
        contest is ContestId.Dpr or ContestId.DprdProvinsi or ContestId.DprdKabKota;
}
