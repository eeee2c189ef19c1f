using KpuEdge.Nsoc.Incidents;
using KpuEdge.Nsoc.Rules;
using KpuEdge.Nsoc.Telemetry;
using KpuEdge.Nsoc.Wall;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KpuEdge.Nsoc;

/// <summary>How a cloud node hosts the NSOC: its services here, its wall mapped by <see cref="WallApi.MapWall"/>.</summary>
public static class NsocModule
{
    /// <summary>Adds the NSOC's parts; the host must register an <see cref="INsocSources"/>.</summary>
    public static IServiceCollection AddNsoc(this IServiceCollection services, NsocOptions options)
    {
        if (options.Problems() is { Count: > 0 } problems)
            throw new InvalidOperationException("The NSOC's settings do not hold together:\n  " + string.Join("\n  ", problems));
        var rules = options.RulesPath.Length > 0 ? NsocRules.Load(options.RulesPath) : NsocRules.Default();
        services.AddSingleton(Options.Create(options));
        services.AddSingleton(rules);
        services.AddHttpClient();
        services.AddSingleton<InfluxWriter>();
        services.AddHostedService(sp => sp.GetRequiredService<InfluxWriter>());
        services.AddSingleton<InfluxHistory>();
        services.AddSingleton(_ => (options.PostgresConnection is { Length: > 0 } pg
            ? IncidentStore.OpenPostgresAsync(pg)
            : IncidentStore.OpenSqliteAsync(options.StorePath)).GetAwaiter().GetResult());
        services.AddSingleton<AnomalyMonitor>();
        services.AddHostedService(sp => sp.GetRequiredService<AnomalyMonitor>());
        services.AddSingleton(sp => new OperatorAccounts<NsocRole>(sp.GetRequiredService<IncidentStore>(), options.SessionLifetime,
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>().CreateLogger("KpuEdge.Nsoc.Wall")));
        services.AddSingleton(sp => new SessionEndpoints<NsocRole>(sp.GetRequiredService<OperatorAccounts<NsocRole>>(), WallApi.Prefix, WallApi.CookieName,
            () => sp.GetRequiredService<IOptions<NsocOptions>>().Value.SecureCookies, KpuEdge.Core.Protocol.KpuJson.Wire));
        services.AddHostedService<NsocPump>();
        return services;
    }
}

/// <summary>
/// Ticks the rules engine with this node's ingest figures every <see cref="NsocRules.EvaluateEvery"/>, and makes the
/// first operator account at the first start. Every node runs one; the engine itself is one grain in the cluster.
/// </summary>
public sealed class NsocPump(
    NsocRules rules, INsocSources sources, IGrainFactory grains, OperatorAccounts<NsocRole> accounts, IOptions<NsocOptions> options, TimeProvider time, IHostApplicationLifetime lifetime,
    ILogger<NsocPump> logger) : BackgroundService
{
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once the first operator account exists (made, or found).</summary>
    public Task Ready => _ready.Task;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource();
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        using (stoppingToken.Register(() => started.TrySetCanceled()))
        {
            try { await started.Task; }
            catch (OperationCanceledException) { return; }
        }
        try
        {
            await accounts.EnsureFirstOperatorAsync(NsocRole.Operator, options.Value.AdminPasswordFile, "NSOC");
            _ready.TrySetResult();
        }
        catch (Exception e)
        {
            // No account means nobody can log in to the wall: say so where the operator looks, and go on judging.
            logger.LogCritical(e, "NSOC: making the first operator account failed; the wall cannot be logged in to");
            _ready.TrySetException(e);
        }
        bool failing = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await grains.GetGrain<INsocGrain>(0).Tick(sources.NodeStats());
                if (failing) logger.LogInformation("NSOC rules engine reachable again");
                failing = false;
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                if (!failing) logger.LogError(e, "NSOC rules engine tick failed; the wall's figures are stale until it answers");
                failing = true;
            }
            try { await Task.Delay(rules.EvaluateEvery, time, stoppingToken); }
            catch (OperationCanceledException) { return; }
        }
    }
}
