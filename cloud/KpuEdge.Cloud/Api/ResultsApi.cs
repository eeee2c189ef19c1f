using System.Globalization;
using System.Text.Json;
using KpuEdge.Cloud.Ingest;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Cloud.Recap;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Cloud.Security;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Ppk;
using KpuEdge.Crypto.Transparency;

namespace KpuEdge.Cloud.Api;

/// <summary>
/// The public results API, shaped after Sirekap's public JSON (<c>chart</c>, <c>table</c>, <c>progres</c>, <c>ts</c>,
/// and for a TPS <c>administrasi</c>) so tools that read Sirekap can read ours, plus each TPS's signed submission.
/// </summary>
public static class ResultsApi
{
    private static readonly JsonSerializerOptions Json = KpuJson.Api;

    /// <summary>Versions a TPS result lists itself (the newest); the rest are paged at its <c>versions_url</c>.</summary>
    public const int VersionsOnPage = 20;

    /// <summary>Versions per answer of <c>…/versions</c>: 1 to <see cref="MaxVersionsPerRequest"/>, 50 unless asked.</summary>
    public const int DefaultVersionsPerRequest = 50, MaxVersionsPerRequest = 100;

    public static void MapResultsApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/results/{contest}", (string contest, RecapService recap, IResultsLedger ledger, DeviceRegistryProvider devices, CloudPki pki) =>
            Results(contest, "0", recap, ledger, devices, pki));
        app.MapGet("/api/v1/results/{contest}/{region}", (string contest, string region, RecapService recap, IResultsLedger ledger, DeviceRegistryProvider devices, CloudPki pki) =>
            Results(contest, region, recap, ledger, devices, pki));
        app.MapGet("/api/v1/results/{contest}/{tps}/versions", Versions);
        app.MapGet("/api/v1/status", async (IResultsLedger ledger, IngestStats stats) => Microsoft.AspNetCore.Http.Results.Json(new
        {
            ledger_entries = await ledger.CountAsync(),
            ingest = new
            {
                received = stats.Received,
                accepted = stats.Accepted,
                duplicates = stats.Duplicates,
                rejected = stats.Rejected,
            },
            rejections_recorded = await ledger.RejectionCountsAsync(),
        }, Json));
    }

    private static async Task<IResult> Results(string contestSlug, string regionText, RecapService recap, IResultsLedger ledger, DeviceRegistryProvider devices, CloudPki pki)
    {
        if (!Contests.TryParseSlug(contestSlug, out var contest))
            return Error(400, $"Unknown contest '{contestSlug}'; one of {string.Join(", ", Contests.All.Select(c => c.Slug()))}.");
        if (!RegionCode.TryParse(regionText, out var region))
            return Error(400, $"'{regionText}' is not a region code (2, 4, 6, 10 or 13 digits, or 0 for the nation).");
        var context = recap.Context;
        if (region.Level == RegionLevel.Tps)
        {
            var tps = TpsCode.Parse(region.Value);
            if (!context.Tree.Contains(tps)) return Error(404, $"No TPS {region}.");
            return Microsoft.AspNetCore.Http.Results.Json(await TpsResultAsync(tps, contest, context, ledger, devices, pki), Json);
        }
        if (!context.Tree.TryGet(region, out var node)) return Error(404, $"No region {region}.");

        var view = await recap.ViewAsync(contest, region);
        var keys = ChoiceKeys(contest, region, context, view.Totals);
        var table = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var child in context.Tree.ChildrenOf(region))
        {
            view.Children.TryGetValue(child.Value, out var childTotals);
            long expected = context.TpsExpected(contest, child);
            var row = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (var key in keys) row[key] = childTotals?.VotesFor(key);
            row["psu"] = null;
            row["persen"] = Percent(childTotals?.TpsReported ?? 0, expected);
            row["status_progress"] = childTotals is not null && childTotals.TpsReported >= expected && expected > 0;
            table[child.Value] = row;
        }
        long total = context.TpsExpected(contest, region);
        var chart = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var key in keys) chart[key] = view.Totals.VotesFor(key);
        chart["persen"] = Percent(view.Totals.TpsReported, total);
        return Microsoft.AspNetCore.Http.Results.Json(new
        {
            kode = region.ToString(),
            nama = node.Name,
            tingkat = region.Level.ToString().ToLowerInvariant(),
            contest = contest.Slug(),
            chart,
            table,
            progres = new { total, progres = view.Totals.TpsReported },
            administrasi = Administrasi(view.Totals),
            ts = Ts(view.UpdatedAt),
        }, Json);
    }

    /// <summary>Every accepted version of a TPS's contest form, a page at a time, in the recap's order (sequence, then ledger position).</summary>
    private static async Task<IResult> Versions(string contest, string tps, long? after, int? limit, RecapService recap, IResultsLedger ledger)
    {
        if (!Contests.TryParseSlug(contest, out var contestId))
            return Error(400, $"Unknown contest '{contest}'; one of {string.Join(", ", Contests.All.Select(c => c.Slug()))}.");
        if (!TpsCode.TryParse(tps, out var tpsCode)) return Error(400, $"'{tps}' is not a TPS code (13 digits).");
        if (!recap.Context.Tree.Contains(tpsCode)) return Error(404, $"No TPS {tps}.");
        FormVersion? cursor = null;
        if (after is > 0)
        {
            if (await ledger.FindByPositionAsync(after.Value) is not { } from || from.Tps != tpsCode || from.Contest != contestId)
                return Error(400, $"after={after} is not the ledger position of a version of TPS {tps}'s {contestId.Slug()} form.");
            cursor = new FormVersion(from.Sequence, from.Position);
        }
        else if (after < 0) return Error(400, "after is a ledger position (from 1), or 0 for the first page.");
        int pageSize = Math.Clamp(limit ?? DefaultVersionsPerRequest, 1, MaxVersionsPerRequest);
        var page = await ledger.VersionsAfterAsync(tpsCode, contestId, cursor, pageSize + 1); // one more says whether a next page exists
        bool more = page.Count > pageSize;
        return Microsoft.AspNetCore.Http.Results.Json(new
        {
            versions = page.Take(pageSize).Select(VersionJson),
            next = more ? $"{VersionsUrl(tpsCode, contestId)}?after={page[pageSize - 1].Position}&limit={pageSize}" : null,
        }, Json);
    }

    private static string VersionsUrl(TpsCode tps, ContestId contest) => $"/api/v1/results/{contest.Slug()}/{tps}/versions";

    private static object VersionJson(LedgerEntry v) => new
    {
        ledger_position = v.Position, hash = v.Hash.ToString(), sequence = v.Sequence, received_at = v.ReceivedAt,
        log_index = v.LogIndex, correction_reason = SignedSubmission.Decode(v.Wire).Submission.CorrectionReason,
    };

    private static async Task<object> TpsResultAsync(TpsCode tps, ContestId contest, RecapContext context, IResultsLedger ledger, DeviceRegistryProvider devices, CloudPki pki)
    {
        // Only the newest versions are read: a TPS with thousands of corrections costs no more than one with twenty.
        var versions = await ledger.NewestVersionsAsync(tps, contest, VersionsOnPage);
        var ballot = context.Ballots.For(contest, tps);
        if (versions.Count == 0 || ballot is null)
        {
            return new
            {
                kode = tps.Value, contest = contest.Slug(), chart = (object?)null, images = Array.Empty<string>(),
                administrasi = (object?)null, psu = (string?)null, ts = (string?)null,
                status_suara = false, status_adm = false, submission = (object?)null,
                held = ballot is not null,
            };
        }
        var current = versions[^1];
        var signed = SignedSubmission.Decode(current.Wire);
        var s = signed.Submission;
        // The PPK's word on this form: a correction at the plenary is counted in place of the device's version.
        var ppk = PpkFormStatus.Of(tps, contest, current.Hash, await ledger.StatementsForTpsAsync(tps), s => s.Signed);
        var correction = ppk.Correction;
        var totals = ContestTotals.FromTally(correction?.Tally ?? s.Tally, ballot);
        var device = await devices.FindAsync(s.DeviceId);
        string signature = device is null ? "device_unknown"
            : signed.VerifySignature(device.PublicKey) ? "verified" : "invalid";
        // A device revoked after it sent this form: the form stays counted (it was signed before), and says so.
        object? revoked = device?.SigningCertificate is { } certificate && pki.Trust.IsRevoked(certificate.SerialHex, out var revocation)
            ? new { revoked_at = revocation.RevokedAt, reason = revocation.Reason.ToLogText(), signed_before_revocation = s.DeviceTime < revocation.RevokedAt }
            : null;
        return new
        {
            kode = tps.Value,
            contest = contest.Slug(),
            chart = totals.Chart(),
            images = await ImageUrlsAsync(tps, contest, s.ImageHash, ledger),
            administrasi = Administrasi(totals),
            psu = (string?)null,
            ts = Ts(current.ReceivedAt),
            status_suara = true,
            status_adm = true,
            // Who signed the numbers shown: the TPS device (submission), or the PPK station's correction of it (ppk).
            counted_by = ppk.CountedByPpk ? "ppk" : "device",
            ppk = new
            {
                status = PpkFormStatus.Text(ppk.Review),
                counted = ppk.Counted?.ToString(),
                statements = ppk.Statements.Select(x => PpkApi.StatementJson(x, withWire: false)),
            },
            submission = new
            {
                hash = current.Hash.ToString(),
                ledger_position = current.Position,
                device_id = s.DeviceId,
                sequence = s.Sequence,
                device_time = s.DeviceTime,
                received_at = current.ReceivedAt,
                image_hash = s.ImageHash.ToString(),
                signature,
                device_revoked = revoked,
                log_index = current.LogIndex,
                inclusion_proof = $"/api/v1/log/proof/inclusion?hash={current.Hash}",
                correction_reason = s.CorrectionReason,
                // Corrections replace in the recap, never in the record: the newest versions here (oldest of them first),
                // every version ever accepted at versions_url.
                versions = versions.Select(VersionJson),
                versions_total = await ledger.VersionCountAsync(tps, contest),
                versions_url = VersionsUrl(tps, contest),
            },
        };
    }

    /// <summary>Like Sirekap's: a URL per page of the counted form's image, null for a page that has not arrived yet.</summary>
    private static async Task<string?[]> ImageUrlsAsync(TpsCode tps, ContestId contest, Sha256Hash imageHash, IResultsLedger ledger)
    {
        if (imageHash.IsEmpty) return [];
        var stored = await ledger.ImagePagesAsync(imageHash);
        if (stored.Count == 0) return [];
        return Enumerable.Range(0, stored[0].Pages)
            .Select(page => stored.Any(p => p.Page == page) ? $"/api/v1/images/{tps}/{contest.Slug()}/{imageHash}/{page + 1}" : null)
            .ToArray();
    }

    private static object Administrasi(ContestTotals t) => new Dictionary<string, long>
    {
        ["suara_sah"] = t.SuaraSah,
        ["suara_tidak_sah"] = t.SuaraTidakSah,
        ["suara_total"] = t.SuaraTotal,
        ["pemilih_dpt_j"] = t.DptL + t.DptP,
        ["pemilih_dpt_l"] = t.DptL,
        ["pemilih_dpt_p"] = t.DptP,
        ["pengguna_dpt_j"] = t.PenggunaDpt,
        ["pengguna_dptb_j"] = t.PenggunaDptb,
        ["pengguna_non_dpt_j"] = t.PenggunaDpk,
        ["pengguna_total_j"] = t.PenggunaTotal,
    };

    /// <summary>Choice keys of the contest in a region: a single ballot's order where there is one, else what was counted.</summary>
    private static IReadOnlyList<string> ChoiceKeys(ContestId contest, RegionCode region, RecapContext context, ContestTotals totals)
    {
        if (contest == ContestId.Ppwp) return context.Election.PpwpPairs.Select(p => p.Number.ToString()).ToArray();
        if (contest.IsPartyContest()) return context.Election.Parties.Select(p => p.Number.ToString()).ToArray();
        return totals.Keys.Order(StringComparer.Ordinal).ToArray();
    }

    private static double Percent(long reported, long expected) =>
        expected == 0 ? 0 : Math.Round(100.0 * reported / expected, 2);

    private static string Ts(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    private static IResult Error(int status, string message) =>
        Microsoft.AspNetCore.Http.Results.Json(new { error = message }, Json, statusCode: status);
}
