using Microsoft.AspNetCore.Http.Features;

using static KpuEdge.Cloud.Api.ApiErrors;

namespace KpuEdge.Cloud.Api;

/// <summary>
/// Answers a request body over its limit with 413 and <c>{"error": ...}</c>. The limit is Kestrel's, enforced while the
/// body is read: <see cref="CloudOptions.MaxRequestBodyBytes"/>, or an endpoint's own <c>RequestSizeLimit</c> metadata,
/// which routing applies before this runs. A body declared too large (Content-Length) is refused before a byte of it is
/// read; a chunked one is cut off as it passes the limit, so no request holds more than its limit in memory.
/// </summary>
internal static class RequestBodyLimits
{
    public static IApplicationBuilder UseRequestBodyLimits(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        long? limit = context.Features.Get<IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize;
        if (context.Request.ContentLength > limit)
        {
            await TooLarge(limit.Value).ExecuteAsync(context);
            return;
        }
        try
        {
            await next(context);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge && !context.Response.HasStarted && limit is not null)
        {
            await TooLarge(limit.Value).ExecuteAsync(context);
        }
    });

    private static IResult TooLarge(long limit) =>
        Error(StatusCodes.Status413PayloadTooLarge, $"The request body is larger than this endpoint takes ({limit} bytes).");
}
