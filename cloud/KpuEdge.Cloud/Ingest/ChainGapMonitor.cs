using System.Globalization;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Cloud.Security;
using KpuEdge.Core.Security;
using Microsoft.Extensions.Options;

namespace KpuEdge.Cloud.Ingest;

/// <summary>
/// Gaps in device chains that persist: a sequence number below a device's newest that has not arrived
/// <see cref="CloudOptions.ChainGapGrace"/> after the device's last form. Forms routinely arrive out of order (five
/// contests in flight, resends over thin links), so a gap is only news when it lasts: then a signed form is missing —
/// lost, held back, or suppressed. A reported gap that later fills is reported closed. Each pass reads only the chains
/// that changed since the last (<see cref="IDeviceChains.ChainsChangedAfterAsync"/>): the first pass of an activation
/// reads them all once, later ones what the ledger gained meanwhile.
/// </summary>
public sealed class ChainGapSweep
{
    private long _through;
    private readonly Dictionary<string, ChainHoles> _open = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _reported = new(StringComparer.Ordinal);

    /// <summary>One pass: the gaps older than <paramref name="grace"/> not reported yet (or changed), and reported gaps now filled.</summary>
    public async Task<IReadOnlyList<SecurityEvent>> NextAsync(IDeviceChains ledger, DateTimeOffset now, TimeSpan grace, CancellationToken cancellationToken = default)
    {
        var changes = await ledger.ChainsChangedAfterAsync(_through, cancellationToken);
        _through = changes.Through;
        foreach (var device in changes.Devices) _open.Remove(device);
        foreach (var holes in changes.Holes) _open[holes.DeviceId] = holes;

        var events = new List<SecurityEvent>();
        foreach (var holes in _open.Values)
        {
            if (now - holes.LastReceivedAt < grace) continue;
            string missing = Ranges(holes.Missing);
            if (_reported.TryGetValue(holes.DeviceId, out var known) && known == missing) continue;
            _reported[holes.DeviceId] = missing;
            events.Add(new SecurityEvent
            {
                Ts = now, Kind = SecurityEventKinds.ChainGap, Severity = SecuritySeverity.Info, Source = SecurityEventSources.Ingest,
                DeviceId = holes.DeviceId, Tps = holes.Tps,
                Detail = $"sequence numbers {missing} below the newest ({holes.Head}) have not arrived since {holes.LastReceivedAt:O}",
                Evidence = new Dictionary<string, string>(StringComparer.Ordinal)
                {
                    ["missing"] = missing,
                    ["head"] = holes.Head.ToString(CultureInfo.InvariantCulture),
                    ["last_received_at"] = holes.LastReceivedAt.ToString("O", CultureInfo.InvariantCulture),
                },
            });
        }
        foreach (var device in _reported.Keys.Where(d => !_open.ContainsKey(d)).ToList())
        {
            events.Add(new SecurityEvent
            {
                Ts = now, Kind = SecurityEventKinds.ChainGapClosed, Severity = SecuritySeverity.Info, Source = SecurityEventSources.Ingest,
                DeviceId = device, Detail = $"the missing sequence numbers {_reported[device]} have arrived",
                Evidence = new Dictionary<string, string>(StringComparer.Ordinal) { ["missing"] = _reported[device] },
            });
            _reported.Remove(device);
        }
        return events;
    }

    /// <summary>"2", "2-4", "2-4,7": compact for the wall.</summary>
    private static string Ranges(IReadOnlyList<ulong> numbers)
    {
        var parts = new List<string>();
        for (int i = 0; i < numbers.Count;)
        {
            int j = i;
            while (j + 1 < numbers.Count && numbers[j + 1] == numbers[j] + 1) j++;
            parts.Add(i == j ? numbers[i].ToString(CultureInfo.InvariantCulture) : $"{numbers[i]}-{numbers[j]}");
            i = j + 1;
        }
        return string.Join(',', parts);
    }
}

/// <summary>The cluster's one chain-gap sweep (key 0): whichever node asks, one activation sweeps, one pass at a time.</summary>
[Alias("kpu.IChainGapGrain")]
public interface IChainGapGrain : IGrainWithIntegerKey
{
    /// <summary>One pass. The first of an activation reads every chain, which for a national ledger takes longer than a call usually may.</summary>
    [Alias("Sweep"), ResponseTimeout("00:05:00")]
    Task Sweep();
}

/// <summary>
/// Holds the sweep's place in the ledger and the gaps it reported, in memory: if its node is lost, the grain activates
/// on another, reads every chain once and reports the gaps that still last once more.
/// </summary>
public sealed class ChainGapGrain(IDeviceChains ledger, SecurityEventRecorder events, IOptions<CloudOptions> options, TimeProvider time) : Grain, IChainGapGrain
{
    private readonly ChainGapSweep _sweep = new();

    public async Task Sweep()
    {
        foreach (var e in await _sweep.NextAsync(ledger, time.GetUtcNow(), options.Value.ChainGapGrace)) events.Record(e);
    }
}

/// <summary>
/// Every node asks the cluster's sweep grain for a pass every half <see cref="CloudOptions.ChainGapGrace"/> (at least a
/// second): the sweep runs on one node at a time and keeps going when that node is lost. Each pass reads only what
/// changed since the one before, so N nodes asking costs N small reads, not N sweeps of the ledger.
/// </summary>
public sealed class ChainGapMonitor(IGrainFactory grains, IOptions<CloudOptions> options, TimeProvider time, ILogger<ChainGapMonitor> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromTicks(Math.Max(options.Value.ChainGapGrace.Ticks / 2, TimeSpan.FromSeconds(1).Ticks));
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try { await SweepAsync(); }
                catch (Exception e) { logger.LogError(e, "Sweeping device chains for gaps failed; the next tick tries again"); }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }

    /// <summary>One pass of the cluster's sweep, now.</summary>
    public Task SweepAsync() => grains.GetGrain<IChainGapGrain>(0).Sweep();
}
