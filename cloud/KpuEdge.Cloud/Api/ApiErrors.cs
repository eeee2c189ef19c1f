using KpuEdge.Core.Protocol;

namespace KpuEdge.Cloud.Api;

/// <summary>Every endpoint's error answer: <c>{"error": "..."}</c> with a 4xx status (503 when busy).</summary>
internal static class ApiErrors
{
    public static IResult Error(int status, string message) => Results.Json(new { error = message }, KpuJson.Wire, statusCode: status);
}
