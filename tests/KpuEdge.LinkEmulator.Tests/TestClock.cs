using Microsoft.Extensions.Time.Testing;

namespace KpuEdge.LinkEmulator.Tests;

/// <summary>
/// A <see cref="FakeTimeProvider"/> that also knows how many of its timers are armed, so a test can wait until the
/// proxy is parked on the clock (pacing or delaying) before advancing it, instead of sleeping and hoping.
/// </summary>
internal sealed class TestClock : TimeProvider
{
    private readonly FakeTimeProvider _fake = new();
    private readonly Lock _gate = new();
    private readonly List<(int Count, TaskCompletionSource Done)> _waiters = [];
    private int _armed;

    public override DateTimeOffset GetUtcNow() => _fake.GetUtcNow();

    public override long GetTimestamp() => _fake.GetTimestamp();

    public override long TimestampFrequency => _fake.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => _fake.LocalTimeZone;

    public void Advance(TimeSpan by) => _fake.Advance(by);

    /// <summary>Completes when at least <paramref name="count"/> timers are armed and not yet fired.</summary>
    public Task WhenArmedAsync(int count = 1)
    {
        lock (_gate)
        {
            if (_armed >= count) return Task.CompletedTask;
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((count, done));
            return done.Task.WaitAsync(Bounds.Wait);
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new TrackedTimer(this, period);
        timer.Start(() => _fake.CreateTimer(s => timer.Fire(callback, s), state, dueTime, period), dueTime);
        return timer;
    }

    private void Count(int delta)
    {
        List<TaskCompletionSource> ready = [];
        lock (_gate)
        {
            _armed += delta;
            foreach (var w in _waiters.Where(w => _armed >= w.Count).ToList())
            {
                _waiters.Remove(w);
                ready.Add(w.Done);
            }
        }
        foreach (var done in ready) done.TrySetResult();
    }

    /// <summary>
    /// Counts as armed only once the fake clock holds its due time, so "armed" means "advancing the clock will
    /// wake it": a test that advances on that signal cannot slip in between a wait being computed and registered.
    /// </summary>
    private sealed class TrackedTimer(TestClock clock, TimeSpan period) : ITimer
    {
        private readonly Lock _gate = new();
        private ITimer? _inner;
        private bool _armed;
        private int _fires;
        private TimeSpan _period = period;

        public void Start(Func<ITimer> create, TimeSpan dueTime)
        {
            int fires;
            lock (_gate) fires = _fires;
            var inner = create();
            lock (_gate)
            {
                _inner = inner;
                if (dueTime != Timeout.InfiniteTimeSpan && _fires == fires) SetLocked(true);
            }
        }

        public void Fire(TimerCallback callback, object? state)
        {
            lock (_gate)
            {
                _fires++;
                if (_period == Timeout.InfiniteTimeSpan) SetLocked(false); // a one-shot timer is spent once it fired
            }
            callback(state);
        }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            int fires;
            ITimer inner;
            lock (_gate)
            {
                fires = _fires;
                _period = period;
                SetLocked(false);
                inner = _inner!;
            }
            bool changed = inner.Change(dueTime, period);
            lock (_gate)
            {
                if (dueTime != Timeout.InfiniteTimeSpan && _fires == fires) SetLocked(true);
            }
            return changed;
        }

        public void Dispose()
        {
            ITimer? inner;
            lock (_gate)
            {
                SetLocked(false);
                inner = _inner;
            }
            inner?.Dispose();
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }

        private void SetLocked(bool armed)
        {
            if (armed == _armed) return;
            _armed = armed;
            clock.Count(armed ? 1 : -1);
        }
    }
}
