using System.Reflection;
using Microsoft.AspNetCore.Http;

namespace KpuEdge.Access;

/// <summary>A screen's pages, scripts and styles, embedded in its assembly (nothing beside the binary to go missing or be swapped).</summary>
public static class ScreenAssets
{
    /// <summary>The embedded resource <paramref name="resourcePrefix"/>/<paramref name="name"/> with its content type; 404 if absent.</summary>
    public static IResult Serve(Assembly assembly, string resourcePrefix, string name)
    {
        var stream = assembly.GetManifestResourceStream($"{resourcePrefix}/{name}");
        if (stream is null) return Results.NotFound();
        string type = Path.GetExtension(name) switch
        {
            ".html" => "text/html; charset=utf-8", ".js" => "text/javascript; charset=utf-8", ".css" => "text/css; charset=utf-8", _ => "application/octet-stream",
        };
        return Results.Stream(stream, type);
    }

    /// <summary>The login form's script, one for every screen: it posts to the screen's own <c>api/login</c>.</summary>
    public static IResult LoginScript() => Serve(typeof(ScreenAssets).Assembly, "access", "login.js");

    /// <summary>The headers every screen answer carries: no sniffing, no framing, scripts and styles from itself only, nothing cached.</summary>
    public static void SecureHeaders(HttpResponse response)
    {
        response.Headers["X-Content-Type-Options"] = "nosniff";
        response.Headers["X-Frame-Options"] = "DENY";
        response.Headers["Content-Security-Policy"] = "default-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'";
        response.Headers["Cache-Control"] = "no-store";
    }
}
