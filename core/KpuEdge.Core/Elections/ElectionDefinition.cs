using KpuEdge.Core.Protocol;
using System.Text.Json;
using System.Text.Json.Serialization;
using KpuEdge.Core.Regions;

namespace KpuEdge.Core.Elections;

/// <param name="KpuId">KPU's own id of the pair, as Sirekap's public JSON keys it (2024: "100025" for pair 1); null: the number.</param>
public sealed record Pair(int Number, string Name, string? KpuId = null)
{
    /// <summary>The key the Sirekap-shaped public files use for this pair.</summary>
    public string PublicKey => KpuId ?? Number.ToString();
}

/// <param name="KpuId">KPU's own id of the party in its public JSON; null: the ballot number.</param>
public sealed record Party(int Number, string Abbreviation, string Name, string? KpuId = null)
{
    public string PublicKey => KpuId ?? Number.ToString();
}

/// <summary>The span of device times in which a genuine device signs an election's forms.</summary>
public sealed record SigningWindow(DateTimeOffset Opens, DateTimeOffset Closes)
{
    public bool Contains(DateTimeOffset deviceTime) => deviceTime >= Opens && deviceTime <= Closes;

    /// <summary>
    /// The window of an election on <paramref name="date"/>: from midnight of voting day in the easternmost time zone
    /// (WIT, UTC+9) until the national recap's deadline (35 days later, seed ch. III) ends in the westernmost (WIB,
    /// UTC+7), widened by <paramref name="tolerance"/> on both sides for device clocks.
    /// </summary>
    public static SigningWindow ForVotingDay(DateOnly date, TimeSpan tolerance) => new(
        new DateTimeOffset(date.ToDateTime(TimeOnly.MinValue), TimeSpan.FromHours(9)) - tolerance,
        new DateTimeOffset(date.AddDays(36).ToDateTime(TimeOnly.MinValue), TimeSpan.FromHours(7)) + tolerance);
}

/// <summary>How electoral districts (dapil) of a party contest are cut from the real regions.</summary>
/// <param name="RegionsPerDapil">Consecutive kab/kota (DPR, DPRD Provinsi) or kecamatan (DPRD Kab/Kota) per dapil.</param>
/// <param name="CandidatesPerParty">Candidates each party lists in every dapil.</param>
public sealed record DapilRule(int RegionsPerDapil, int CandidatesPerParty);

/// <summary>
/// What is on the ballots of one election. Dapil boundaries and candidate lists are derived from
/// the real region tree by <see cref="DapilRule"/>s (candidate names are synthetic). Loaded from
/// JSON, or <see cref="Default"/> for Pemilu 2024.
/// </summary>
public sealed record ElectionDefinition
{
    public required string ElectionId { get; init; }
    public required string Name { get; init; }
    public required DateOnly Date { get; init; }
    public required IReadOnlyList<Pair> PpwpPairs { get; init; }
    public required IReadOnlyList<Party> Parties { get; init; }
    public required DapilRule Dpr { get; init; }
    public required DapilRule DprdProvinsi { get; init; }
    public required DapilRule DprdKabKota { get; init; }
    public required int DpdCandidatesPerProvince { get; init; }
    /// <summary>
    /// When devices may sign this election's forms (device time, UTC): from the opening of the polls to the end of the
    /// national recap, with a tolerance for device clocks. A form signed outside it is refused
    /// (<c>device_time_out_of_range</c>). Null: no window (the built-in definition, which demos run at today's date);
    /// the device time is then only bounded by the cloud's clock.
    /// </summary>
    public SigningWindow? SigningWindow { get; init; }
    /// <summary>Provinces whose kab/kota have no DPRD (DKI Jakarta: administrative cities).</summary>
    public IReadOnlyList<string> ProvincesWithoutDprdKabKota { get; init; } = ["31"];

    public static readonly JsonSerializerOptions Json = KpuJson.Files;

