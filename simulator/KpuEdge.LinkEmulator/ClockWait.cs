namespace KpuEdge.LinkEmulator;

/// <summary>
/// Waiting until a point on the link's clock, rather than for a span: with a fake clock that a test or the
/// simulator advances in jumps, a span measured just before a jump would oversleep by the jump.
/// </summary>
internal static class ClockWait
{
    // Below this the clock is taken as not having moved while arming (the system clock always moves a little).
    private static readonly TimeSpan Tolerance = TimeSpan.FromMilliseconds(1);

    public static Task UntilAsync(TimeProvider time, Func<TimeSpan> now, TimeSpan deadline, CancellationToken cancellation)
    {
        var before = now();
        if (deadline <= before) return Task.CompletedTask;

        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var timer = time.CreateTimer(static state => ((TaskCompletionSource)state!).TrySetResult(), done, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        while (true)
        {
            var remaining = deadline - before;
            if (remaining <= TimeSpan.Zero)
            {
                // The clock passed the deadline while we armed: disarm, so nothing looks like it is still waiting.
                timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                done.TrySetResult();
                break;
            }
            timer.Change(remaining, Timeout.InfiniteTimeSpan);
            var after = now();
            if (after - before <= Tolerance) break; // the timer was armed against the clock we measured from
            before = after;
        }
        var registration = cancellation.Register(static state => ((TaskCompletionSource)state!).TrySetCanceled(), done);
        return CleanUpAsync(done.Task, timer, registration);
    }

    private static async Task CleanUpAsync(Task done, ITimer timer, CancellationTokenRegistration registration)
    {
        try
        {
            await done.ConfigureAwait(false);
        }
        finally
        {
            await registration.DisposeAsync().ConfigureAwait(false);
            await timer.DisposeAsync().ConfigureAwait(false);
        }
    }
}
