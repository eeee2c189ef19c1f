using KpuEdge.Core.Regions;
using KpuEdge.Core.Security;
using KpuEdge.Nsoc.Fleet;
using KpuEdge.Nsoc.Incidents;
using Microsoft.Extensions.Logging;

namespace KpuEdge.Nsoc.Rules;

/// <summary>What the wall shows on its counters and map, as of <see cref="At"/>.</summary>
[GenerateSerializer, Immutable, Alias("kpu.nsoc.WallState")]
public sealed record WallState
{
    [Id(0)] public required DateTimeOffset At { get; init; }
    /// <summary>Devices per province (code → counts), from the last fleet evaluation.</summary>
    [Id(1)] public required Dictionary<string, FleetCounts> Fleet { get; init; }
    /// <summary>TPS counted in the recap per province.</summary>
    [Id(2)] public required Dictionary<string, long> Progress { get; init; }
    [Id(3)] public required List<NodeStats> Nodes { get; init; }
    /// <summary>Forms a second over the last tick, all nodes.</summary>
    [Id(4)] public required double FormsPerSecond { get; init; }
    [Id(5)] public required long SecurityEventsSeen { get; init; }
}

/// <summary>
/// The NSOC's rules engine: one activation in the cluster. Every node's pump ticks it with the node's ingest figures; at
/// most once per <see cref="NsocRules.EvaluateEvery"/> it reads the new security events and judges the nodes, and once
/// per <see cref="NsocRules.FleetEvery"/> the fleet (every province's devices) and the regions' progress. Urgent
/// alerts (a tamper report, a fork) do not wait for a tick: they come in through <see cref="INsocGrain.Raise"/>.
/// Everything it concludes goes to the incident store, which dedups.
/// </summary>
[Alias("kpu.nsoc.INsocGrain")]
public interface INsocGrain : IGrainWithIntegerKey
{
    [Alias("Tick")]
    Task Tick(NodeStats node);

    [Alias("Raise")]
    Task Raise(IReadOnlyList<Alert> alerts);

    [Alias("Wall")]
    Task<WallState> Wall();

    /// <summary>Evaluates everything now (tests, and a wall asking for a refresh).</summary>
    [Alias("EvaluateNow")]
    Task EvaluateNow();
}

public sealed class NsocGrain(
    NsocRules rules, IncidentStore store, INsocSources sources, RegionTree tree, TimeProvider time, ILogger<NsocGrain> logger) : Grain, INsocGrain
{
    private const string EventCursor = "security_events";
    private readonly RuleEngine _engine = new(rules, tree);
    private Dictionary<string, FleetCounts> _fleet = new(StringComparer.Ordinal);
    private Dictionary<string, long> _reported = new(StringComparer.Ordinal);
    private long _eventCursor = -1;
    private long _eventsSeen;
    private DateTimeOffset _lastEvaluation = DateTimeOffset.MinValue, _lastFleet = DateTimeOffset.MinValue;
    private Task? _evaluating;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        DelayDeactivation(TimeSpan.FromDays(2));
        return Task.CompletedTask;
    }

    public async Task Tick(NodeStats node)
    {
        _engine.Node(node);
        var now = time.GetUtcNow();
        if (now - _lastEvaluation < rules.EvaluateEvery) return;
        await EvaluateAsync(now);
    }

    public Task EvaluateNow() => EvaluateAsync(time.GetUtcNow(), fleet: true);

    public async Task Raise(IReadOnlyList<Alert> alerts)
    {
        if (alerts.Count > 0) await store.RaiseAsync(alerts, rules.DedupWindow);
    }

    public Task<WallState> Wall() => Task.FromResult(new WallState
    {
        At = time.GetUtcNow(), Fleet = _fleet, Progress = _reported, Nodes = _engine.Nodes.ToList(), FormsPerSecond = _engine.FormsPerSecond,
        SecurityEventsSeen = _eventsSeen,
    });

    private async Task EvaluateAsync(DateTimeOffset now, bool fleet = false)
    {
        // One evaluation at a time: ticks from several nodes interleave at the awaits.
        if (_evaluating is { IsCompleted: false } running)
        {
            await running;
            return;
        }
        _evaluating = EvaluateCoreAsync(now, fleet || now - _lastFleet >= rules.FleetEvery);
        await _evaluating;
    }

    private async Task EvaluateCoreAsync(DateTimeOffset now, bool fleet)
    {
        _lastEvaluation = now;
        var alerts = new List<Alert>();
        try
        {
            // Go on from where the last filing left off: an event filed is never filed again, even after a restart.
            if (_eventCursor < 0) _eventCursor = await store.CursorAsync(EventCursor);
            for (int page = 0; page < 20; page++)
            {
                var events = await sources.SecurityEventsAfterAsync(_eventCursor, 1000, CancellationToken.None);
                foreach (var e in events)
                {
                    _eventCursor = Math.Max(_eventCursor, e.Id ?? _eventCursor);
                    _eventsSeen++;
                    if (_engine.FromEvent(e) is { } alert) alerts.Add(alert);
                }
                if (events.Count < 1000) break;
            }
            alerts.AddRange(_engine.JudgeNodes(now));
            if (fleet)
            {
                _lastFleet = now;
                var bounds = FleetBounds.From(rules);
                var provinces = tree.ChildrenOf(RegionCode.Nasional).Select(p => p.ToString()).ToArray();
                var counts = await Task.WhenAll(provinces.Select(p => GrainFactory.GetGrain<IFleetGrain>(p).Breakdown(p, 2, now, bounds)));
                var byProvince = new Dictionary<string, FleetCounts>(StringComparer.Ordinal);
                for (int i = 0; i < provinces.Length; i++) byProvince[provinces[i]] = counts[i].GetValueOrDefault(provinces[i]) ?? new FleetCounts();
                _fleet = byProvince;
                var conditions = await Task.WhenAll(provinces.Select(p => GrainFactory.GetGrain<IFleetGrain>(p).Conditions(now, bounds, 5000)));
                alerts.AddRange(_engine.FromConditions(conditions.SelectMany(c => c), now));
                var progress = await sources.ProvinceProgressAsync(CancellationToken.None);
                _reported = progress.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
                alerts.AddRange(_engine.JudgeProgress(progress, now));
            }
            await store.RaiseAsync(alerts, rules.DedupWindow, (EventCursor, _eventCursor));
        }
        catch (Exception e)
        {
            // The engine must go on: the next tick reads the events again from the last filing, and tries again.
            _eventCursor = -1;
            logger.LogError(e, "NSOC rules evaluation failed; retrying at the next tick");
        }
    }
}

/// <summary>The kinds of the security events a device's own reports become in the ledger (source <c>device</c>).</summary>
public static class DeviceEventKindsInLedger
{
    public const string Source = "device";
    public const string Tamper = "device_tamper_opened";
    public const string TamperClosed = "device_tamper_closed";
    public const string ConfigRefused = "device_config_refused";
    public const string ReceiptProofFailed = "device_receipt_proof_failed";
    public const string ClockJump = "device_clock_jump";
    public const string TlsRefused = "device_tls_refused";
    /// <summary>A health report with a sequence already seen: replayed, or a second device with the same key.</summary>
    public const string TelemetryReplayed = "telemetry_replayed";
    /// <summary>A health report refused: unreadable, forged, misaddressed, unknown device, or over its rate.</summary>
    public const string TelemetryRefused = "telemetry_refused";
}
