using System.Text.Json;
using KpuEdge.Access;
using KpuEdge.Cloud.Recap;
using KpuEdge.Cloud.Security;
using KpuEdge.Cloud.Transparency;
using KpuEdge.Core.Protocol;

namespace KpuEdge.Cloud.Portal;

/// <summary>
/// The public portal (<c>/</c>): static pages that read the public tree (<c>/pemilu/</c>, <c>/wilayah/</c>) and check
/// what they show in the reader's own browser. The page itself carries what that check trusts — the log's verifier key
/// and KPU's CA certificates — so a reader can compare them once with what KPU publishes elsewhere, and a server that
/// later lies must lie to a page that already holds the keys.
/// </summary>
public static class PortalPages
{
    public const string AssetCacheControl = "public, max-age=3600";

    /// <summary>The scripts and style, gzipped once: a phone on 3G gets a third of the bytes.</summary>
    private static readonly Lazy<Dictionary<string, byte[]>> Compressed = new(() =>
        ((string[])["portal.js", "verify.js", "portal.css"]).ToDictionary(name => name, name =>
        {
            using var source = typeof(PortalPages).Assembly.GetManifestResourceStream($"portal/{name}")!;
            var gzip = new MemoryStream();
            using (var zip = new System.IO.Compression.GZipStream(gzip, System.IO.Compression.CompressionLevel.SmallestSize, leaveOpen: true))
                source.CopyTo(zip);
            return gzip.ToArray();
        }));

    /// <summary>Where the trust anchors sit in the page: a JSON block the scripts read (never executed).</summary>
    private const string TrustPlaceholder = "<!--kpu-trust-->";

    public static void MapPortal(this IEndpointRouteBuilder app)
    {
        app.MapGet("/", (HttpContext http, TransparencyLog log, CloudPki pki, RecapContext recap) => Page(http, log, pki, recap));
        app.MapGet("/portal/{name}", (HttpContext http, string name) =>
        {
            if (!Compressed.Value.TryGetValue(name, out var gzip)) return Results.NotFound();
            Headers(http.Response, AssetCacheControl);
            http.Response.Headers.Vary = "Accept-Encoding";
            if (!http.Request.Headers.AcceptEncoding.ToString().Contains("gzip", StringComparison.OrdinalIgnoreCase))
                return ScreenAssets.Serve(typeof(PortalPages).Assembly, "portal", name);
            http.Response.Headers.ContentEncoding = "gzip";
            return Results.Bytes(gzip, name.EndsWith(".css", StringComparison.Ordinal) ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8");
        });
    }

    private static IResult Page(HttpContext http, TransparencyLog log, CloudPki pki, RecapContext recap)
    {
        using var stream = typeof(PortalPages).Assembly.GetManifestResourceStream("portal/index.html")!;
        var html = new StreamReader(stream).ReadToEnd();
        var election = recap.Election;
        var trust = JsonSerializer.Serialize(new
        {
            log_key = log.VerifierKey,
            ca = new[] { pki.Trust.Root.ToPem() }.Concat(pki.Trust.Issuing.Select(i => i.ToPem())),
            election = new
            {
                id = election.ElectionId,
                name = election.Name,
                pairs = election.PpwpPairs.Select(p => new { key = p.PublicKey, number = p.Number, name = p.Name }),
                parties = election.Parties.Select(p => new { key = p.PublicKey, number = p.Number, abbreviation = p.Abbreviation, name = p.Name }),
            },
        }, KpuJson.Api).Replace("</", "<\\/", StringComparison.Ordinal); // nothing in it can close the script element
        Headers(http.Response, "no-cache");
        return Results.Text(html.Replace(TrustPlaceholder, $"<script type=\"application/json\" id=\"kpu-trust\">{trust}</script>"),
            "text/html; charset=utf-8");
    }

    /// <summary>The screens' headers (scripts and styles from this origin only, no framing), cached as the portal's pages may be.</summary>
    private static void Headers(HttpResponse response, string cacheControl)
    {
        ScreenAssets.SecureHeaders(response);
        response.Headers.CacheControl = cacheControl;
    }
}
