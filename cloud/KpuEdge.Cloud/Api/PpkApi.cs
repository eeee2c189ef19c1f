using System.Text.Json;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Cloud.Ppk;
using KpuEdge.Cloud.Recap;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Ppk;

namespace KpuEdge.Cloud.Api;

/// <summary>
/// What the PPK stations stated, for the public: a kecamatan's statements and where each of its forms stands
/// (<c>/api/v1/ppk/{kecamatan}</c>), one statement whole with its signed bytes for <c>kpu-verify</c>
/// (<c>/api/v1/ppk/statements/{hash}</c>); a TPS's result carries its own (<see cref="ResultsApi"/>).
/// </summary>
public static class PpkApi
{
    private static readonly JsonSerializerOptions Json = KpuJson.Api;

    public static void MapPpkApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/ppk/statements/{hash}", async (string hash, IPpkRecord record) =>
        {
            if (!Sha256Hash.TryParseHex(hash, out var h) || h.IsEmpty) return Error(400, $"'{hash}' is not a SHA-256 hash (64 hex digits).");
            if (await record.FindStatementAsync(h) is not { } statement) return Error(404, $"No PPK statement has hash {hash}.");
            return Results.Json(StatementJson(statement, withWire: true), Json);
        });
        app.MapGet("/api/v1/ppk/{kecamatan}", Kecamatan);
    }

    private static async Task<IResult> Kecamatan(string kecamatan, RecapService recap, IResultsLedger ledger)
    {
        if (!RegionCode.TryParse(kecamatan, out var code) || code.Level != RegionLevel.Kecamatan)
            return Error(400, $"'{kecamatan}' is not a kecamatan code (6 digits).");
        var context = recap.Context;
        if (!context.Tree.TryGet(code, out var region)) return Error(404, $"No kecamatan {kecamatan}.");
        var statements = await ledger.StatementsForKecamatanAsync(code);
        var forms = new List<object>();
        foreach (var tps in context.Tree.TpsIn(code))
            foreach (var contest in Contests.All.Where(c => context.Ballots.For(c, tps) is not null))
            {
                var device = (await ledger.NewestVersionsAsync(tps, contest, 1)).LastOrDefault();
                var status = PpkFormStatus.Of(tps, contest, device?.Hash, statements, s => s.Signed);
                forms.Add(new
                {
                    tps = tps.Value, contest = contest.Slug(), status = PpkFormStatus.Text(status.Review),
                    counted = status.Counted?.ToString(), counted_by = status.Counted is null ? null : status.CountedByPpk ? "ppk" : "device",
                });
            }
        return Results.Json(new
        {
            kode = code.Value,
            nama = region.Name,
            statements = statements.Select(s => StatementJson(s, withWire: false)),
            forms,
        }, Json);
    }

    /// <summary>A statement as the public reads it: who signed what about which forms, and where it is logged.</summary>
    public static object StatementJson(StoredStatement stored, bool withWire)
    {
        var signed = stored.Signed;
        var s = signed.Statement;
        return new
        {
            hash = stored.Hash.ToString(),
            kind = s.Kind.Text(),
            station = s.StationId,
            kecamatan = s.Kecamatan.Value,
            sequence = s.Sequence,
            station_time = s.StationTime,
            received_at = stored.ReceivedAt,
            log_index = stored.LogIndex,
            inclusion_proof = $"/api/v1/log/proof/inclusion?hash={stored.Hash}",
            certificate = new { serial = signed.Certificate.SerialHex, subject = signed.Certificate.CommonName, issuer = signed.Certificate.IssuerCommonName },
            forms = s is KecamatanRecap ? null : s.Forms.Select(f => new { tps = f.Tps.Value, contest = f.Contest.Slug(), hash = f.Hash.ToString() }),
            objection = s is PpkObjection o ? new { objector = o.Objector, text = o.Text } : null,
            correction = s is PpkCorrection c ? new { reason = c.Reason, tally = c.Tally } : null,
            dhasil = s is KecamatanRecap d ? new
            {
                contest = d.Contest.Slug(),
                forms = d.Summed.Count,
                totals = d.Totals,
                finding = DhasilFinding.Parse(stored.Finding),
            } : null,
            wire = withWire ? Convert.ToBase64String(stored.Wire) : null,
        };
    }

    private static IResult Error(int status, string message) => Results.Json(new { error = message }, Json, statusCode: status);
}
