using KpuEdge.Cloud.Ledger;
using Microsoft.Extensions.Options;

namespace KpuEdge.Cloud.Public;

[Alias("kpu.IPublicTreeGrain")]
public interface IPublicTreeGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Brings the public tree up to the newest published checkpoint; null when it already was. The first build of a
    /// national ledger writes every TPS's files, which takes minutes.
    /// </summary>
    [Alias("Build"), ResponseTimeout("01:00:00")]
    Task<PublicTreeBuild?> Build();
}

/// <summary>The cluster's one writer of the public tree (key 0): builds never overlap, whichever node asks.</summary>
public sealed class PublicTreeGrain(PublicTreeBuilder builder, ILogStore log) : Grain, IPublicTreeGrain
{
    public async Task<PublicTreeBuild?> Build()
    {
        if (await log.LatestCheckpointAsync() is not { } checkpoint) return null;
        // The build's file work runs on the thread pool, not the grain's scheduler: it writes from several threads.
        return await Task.Run(() => builder.BuildAsync(checkpoint));
    }
}

/// <summary>
/// Every node asks the tree's grain for a build every <see cref="CloudOptions.PublicTreeInterval"/>: the tree follows
/// the published checkpoints (themselves every <see cref="CloudOptions.CheckpointInterval"/> while the log grows).
/// </summary>
public sealed class PublicTreeMonitor(IGrainFactory grains, IOptions<CloudOptions> options, TimeProvider time, ILogger<PublicTreeMonitor> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.PublicTreeInterval <= TimeSpan.Zero) return;
        using var timer = new PeriodicTimer(options.Value.PublicTreeInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try { await BuildAsync(); }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    logger.LogError(e, "Building the public tree failed; the public keeps the last tree, and the next tick tries again");
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }

    /// <summary>One build, now (up to the newest published checkpoint).</summary>
    public Task<PublicTreeBuild?> BuildAsync() => grains.GetGrain<IPublicTreeGrain>(0).Build();
}
