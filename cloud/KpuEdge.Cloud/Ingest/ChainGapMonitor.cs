using System.Globalization;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Cloud.Security;
using KpuEdge.Core.Security;
using Microsoft.Extensions.Options;

namespace KpuEdge.Cloud.Ingest;

/// <summary>
/// Reports gaps in device chains that persist: a sequence number below a device's newest that has not arrived
/// <see cref="CloudOptions.ChainGapGrace"/> after the device's last form. Forms routinely arrive out of order (five
/// contests in flight, resends over thin links), so a gap is only news when it lasts: then a signed form is missing —
/// lost, held back, or suppressed. A reported gap that later fills is reported closed.
/// </summary>
public sealed class ChainGapMonitor(IDeviceChains ledger, SecurityEventRecorder events, IOptions<CloudOptions> options, TimeProvider time,
    ILogger<ChainGapMonitor> logger) : BackgroundService
{
    private readonly Dictionary<string, string> _reported = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _lock = new(1, 1);

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

    /// <summary>One pass: reports gaps older than the grace period, and gaps reported earlier that have since filled.</summary>
    public async Task SweepAsync()
    {
        await _lock.WaitAsync();
        try
        {
            var now = time.GetUtcNow();
            var open = new HashSet<string>(StringComparer.Ordinal);
            foreach (var holes in await ledger.DevicesWithHolesAsync())
            {
                open.Add(holes.DeviceId);
                if (now - holes.LastReceivedAt < options.Value.ChainGapGrace) continue;
                string missing = Ranges(holes.Missing);
                if (_reported.TryGetValue(holes.DeviceId, out var known) && known == missing) continue;
                _reported[holes.DeviceId] = missing;
                events.Record(new SecurityEvent
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
            foreach (var device in _reported.Keys.Where(d => !open.Contains(d)).ToList())
            {
                events.Record(new SecurityEvent
                {
                    Ts = now, Kind = SecurityEventKinds.ChainGapClosed, Severity = SecuritySeverity.Info, Source = SecurityEventSources.Ingest,
                    DeviceId = device, Detail = $"the missing sequence numbers {_reported[device]} have arrived",
                    Evidence = new Dictionary<string, string>(StringComparer.Ordinal) { ["missing"] = _reported[device] },
                });
                _reported.Remove(device);
            }
        }
        finally { _lock.Release(); }
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
