using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace KpuEdge.Access;

/// <summary>
/// The web side of <see cref="OperatorAccounts{TRole}"/> for a screen under one path prefix: JSON login (the session in an
/// HttpOnly, SameSite=Strict cookie limited to the prefix), logout and "who am I", and the endpoint filters that let
/// nothing else answer without a session, a change without the session's CSRF token, or an action without its role.
/// </summary>
public sealed class SessionEndpoints<TRole>(OperatorAccounts<TRole> accounts, string prefix, string cookieName, Func<bool> secureCookies, JsonSerializerOptions json)
    where TRole : struct, Enum
{
    private const string SessionItem = "kpu.session";

    public string Prefix => prefix;

    /// <summary>The session of a request past <see cref="RequireSession"/>.</summary>
    public static OperatorSession<TRole> Session(HttpContext http) => (OperatorSession<TRole>)http.Items[SessionItem]!;

    public static object Me(OperatorSession<TRole> s) => new { name = s.Account, role = s.Role, csrf = s.Csrf, expires_at = s.ExpiresAt };

    /// <summary>Maps POST {prefix}/api/login on <paramref name="open"/>; GET api/me and POST api/logout on <paramref name="authed"/>.</summary>
    public void Map(RouteGroupBuilder open, RouteGroupBuilder authed)
    {
        open.MapPost("/api/login", (Delegate)LoginAsync);
        authed.MapGet("/api/me", (HttpContext c) => Results.Json(Me(Session(c)), json));
        authed.MapPost("/api/logout", (Delegate)LogoutAsync).AddEndpointFilter(RequireCsrf);
    }

    public async ValueTask<object?> RequireSession(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var session = await accounts.SessionAsync(http.Request.Cookies[cookieName]);
        if (session is null)
        {
            bool page = !http.Request.Path.StartsWithSegments(prefix + "/api");
            return page ? Results.Redirect(prefix + "/login") : Results.Json(new { error = "Silakan masuk (login) dulu." }, json, statusCode: 401);
        }
        http.Items[SessionItem] = session;
        return await next(context);
    }

    public async ValueTask<object?> RequireCsrf(EndpointFilterInvocationContext context, EndpointFilterDelegate next) =>
        OperatorAccounts<TRole>.CsrfMatches(Session(context.HttpContext), context.HttpContext.Request.Headers[OperatorAccounts<TRole>.CsrfHeader])
            ? await next(context)
            : Results.Json(new { error = "Token CSRF tidak cocok; muat ulang halaman." }, json, statusCode: 403);

    /// <summary>Lets through only sessions whose role is <paramref name="role"/>; the others get <paramref name="refusal"/> (403).</summary>
    public async ValueTask<object?> RequireRole(TRole role, string refusal, EndpointFilterInvocationContext context, EndpointFilterDelegate next) =>
        EqualityComparer<TRole>.Default.Equals(Session(context.HttpContext).Role, role)
            ? await next(context)
            : Results.Json(new { error = refusal }, json, statusCode: 403);

    private sealed record LoginRequest(string? Name, string? Password);

    private async Task<IResult> LoginAsync(HttpContext http)
    {
        // JSON only: a cross-site form cannot send it without the browser asking first (and the cookie is SameSite=Strict).
        if (!http.Request.HasJsonContentType()) return Results.Json(new { error = "Kirim JSON." }, json, statusCode: 415);
        LoginRequest? request;
        try { request = await http.Request.ReadFromJsonAsync<LoginRequest>(json); }
        catch (JsonException) { return Results.Json(new { error = "Permintaan tidak terbaca." }, json, statusCode: 400); }
        if (request is not { Name: { Length: > 0 } name, Password: { Length: > 0 } password } || password.Length > 200)
            return Results.Json(new { error = "Nama dan kata sandi wajib diisi." }, json, statusCode: 400);
        var result = await accounts.LoginAsync(name, password, http.Connection.RemoteIpAddress?.ToString());
        if (result is not { } ok) return Results.Json(new { error = "Nama atau kata sandi salah (atau akun dikunci sementara)." }, json, statusCode: 401);
        http.Response.Cookies.Append(cookieName, ok.Token, new CookieOptions
        {
            HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = secureCookies(), Path = prefix, Expires = ok.Session.ExpiresAt,
        });
        return Results.Json(Me(ok.Session), json);
    }

    private async Task<IResult> LogoutAsync(HttpContext http)
    {
        await accounts.LogoutAsync(http.Request.Cookies[cookieName]!, Session(http).Account, http.Connection.RemoteIpAddress?.ToString());
        http.Response.Cookies.Delete(cookieName, new CookieOptions { Path = prefix });
        return Results.Json(new { ok = true }, json);
    }
}
