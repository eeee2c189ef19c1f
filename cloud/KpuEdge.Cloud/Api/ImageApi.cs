using System.Text.Json;
using KpuEdge.Cloud.Images;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;

using static KpuEdge.Cloud.Api.ApiErrors;

namespace KpuEdge.Cloud.Api;

/// <summary>
/// The form photos behind the numbers, for the public and party witnesses: which images of a TPS arrived (each
/// checked against the hash in the signed form that names it) and the page images themselves.
/// </summary>
public static class ImageApi
{
    private static readonly JsonSerializerOptions Json = KpuJson.Wire;

    public static void MapImageApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/images/{tps}", async (string tps, IImageIndex ledger) =>
        {
            if (!TpsCode.TryParse(tps, out var code)) return Error(400, $"'{tps}' is not a 13-digit TPS code.");
            var forms = (await ledger.ImagesForTpsAsync(code))
                .GroupBy(p => (p.Contest, p.ImageHash))
                .Select(g => new
                {
                    contest = g.Key.Contest.Slug(),
                    image_hash = g.Key.ImageHash.ToString(),
                    pages = g.First().Pages,
                    pages_stored = g.Count(),
                    complete = g.Count() == g.First().Pages,
                    stored = g.OrderBy(p => p.Page).Select(p => new
                    {
                        page = p.Page + 1,
                        size = p.Size,
                        sha256 = p.PageHash.ToString(),
                        stored_at = p.StoredAt,
                        url = $"/api/v1/images/{code}/{g.Key.Contest.Slug()}/{g.Key.ImageHash}/{p.Page + 1}",
                    }),
                });
            return Results.Json(new { tps = code.Value, images = forms }, Json);
        });
        app.MapGet("/api/v1/images/{tps}/{contest}/{hash}/{page:int}", async (string tps, string contest, string hash, int page, IImageIndex ledger, ImageReceiver images) =>
        {
            if (!TpsCode.TryParse(tps, out var code)) return Error(400, $"'{tps}' is not a 13-digit TPS code.");
            if (!Contests.TryParseSlug(contest, out var contestId)) return Error(400, $"'{contest}' is not a contest.");
            if (!Sha256Hash.TryParseHex(hash, out var imageHash)) return Error(400, $"'{hash}' is not a SHA-256 hash (64 hex digits).");
            var stored = (await ledger.ImagePagesAsync(imageHash)).FirstOrDefault(p => p.Page == page - 1 && p.Tps == code && p.Contest == contestId);
            if (stored is null || images.PathOf(stored) is not { } path)
                return Error(404, $"Page {page} of image {imageHash} of {contest} TPS {code} has not arrived.");
            return Results.File(path, "image/jpeg", enableRangeProcessing: true);
        });
    }
}
