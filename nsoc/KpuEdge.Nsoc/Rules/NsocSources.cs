using KpuEdge.Core.Security;

namespace KpuEdge.Nsoc.Rules;

/// <summary>What the NSOC reads from the cloud it is hosted in (the cloud implements it; the NSOC never reaches into its ledger).</summary>
public interface INsocSources
{
    /// <summary>The durable security events after <paramref name="afterId"/>, oldest first.</summary>
    Task<IReadOnlyList<SecurityEvent>> SecurityEventsAfterAsync(long afterId, int limit, CancellationToken cancellationToken);

    /// <summary>TPS counted in the recap so far per province (PPWP, the contest every TPS holds).</summary>
    Task<IReadOnlyDictionary<string, long>> ProvinceProgressAsync(CancellationToken cancellationToken);

    /// <summary>This node's ingest now.</summary>
    NodeStats NodeStats();
}

/// <summary>One node's ingest as its NSOC pump reports it each tick.</summary>
[GenerateSerializer, Immutable, Alias("kpu.nsoc.NodeStats")]
public sealed record NodeStats(
    [property: Id(0)] string Node,
    [property: Id(1)] DateTimeOffset At,
    /// <summary>Forms received since the node started.</summary>
    [property: Id(2)] long Received,
    /// <summary>Forms answered (accepted, duplicate or refused) since the node started.</summary>
    [property: Id(3)] long Answered,
    /// <summary>Received minus answered: forms in the node between broker and receipt.</summary>
    [property: Id(4)] long Backlog,
    /// <summary>Receive → receipt, 99th percentile of the last ten seconds' forms; null without forms.</summary>
    [property: Id(5)] double? P99Milliseconds,
    [property: Id(6)] int Connections,
    [property: Id(7)] long TelemetryReceived,
    [property: Id(8)] long TelemetryRefused,
    [property: Id(9)] long InfluxPending,
    [property: Id(10)] long InfluxDropped,
    [property: Id(11)] bool InfluxDown);
