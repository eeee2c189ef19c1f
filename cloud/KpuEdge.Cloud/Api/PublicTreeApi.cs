using KpuEdge.Cloud.Public;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using Microsoft.Net.Http.Headers;

namespace KpuEdge.Cloud.Api;

/// <summary>
/// Serves the public tree (<see cref="PublicTreeBuilder"/>) under <c>/pemilu/</c> and <c>/wilayah/</c> as a CDN would:
/// only paths <see cref="PublicTreePaths.TryResolve"/> maps onto a file of the tree, from memory while the file is
/// unchanged (<see cref="PublicFileCache"/>); gzip when the client takes it (the twin written beside a region file, a TPS
/// file compressed once per version); an ETag from the file's size and time (304 when it matches); a short cache lifetime for results (a build every few seconds), a day for the region listings. The
/// NIST SP 1500-100 and CSV exports are made of the same files.
/// </summary>
public static class PublicTreeApi
{
    public const string ResultsCacheControl = "public, max-age=5";
    public const string ListingCacheControl = "public, max-age=86400";

    public static void MapPublicTree(this IEndpointRouteBuilder app)
    {
        app.MapGet("/pemilu/{**path}", (HttpContext http, string? path, PublicTreeBuilder tree, PublicFileCache files) => Serve(http, "pemilu/" + path, tree.Root, files));
        app.MapGet("/wilayah/{**path}", (HttpContext http, string? path, PublicTreeBuilder tree, PublicFileCache files) => Serve(http, "wilayah/" + path, tree.Root, files));
        app.MapGet("/api/v1/export/nist/{contest}/{region}", (HttpContext http, string contest, string region, PublicTreeReader reader) =>
        {
            if (!TryExportArguments(contest, region, reader, out var c, out var r, out var error)) return error;
            http.Response.Headers.CacheControl = ResultsCacheControl;
            return Results.Text(NistExport.Write(reader, c, r).ToJsonString(), "application/json; charset=utf-8");
        });
        app.MapGet("/api/v1/export/csv/{contest}/{region}", (HttpContext http, string contest, string region, string? level, PublicTreeReader reader) =>
        {
            if (!TryExportArguments(contest, region, reader, out var c, out var r, out var error)) return error;
            var rows = r.Level + 1;
            if (level is not null && !Enum.TryParse(level, ignoreCase: true, out rows))
                return ApiErrors.Error(400, $"Unknown level '{level}'; one of provinsi, kabkota, kecamatan, desa, tps.");
            if (rows <= r.Level || rows > RegionLevel.Tps)
                return ApiErrors.Error(400, $"Level {rows.ToString().ToLowerInvariant()} does not lie below {r.Level.ToString().ToLowerInvariant()} {r}.");
            if (reader.CountWithin(r, rows - 1) is var files && files > PublicTreeReader.MaxFilesPerExport)
                return ApiErrors.Error(400, $"Too wide: {files} regions' files for {rows.ToString().ToLowerInvariant()} rows in {r} (at most {PublicTreeReader.MaxFilesPerExport}); ask per province or kab/kota.");
            http.Response.Headers.CacheControl = ResultsCacheControl;
            http.Response.Headers.ContentDisposition = $"attachment; filename=\"kpu-{c.Slug()}-{r}-{rows.ToString().ToLowerInvariant()}.csv\"";
            return Results.Text(CsvExport.Write(reader, c, r, rows), "text/csv; charset=utf-8");
        });
    }

    private static bool TryExportArguments(string contest, string region, PublicTreeReader reader,
        out ContestId contestId, out RegionCode code, out IResult error)
    {
        code = default;
        error = Results.Empty;
        if (!Contests.TryParseSlug(contest, out contestId))
        {
            error = ApiErrors.Error(400, $"Unknown contest '{contest}'; one of {string.Join(", ", Contests.All.Select(c => c.Slug()))}.");
            return false;
        }
        if (!RegionCode.TryParse(region, out code))
        {
            error = ApiErrors.Error(400, $"'{region}' is not a region code (2, 4, 6, 10 or 13 digits, or 0 for the nation).");
            return false;
        }
        var tree = reader.Context.Tree;
        bool known = code.Level == RegionLevel.Tps ? tree.Contains(TpsCode.Parse(code.Value)) : tree.TryGet(code, out _);
        if (!known)
        {
            error = ApiErrors.Error(404, $"No region {region}.");
            return false;
        }
        return true;
    }


    private static IResult Serve(HttpContext http, string requestPath, string root, PublicFileCache files)
    {
        if (!PublicTreePaths.TryResolve(requestPath, out var relative, out var problem))
            return ApiErrors.Error(400, problem);
        if (files.Get(Path.Combine(root, relative)) is not { } file)
            return ApiErrors.Error(404, $"/{requestPath} has not been published (nothing counted there yet, or no such region).");
        var headers = http.Response.Headers;
        var etag = new EntityTagHeaderValue(file.ETag);
        headers.ETag = file.ETag;
        headers.CacheControl = relative.StartsWith("wilayah/", StringComparison.Ordinal) ? ListingCacheControl : ResultsCacheControl;
        headers.Vary = HeaderNames.AcceptEncoding;
        headers.AccessControlAllowOrigin = "*";
        if (http.Request.GetTypedHeaders().IfNoneMatch.Any(t => t.Compare(etag, useStrongComparison: false)))
            return Results.StatusCode(StatusCodes.Status304NotModified);
        if (!http.Request.Headers.AcceptEncoding.ToString().Contains("gzip", StringComparison.OrdinalIgnoreCase))
            return Results.Bytes(file.Plain, "application/json; charset=utf-8");
        headers.ContentEncoding = "gzip";
        return Results.Bytes(file.Gzip, "application/json; charset=utf-8");
    }
}
