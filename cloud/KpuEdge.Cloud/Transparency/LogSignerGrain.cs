namespace KpuEdge.Cloud.Transparency;

/// <summary>The cluster's one checkpoint signer (key 0): every node's checkpoints are signed here, one at a time.</summary>
[Alias("kpu.ILogSignerGrain")]
public interface ILogSignerGrain : IGrainWithIntegerKey
{
    /// <summary>Signs the first <paramref name="size"/> entries if <paramref name="root"/> is their root in the ledger.</summary>
    [Alias("Sign")]
    Task<LogCheckpoint> Sign(long size, byte[] root);

    /// <summary>Signs the whole log as the ledger holds it (if it grew) and persists the newest checkpoint not yet published.</summary>
    [Alias("Publish")]
    Task<LogCheckpoint> Publish();
}

/// <summary>
/// One activation in the cluster signs checkpoints, checking each root against the tree of the node it runs on (read
/// from the ledger). Orleans keeps one activation; and since every root it signs is the ledger's root of that size,
/// even two activations during a membership change could not sign two different checkpoints of one size. If its node
/// dies the grain activates on another, whose tree follows the same ledger.
/// </summary>
public sealed class LogSignerGrain(TransparencyLog log, ILogger<LogSignerGrain> logger) : Grain, ILogSignerGrain
{
    private long _published = -1;

    public Task<LogCheckpoint> Sign(long size, byte[] root) => log.SignAsSignerAsync(size, root);

    public async Task<LogCheckpoint> Publish()
    {
        var checkpoint = await log.SignAllAsSignerAsync();
        if (checkpoint.Size > _published)
        {
            await log.PublishAsync(checkpoint);
            _published = checkpoint.Size;
            logger.LogDebug("Published checkpoint {Size}", checkpoint.Size);
        }
        return checkpoint;
    }
}

/// <summary>A node's way to the cluster's signer.</summary>
public sealed class GrainCheckpointSigner(IGrainFactory grains) : ICheckpointSigner
{
    private ILogSignerGrain Grain => grains.GetGrain<ILogSignerGrain>(0);

    public Task<LogCheckpoint> SignAsync(long size, byte[] root) => Grain.Sign(size, root);

    public Task<LogCheckpoint> PublishAsync() => Grain.Publish();
}
