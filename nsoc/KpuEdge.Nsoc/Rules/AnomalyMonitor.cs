using System.Threading.Channels;
using KpuEdge.Core.Anomalies;
using KpuEdge.Core.Tally;
using KpuEdge.Nsoc.Incidents;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KpuEdge.Nsoc.Rules;

/// <summary>
/// Judges every form this node accepts by the anomaly rules (<see cref="TallyAnomalies"/>, the module the public portal
/// shares) and hands what they flag to the rules engine in batches. The pattern rule compares a TPS with its kab/kota's
/// shares as this node has seen them: a sample of the region in a cluster, which is what a pattern needs. Never slows
/// the ingest: the check is arithmetic, and alerts beyond a full queue are counted and dropped.
/// </summary>
public sealed class AnomalyMonitor(NsocRules rules, IGrainFactory grains, TimeProvider time, ILogger<AnomalyMonitor> logger) : BackgroundService
{
    private readonly RegionPattern _pattern = new();
    private readonly AnomalyThresholds _thresholds = rules.NumbersAnomaly.Thresholds;
    private readonly Channel<Alert> _alerts = Channel.CreateBounded<Alert>(new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private long _flagged, _dropped;

    public long Flagged => Interlocked.Read(ref _flagged);

    /// <summary>An accepted form (call after it is durable).</summary>
    public void Observe(C1Tally tally, long ledgerPosition)
    {
        if (!rules.NumbersAnomaly.Enabled) return;
        var region = _pattern.Observe(tally.Tps.Value[..4], tally);
        foreach (var anomaly in TallyAnomalies.Check(tally, _thresholds, region))
        {
            Interlocked.Increment(ref _flagged);
            var alert = new Alert(RuleCodes.NumbersAnomaly, $"{anomaly.Rule}:{tally.Tps.Value}:{tally.Contest}", rules.NumbersAnomaly.Severity,
                $"Angka tidak wajar ({anomaly.Rule}) — TPS {tally.Tps.Value}", $"{tally.Contest}: {anomaly.Detail} (entri ledger {ledgerPosition})", time.GetUtcNow())
                { Region = tally.Tps.Value };
            if (!_alerts.Writer.TryWrite(alert)) Interlocked.Increment(ref _dropped);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<Alert>();
        try
        {
            while (await _alerts.Reader.WaitToReadAsync(stoppingToken))
            {
                batch.Clear();
                while (batch.Count < 500 && _alerts.Reader.TryRead(out var a)) batch.Add(a);
                try { await grains.GetGrain<INsocGrain>(0).Raise(batch); }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    logger.LogError(e, "Filing {Count} anomaly alerts failed; they are lost, the forms are not", batch.Count);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }
}
