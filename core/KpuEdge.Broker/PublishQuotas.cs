using System.Collections.Concurrent;

namespace KpuEdge.Broker;

/// <summary>
/// A token bucket per client: whether a client may publish one more message now. Refilled by the clock, so a device
/// that keeps to its pace never meets it, and one that floods is held to <see cref="PublishQuota.PerSecond"/>.
/// </summary>
public sealed class PublishQuotas(TimeProvider time)
{
    private sealed class Bucket
    {
        public double Tokens;
        public long At;
    }

    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);

    public bool TryTake(string clientId, PublishQuota quota)
    {
        long now = time.GetTimestamp();
        var bucket = _buckets.GetOrAdd(clientId, _ => new Bucket { Tokens = quota.Burst, At = now });
        lock (bucket)
        {
            double refill = time.GetElapsedTime(bucket.At, now).TotalSeconds * quota.PerSecond;
            bucket.Tokens = Math.Min(quota.Burst, bucket.Tokens + refill);
            bucket.At = now;
            if (bucket.Tokens < 1) return false;
            bucket.Tokens -= 1;
            return true;
        }
    }

    /// <summary>Forgets a client's bucket (when it is gone for good).</summary>
    public void Forget(string clientId) => _buckets.TryRemove(clientId, out _);
}
