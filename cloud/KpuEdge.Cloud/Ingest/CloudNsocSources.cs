using KpuEdge.Cloud.Broker;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Cloud.Recap;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Security;
using KpuEdge.Nsoc.Rules;
using KpuEdge.Nsoc.Telemetry;
using Microsoft.Extensions.Options;

namespace KpuEdge.Cloud.Ingest;

/// <summary>What the NSOC hosted in this node reads from it: the ledger's security events, the recap's progress, the ingest's figures.</summary>
public sealed class CloudNsocSources(
    IAuditTrail audit, RecapService recap, IngestStats stats, TelemetryIngest telemetry, InfluxWriter influx, IServiceProvider services,
    IOptions<CloudOptions> options, TimeProvider time) : INsocSources
{
    private readonly string _node = $"{options.Value.AdvertisedAddress}:{options.Value.SiloPort}";

    public Task<IReadOnlyList<SecurityEvent>> SecurityEventsAfterAsync(long afterId, int limit, CancellationToken cancellationToken) =>
        audit.SecurityEventsAsync(afterId, limit, cancellationToken);

    public async Task<IReadOnlyDictionary<string, long>> ProvinceProgressAsync(CancellationToken cancellationToken)
    {
        var view = await recap.ViewAsync(ContestId.Ppwp, RegionCode.Nasional);
        return view.Children.ToDictionary(c => c.Key, c => c.Value.TpsReported, StringComparer.Ordinal);
    }

    public NodeStats NodeStats()
    {
        long received = stats.Received, answered = stats.Answered;
        var broker = services.GetService<EmbeddedBroker>();
        return new NodeStats(_node, time.GetUtcNow(), received, answered, Math.Max(0, received - answered),
            stats.P99Milliseconds(time.GetTimestamp() - (long)(10 * time.TimestampFrequency)), broker?.Connections.Open ?? 0,
            telemetry.Received, telemetry.Refused, influx.Pending, influx.Dropped, influx.Down);
    }
}
