namespace KpuEdge.Cloud.Transparency;

/// <summary>
/// Has the cluster's signer publish (sign and persist) the newest checkpoint every few seconds when the log grew. Every
/// node asks; the signer publishes each size once, so publishing goes on whichever node is lost.
/// </summary>
public sealed class CheckpointPublisher(TransparencyLog log, Microsoft.Extensions.Options.IOptions<CloudOptions> options, TimeProvider time,
    ILogger<CheckpointPublisher> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.CheckpointInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                if (log.Signer is null) continue; // the ingest has not loaded the log yet
                try { await log.PublishFreshAsync(stoppingToken); }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested) { logger.LogError(e, "Publishing a checkpoint failed; the next tick tries again"); }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        // The last word before a clean stop: whatever was appended is covered by a published checkpoint.
        if (log.Signer is null) return;
        try { await log.PublishFreshAsync(cancellationToken); }
        catch (Exception e) { logger.LogWarning(e, "Publishing the final checkpoint failed"); }
    }
}
