using KpuEdge.Cloud.Public;
using KpuEdge.Core.Protocol;
using Microsoft.Net.Http.Headers;

namespace KpuEdge.Cloud.Api;

/// <summary>
/// Serves the public tree (<see cref="PublicTreeBuilder"/>) under <c>/pemilu/</c> and <c>/wilayah/</c> as a CDN would:
/// only paths <see cref="PublicTreePaths.TryResolve"/> maps onto a file of the tree, the gzip twin written beside each
/// file when the client takes gzip, an ETag from the file's size and time (304 when it matches), and a short cache
/// lifetime for results (a build every few seconds), a long one for the region listings (they never change).
/// </summary>
public static class PublicTreeApi
{
    public const string ResultsCacheControl = "public, max-age=5";
    public const string ListingCacheControl = "public, max-age=86400";

    public static void MapPublicTree(this IEndpointRouteBuilder app)
    {
        app.MapGet("/pemilu/{**path}", (HttpContext http, string? path, PublicTreeBuilder tree) => Serve(http, "pemilu/" + path, tree.Root));
        app.MapGet("/wilayah/{**path}", (HttpContext http, string? path, PublicTreeBuilder tree) => Serve(http, "wilayah/" + path, tree.Root));
    }

    private static IResult Serve(HttpContext http, string requestPath, string root)
    {
        if (!PublicTreePaths.TryResolve(requestPath, out var relative, out var problem))
            return Results.Json(new { error = problem }, KpuJson.Api, statusCode: 400);
        var file = new FileInfo(Path.Combine(root, relative));
        if (!file.Exists)
            return Results.Json(new { error = $"/{requestPath} has not been published (nothing counted there yet, or no such region)." },
                KpuJson.Api, statusCode: 404);
        var headers = http.Response.Headers;
        var etag = new EntityTagHeaderValue($"\"{file.Length:x}-{file.LastWriteTimeUtc.Ticks:x}\"");
        headers.ETag = etag.ToString();
        headers.CacheControl = relative.StartsWith("wilayah/", StringComparison.Ordinal) ? ListingCacheControl : ResultsCacheControl;
        headers.Vary = HeaderNames.AcceptEncoding;
        headers.AccessControlAllowOrigin = "*";
        if (http.Request.GetTypedHeaders().IfNoneMatch.Any(t => t.Compare(etag, useStrongComparison: false)))
            return Results.StatusCode(StatusCodes.Status304NotModified);
        var gzip = new FileInfo(file.FullName + ".gz");
        if (gzip.Exists && http.Request.Headers.AcceptEncoding.ToString().Contains("gzip", StringComparison.OrdinalIgnoreCase))
        {
            headers.ContentEncoding = "gzip";
            return Results.File(gzip.FullName, "application/json; charset=utf-8");
        }
        return Results.File(file.FullName, "application/json; charset=utf-8");
    }
}
