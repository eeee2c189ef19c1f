namespace KpuEdge.LinkEmulator.Tests;

/// <summary>Records a proxy's events and lets a test await one, instead of polling counters.</summary>
internal sealed class LinkEvents
{
    private readonly Lock _gate = new();
    private readonly List<LinkEvent> _seen = [];
    private readonly List<(Func<IReadOnlyList<LinkEvent>, bool> Condition, TaskCompletionSource Done)> _waiters = [];

    public LinkEvents(LinkProxy proxy) => proxy.Observed += Add;

    public IReadOnlyList<LinkEvent> Seen
    {
        get
        {
            lock (_gate) return [.. _seen];
        }
    }

    public Task WhenAsync(Func<IReadOnlyList<LinkEvent>, bool> condition)
    {
        lock (_gate)
        {
            if (condition(_seen)) return Task.CompletedTask;
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((condition, done));
            return done.Task.WaitAsync(Bounds.Wait);
        }
    }

    public Task WhenAsync(LinkEventKind kind, int count = 1) => WhenAsync(events => events.Count(e => e.Kind == kind) >= count);

    /// <summary>Completes once at least <paramref name="bytes"/> bytes of <paramref name="direction"/> entered the link.</summary>
    public Task WhenReceivedAsync(LinkDirection direction, long bytes) =>
        WhenAsync(events => events.Where(e => e.Kind == LinkEventKind.Received && e.Direction == direction).Sum(e => (long)e.Bytes) >= bytes);

    private void Add(LinkEvent e)
    {
        List<TaskCompletionSource> ready = [];
        lock (_gate)
        {
            _seen.Add(e);
            foreach (var w in _waiters.Where(w => w.Condition(_seen)).ToList())
            {
                _waiters.Remove(w);
                ready.Add(w.Done);
            }
        }
        foreach (var done in ready) done.TrySetResult();
    }
}

internal static class Bounds
{
    /// <summary>How long any single await may take before the test fails (never a sleep: only a ceiling).</summary>
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
}
