using System.Globalization;
using System.Text.Json.Nodes;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;

namespace KpuEdge.Cloud.Public;

/// <summary>
/// A contest's results in a region as a NIST SP 1500-100 v2 Election Results Common Data Format report (JSON): the
/// region and its children as ReportingUnits (the hierarchy by ComposingGpUnitIds, Kemendagri codes as external
/// identifiers, voters registered and participating, TPS reported of total), the pairs or parties or DPD candidates,
/// and their VoteCounts in the region and in each child, with the region's CountStatus. Made from the published files:
/// the report's Notes and ExternalIdentifier name the log checkpoint the numbers are from.
/// </summary>
public static class NistExport
{
    public static JsonObject Write(PublicTreeReader reader, ContestId contest, RegionCode region)
    {
        var election = reader.Context.Election;
        var tree = reader.Context.Tree;
        var published = reader.Read(contest, region);
        var children = region.Level == RegionLevel.Tps ? [] : tree.ChildrenOf(region).ToList();
        var rows = published?.Table;
        string contestId = $"contest-{contest.Slug()}";

        var units = new JsonArray { Unit(reader, contest, region, published is null ? null : Totals(published), children) };
        foreach (var child in children)
            units.Add(Unit(reader, contest, child, rows?[child.Value] is JsonObject row ? Totals(row) : null, null));

        var keys = published?.ChoiceKeys.ToList() ?? PublicTotals.Empty(contest, election).Votes.Select(v => v.Key).ToList();
        var selections = new JsonArray();
        var candidates = new JsonArray();
        var parties = new JsonArray();
        int order = 0;
        foreach (var key in keys)
        {
            var counts = new JsonArray();
            if (published is not null) counts.Add(Count(region, published.Chart[key]));
            foreach (var child in children)
                if (rows?[child.Value]?[key] is { } votes) counts.Add(Count(child, votes));
            order++;
            if (contest.IsPartyContest())
            {
                var party = election.Parties.First(p => p.PublicKey == key);
                parties.Add(new JsonObject
                {
                    ["@id"] = $"party-{key}", ["@type"] = "ElectionResults.Party", ["Name"] = Text(party.Name),
                    ["Abbreviation"] = Text(party.Abbreviation), ["ExternalIdentifier"] = Identifiers(("kpu-id", key)),
                });
                selections.Add(new JsonObject
                {
                    ["@id"] = $"selection-{key}", ["@type"] = "ElectionResults.PartySelection", ["PartyIds"] = new JsonArray($"party-{key}"),
                    ["SequenceOrder"] = order, ["VoteCounts"] = counts,
                });
            }
            else
            {
                candidates.Add(new JsonObject
                {
                    ["@id"] = $"candidate-{key}", ["@type"] = "ElectionResults.Candidate", ["BallotName"] = Text(CsvExport.ChoiceLabel(election, contest, key)),
                    ["ExternalIdentifier"] = Identifiers(("kpu-id", key)),
                });
                selections.Add(new JsonObject
                {
                    ["@id"] = $"selection-{key}", ["@type"] = "ElectionResults.CandidateSelection", ["CandidateIds"] = new JsonArray($"candidate-{key}"),
                    ["SequenceOrder"] = order, ["VoteCounts"] = counts,
                });
            }
        }

        var (reported, total) = published?.Progress ?? (0, reader.Context.TpsExpected(contest, region));
        string status = reported >= total && total > 0 ? "completed" : reported > 0 ? "in-process" : "not-processed";
        var contestNode = new JsonObject
        {
            ["@id"] = contestId,
            ["@type"] = contest.IsPartyContest() ? "ElectionResults.PartyContest" : "ElectionResults.CandidateContest",
            ["ElectionDistrictId"] = UnitId(region),
            ["Name"] = ContestName(contest),
            ["Abbreviation"] = contest.Slug(),
            ["ContestSelection"] = selections,
            ["CountStatus"] = new JsonArray(new JsonObject { ["@type"] = "ElectionResults.CountStatus", ["Status"] = status, ["Type"] = "total" }),
            ["SubUnitsReported"] = reported,
            ["TotalSubUnits"] = total,
        };
        if (!contest.IsPartyContest()) contestNode["VotesAllowed"] = 1;

        var electionNode = new JsonObject
        {
            ["@type"] = "ElectionResults.Election",
            ["ElectionScopeId"] = UnitId(region),
            ["Name"] = Text(election.Name),
            ["StartDate"] = election.Date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            ["EndDate"] = election.Date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            ["Type"] = "general",
            ["Contest"] = new JsonArray(contestNode),
            ["ExternalIdentifier"] = Identifiers(("election-id", election.ElectionId)),
        };
        if (candidates.Count > 0) electionNode["Candidate"] = candidates;
        if (published is not null)
        {
            electionNode["BallotCounts"] = new JsonArray(new JsonObject
            {
                ["@type"] = "ElectionResults.BallotCounts", ["GpUnitId"] = UnitId(region), ["Type"] = "total",
                ["BallotsCast"] = published.Administrasi("suara_total"), ["BallotsRejected"] = published.Administrasi("suara_tidak_sah"),
            });
        }

        var report = new JsonObject
        {
            ["@type"] = "ElectionResults.ElectionReport",
            ["Format"] = region.Level >= RegionLevel.Desa ? "precinct-level" : "summary-contest",
            ["GeneratedDate"] = published is null ? DateTimeOffset.UnixEpoch.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)
                : published.Ts.Replace(' ', 'T') + "Z",
            ["Issuer"] = "Komisi Pemilihan Umum",
            ["IssuerAbbreviation"] = "KPU",
            ["SequenceStart"] = 1,
            ["SequenceEnd"] = 1,
            ["Status"] = status == "completed" ? "unofficial-complete" : "unofficial-partial",
            ["VendorApplicationId"] = "KpuEdge",
            ["Election"] = new JsonArray(electionNode),
            ["GpUnit"] = units,
            ["Notes"] = published is null ? "Nothing published for this region yet."
                : $"From the public tree at transparency-log checkpoint size {published.Size}, root {published.Root}.",
            ["ExternalIdentifier"] = Identifiers(("log-checkpoint", published is null ? "none" : $"{published.Size}:{published.Root}")),
        };
        if (parties.Count > 0) report["Party"] = parties;
        return report;
    }

    private sealed record UnitTotals(long Registered, long Participated, long Reported);

    private static UnitTotals Totals(PublishedRegion region) =>
        new(region.Administrasi("pemilih_dpt_j"), region.Administrasi("pengguna_total_j"), region.Progress.Reported);

    private static UnitTotals Totals(JsonObject row) => new(
        row["administrasi"]?["pemilih_dpt_j"]?.GetValue<long>() ?? 0, row["administrasi"]?["pengguna_total_j"]?.GetValue<long>() ?? 0,
        row["tps_reported"]?.GetValue<long>() ?? 0);

    private static JsonObject Unit(PublicTreeReader reader, ContestId contest, RegionCode code, UnitTotals? totals, List<RegionCode>? children)
    {
        var (type, other) = code.Level switch
        {
            RegionLevel.Nasional => ("country", null),
            RegionLevel.Provinsi => ("state", null),
            RegionLevel.KabKota => ("county", null),
            RegionLevel.Kecamatan => ("other", "kecamatan"),
            RegionLevel.Desa => ("village", null),
            _ => ("polling-place", (string?)null),
        };
        var unit = new JsonObject
        {
            ["@id"] = UnitId(code),
            ["@type"] = "ElectionResults.ReportingUnit",
            ["Type"] = type,
            ["Name"] = Text(code.Level == RegionLevel.Tps ? $"TPS {TpsCode.Parse(code.Value).Number:D3}" : reader.Context.Tree.NameOf(code)),
            ["ExternalIdentifier"] = Identifiers(("kode-wilayah", code.ToString())),
            ["TotalSubUnits"] = reader.Context.TpsExpected(contest, code),
            ["SubUnitsReported"] = totals?.Reported ?? 0,
        };
        if (other is not null) unit["OtherType"] = other;
        if (children is { Count: > 0 }) unit["ComposingGpUnitIds"] = new JsonArray(children.Select(c => (JsonNode)UnitId(c)).ToArray());
        if (totals is not null && totals.Reported > 0)
        {
            unit["VotersRegistered"] = totals.Registered;
            unit["VotersParticipated"] = totals.Participated;
        }
        return unit;
    }

    private static string UnitId(RegionCode code) => $"gpunit-{code}";

    private static JsonObject Count(RegionCode unit, JsonNode? votes) => new()
    {
        ["@type"] = "ElectionResults.VoteCounts", ["Count"] = votes?.GetValue<long>() ?? 0, ["GpUnitId"] = UnitId(unit), ["Type"] = "total",
    };

    private static JsonObject Text(string text) => new()
    {
        ["@type"] = "ElectionResults.InternationalizedText",
        ["Text"] = new JsonArray(new JsonObject { ["@type"] = "ElectionResults.LanguageString", ["Content"] = text, ["Language"] = "id" }),
    };

    private static JsonArray Identifiers(params (string Kind, string Value)[] ids) => new(ids.Select(id => (JsonNode)new JsonObject
    {
        ["@type"] = "ElectionResults.ExternalIdentifier", ["Type"] = "other", ["OtherType"] = id.Kind, ["Value"] = id.Value,
    }).ToArray());

    private static string ContestName(ContestId contest) => contest switch
    {
        ContestId.Ppwp => "Presiden dan Wakil Presiden",
        ContestId.Dpr => "DPR RI",
        ContestId.Dpd => "DPD RI",
        ContestId.DprdProvinsi => "DPRD Provinsi",
        _ => "DPRD Kabupaten/Kota",
    };
}
