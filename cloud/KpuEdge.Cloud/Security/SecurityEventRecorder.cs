using System.Threading.Channels;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Security;

namespace KpuEdge.Cloud.Security;

/// <summary>
/// Records security events seen outside the ingest's own transactions (the broker's TLS, client-id and ACL refusals;
/// revocations): logged at once, written to the ledger in small batches off the broker's threads.
/// </summary>
public sealed class SecurityEventRecorder(ILedgerWriter ledger, ILogger<SecurityEventRecorder> logger) : BackgroundService
{
    private readonly Channel<SecurityEvent> _pending = Channel.CreateBounded<SecurityEvent>(
        new BoundedChannelOptions(100_000) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private long _dropped;
    private readonly Lock _waitersLock = new();
    private readonly List<(Func<SecurityEvent, bool> Match, TaskCompletionSource<SecurityEvent> Done)> _waiters = [];
    private readonly Queue<SecurityEvent> _recent = new();
    private const int RecentKept = 1000;

    /// <summary>Events refused because the queue was full (a flood); the count itself is the signal.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    public void Record(SecurityEvent e)
    {
        logger.Log(e.Severity == SecuritySeverity.Info ? LogLevel.Information : LogLevel.Warning,
            "Security {Kind} ({Severity}) from {Source}: {Subject} {Detail}", e.Kind, e.Severity, e.Source, e.DeviceId ?? e.Subject ?? "?", e.Detail);
        if (!_pending.Writer.TryWrite(e)) Interlocked.Increment(ref _dropped);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<SecurityEvent>();
        try
        {
            while (await _pending.Reader.WaitToReadAsync(stoppingToken))
            {
                batch.Clear();
                while (batch.Count < 512 && _pending.Reader.TryRead(out var e)) batch.Add(e);
                await FlushAsync(batch);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            batch.Clear();
            while (_pending.Reader.TryRead(out var e)) batch.Add(e);
            await FlushAsync(batch);
        }
    }

    private async Task FlushAsync(List<SecurityEvent> batch)
    {
        IReadOnlyList<SecurityEvent> recorded;
        try { recorded = await ledger.AppendEventsAsync(batch); }
        catch (Exception ex)
        {
            logger.LogError(ex, "Recording {Count} security events failed", batch.Count);
            return;
        }
        lock (_waitersLock)
        {
            foreach (var e in recorded)
            {
                _recent.Enqueue(e);
                if (_recent.Count > RecentKept) _recent.Dequeue();
                for (int i = _waiters.Count - 1; i >= 0; i--)
                {
                    bool matched;
                    try { matched = _waiters[i].Match(e); }
                    catch (Exception ex)
                    {
                        // A waiter's question that throws ends that wait, never the recorder.
                        _waiters[i].Done.TrySetException(ex);
                        _waiters.RemoveAt(i);
                        continue;
                    }
                    if (!matched) continue;
                    _waiters[i].Done.TrySetResult(e);
                    _waiters.RemoveAt(i);
                }
            }
        }
    }

    /// <summary>Completes when an event matching <paramref name="match"/> has been durably recorded (also one recorded lately).</summary>
    public Task<SecurityEvent> RecordedAsync(Func<SecurityEvent, bool> match, CancellationToken cancellationToken = default)
    {
        lock (_waitersLock)
        {
            foreach (var e in _recent)
                if (match(e)) return Task.FromResult(e);
            var done = new TaskCompletionSource<SecurityEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((match, done));
            return done.Task.WaitAsync(cancellationToken);
        }
    }
}
