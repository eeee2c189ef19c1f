using Microsoft.Extensions.Options;

namespace KpuEdge.Cloud.Api;

/// <summary>
/// How many revocation lists the API receives at once (<see cref="CloudOptions.MaxConcurrentCrlUploads"/>, 1 by
/// default), each for at most <see cref="CloudOptions.CrlUploadTimeout"/>: every upload may hold up to
/// <see cref="TrustApi.MaxCrlBytes"/> in memory while it is read and checked, so parallel uploads cannot add up, and a
/// sender trickling its bytes cannot keep the slot from the next CRL for long.
/// </summary>
public sealed class CrlUploadSlots(IOptions<CloudOptions> options, TimeProvider time)
{
    /// <summary>What a busy answer's Retry-After says, in seconds.</summary>
    public const int RetryAfterSeconds = 5;

    private readonly SemaphoreSlim _free = new(options.Value.MaxConcurrentCrlUploads);

    /// <summary>A slot if one is free now (never waits); dispose it to give it back.</summary>
    public Slot? TryTake() => _free.Wait(0) ? new Slot(_free, options.Value.CrlUploadTimeout, time) : null;

    public sealed class Slot : IDisposable
    {
        private readonly SemaphoreSlim _free;
        private readonly CancellationTokenSource _deadline;
        private int _released;

        internal Slot(SemaphoreSlim free, TimeSpan timeout, TimeProvider time)
        {
            _free = free;
            _deadline = new CancellationTokenSource(timeout, time);
        }

        /// <summary>Cancelled when the upload has taken its time.</summary>
        public CancellationToken Deadline => _deadline.Token;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) != 0) return;
            _deadline.Dispose();
            _free.Release();
        }
    }
}
