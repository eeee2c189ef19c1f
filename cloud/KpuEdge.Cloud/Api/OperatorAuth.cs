using KpuEdge.Cloud.Security;

using static KpuEdge.Cloud.Api.ApiErrors;

namespace KpuEdge.Cloud.Api;

/// <summary>
/// Endpoints for NSOC operators only: the request must carry <c>Authorization: Bearer &lt;operator token&gt;</c>
/// (<see cref="OperatorToken"/>), else 401 with <c>WWW-Authenticate: Bearer</c> (RFC 6750).
/// </summary>
internal static class OperatorAuth
{
    private const string Challenge = "Bearer realm=\"kpu-nsoc\"";

    public static RouteHandlerBuilder RequireOperator(this RouteHandlerBuilder endpoint) => endpoint.AddEndpointFilter(async (context, next) =>
    {
        var http = context.HttpContext;
        var authorization = http.Request.Headers.Authorization;
        if (authorization.Count == 1 && http.RequestServices.GetRequiredService<OperatorToken>().Accepts(authorization[0]))
            return await next(context);
        bool presented = authorization.Count > 0;
        http.Response.Headers.WWWAuthenticate = presented ? Challenge + ", error=\"invalid_token\"" : Challenge;
        return Error(401, presented
            ? "The operator token is not valid."
            : "For NSOC operators only: send the header Authorization: Bearer followed by the operator token (the file Cloud:OperatorTokenFile).");
    });
}
