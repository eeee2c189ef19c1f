using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KpuEdge.Access;

/// <summary>
/// A screen's own small web server on one URL (a device's or a station's, beside its main work): only the paths under
/// <paramref name="prefix"/> answer (the root redirects there), every answer carries <see cref="ScreenAssets.SecureHeaders"/>,
/// and <see cref="Address"/> is where a browser finds it once started (the port chosen when asked for 0).
/// </summary>
public sealed class ScreenHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _prefix;

    public ScreenHost(string url, string prefix, Action<WebApplication, RouteGroupBuilder> map, ILoggerFactory? logging = null, long? maxRequestBytes = null)
    {
        _prefix = prefix;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (logging is not null) builder.Services.AddSingleton(logging);
        builder.WebHost.UseUrls(url);
        if (maxRequestBytes is { } max) builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = max);
        _app = builder.Build();
        _app.Use(async (context, next) =>
        {
            if (!context.Request.Path.StartsWithSegments(prefix))
            {
                if (context.Request.Path == "/") context.Response.Redirect(prefix + "/");
                else context.Response.StatusCode = 404;
                return;
            }
            ScreenAssets.SecureHeaders(context.Response);
            await next();
        });
        map(_app, _app.MapGroup(prefix));
    }

    public Uri Address { get; private set; } = null!;

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _app.StartAsync(cancellationToken);
        var addresses = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        Address = new Uri(addresses.First().Replace("0.0.0.0", "127.0.0.1").Replace("[::]", "127.0.0.1").TrimEnd('/') + _prefix + "/");
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
