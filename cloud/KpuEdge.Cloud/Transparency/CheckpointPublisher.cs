using Microsoft.Extensions.Options;

namespace KpuEdge.Cloud.Transparency;

/// <summary>Publishes (persists and serves) the log's newest signed checkpoint every few seconds when it grew.</summary>
public sealed class CheckpointPublisher(TransparencyLog log, IOptions<CloudOptions> options, TimeProvider time, ILogger<CheckpointPublisher> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.CheckpointInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try { log.Publish(); }
                catch (Exception e) { logger.LogError(e, "Publishing a checkpoint failed; the next tick tries again"); }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
        finally
        {
            // The last word before a clean stop: whatever was appended is covered by a published checkpoint.
            try { log.Publish(); }
            catch (Exception e) { logger.LogWarning(e, "Publishing the final checkpoint failed"); }
        }
    }
}