    /// <summary>Pemilu 14 February 2024: the three PPWP pairs and the 18 national parties with their ballot numbers.</summary>
    public static ElectionDefinition Default { get; } = new()
    {
        ElectionId = "pemilu-2024",
        Name = "Pemilihan Umum 2024",
        Date = new DateOnly(2024, 2, 14),
        PpwpPairs =
        [
            new(1, "H. Anies Rasyid Baswedan, Ph.D. - Dr. (H.C.) H. A. Muhaimin Iskandar", "100025"),
            new(2, "H. Prabowo Subianto - Gibran Rakabuming Raka", "100026"),
            new(3, "H. Ganjar Pranowo, S.H., M.I.P. - Prof. Dr. H. M. Mahfud MD", "100027"),
        ],
        Parties =
        [
            new(1, "PKB", "Partai Kebangkitan Bangsa"),
            new(2, "GERINDRA", "Partai Gerakan Indonesia Raya"),
            new(3, "PDIP", "Partai Demokrasi Indonesia Perjuangan"),
            new(4, "GOLKAR", "Partai Golongan Karya"),
            new(5, "NASDEM", "Partai NasDem"),
            new(6, "BURUH", "Partai Buruh"),
            new(7, "GELORA", "Partai Gelombang Rakyat Indonesia"),
            new(8, "PKS", "Partai Keadilan Sejahtera"),
            new(9, "PKN", "Partai Kebangkitan Nusantara"),
            new(10, "HANURA", "Partai Hati Nurani Rakyat"),
            new(11, "GARUDA", "Partai Garda Republik Indonesia"),
            new(12, "PAN", "Partai Amanat Nasional"),
            new(13, "PBB", "Partai Bulan Bintang"),
            new(14, "DEMOKRAT", "Partai Demokrat"),
            new(15, "PSI", "Partai Solidaritas Indonesia"),
            new(16, "PERINDO", "Partai Persatuan Indonesia"),
            new(17, "PPP", "Partai Persatuan Pembangunan"),
            new(24, "UMMAT", "Partai Ummat"),
        ],
        Dpr = new DapilRule(RegionsPerDapil: 6, CandidatesPerParty: 8),
        DprdProvinsi = new DapilRule(RegionsPerDapil: 2, CandidatesPerParty: 8),
        DprdKabKota = new DapilRule(RegionsPerDapil: 3, CandidatesPerParty: 6),
        DpdCandidatesPerProvince = 12,
    };

    public static ElectionDefinition Load(string path)
    {
        using var stream = File.OpenRead(path);
        return JsonSerializer.Deserialize<ElectionDefinition>(stream, Json)
               ?? throw new InvalidDataException($"{path} holds no election definition.");
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>
    /// The key a choice has in the Sirekap-shaped public files: KPU's id of a pair or party where the definition carries
    /// one, else the recap's own key (a DPD candidate's names its province).
    /// </summary>
    public string PublicKey(ContestId contest, string recapKey)
    {
        if (!int.TryParse(recapKey, out int number)) return recapKey;
        if (contest == ContestId.Ppwp) return PpwpPairs.FirstOrDefault(p => p.Number == number)?.PublicKey ?? recapKey;
        if (contest.IsPartyContest()) return Parties.FirstOrDefault(p => p.Number == number)?.PublicKey ?? recapKey;
        return recapKey;
    }

    /// <summary>Contests held at a TPS: all five, except DPRD Kab/Kota where a province has none.</summary>
    public IEnumerable<ContestId> ContestsAt(TpsCode tps) =>
        Contests.All.Where(c => c != ContestId.DprdKabKota ||
                                !ProvincesWithoutDprdKabKota.Contains(tps.Region.AncestorAt(RegionLevel.Provinsi).Value));

    [JsonIgnore]
    public BallotCatalog? CachedCatalog { get; private set; }

    /// <summary>The ballots of this election over a region tree (dapil derived once, then cached).</summary>
    public BallotCatalog Ballots(RegionTree tree)
    {
        var catalog = CachedCatalog;
        // A `with` copy carries the cache along: it is only valid for the definition that built it.
        if (catalog is null || !ReferenceEquals(catalog.Tree, tree) || !ReferenceEquals(catalog.Election, this))
        {
            catalog = new BallotCatalog(this, tree);
            CachedCatalog = catalog;
        }
        return catalog;
    }
}
