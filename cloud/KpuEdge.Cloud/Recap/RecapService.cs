using System.Collections.Concurrent;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;

namespace KpuEdge.Cloud.Recap;

/// <summary>Entry point to the recap grains for the API, the ingest and restarts.</summary>
public sealed class RecapService(IGrainFactory grains, RecapContext context, ILogger<RecapService> logger)
{
    private readonly ConcurrentDictionary<RegionCode, byte> _touchedDesa = new();

    public RecapContext Context => context;

    /// <summary>Hands an accepted form to its TPS grain (after it is durable in the ledger).</summary>
    public Task AcceptAsync(TpsCode tps, ContestId contest, long position, ulong sequence, ContestTotals totals)
    {
        _touchedDesa.TryAdd(tps.Desa, 0);
        return grains.GetGrain<ITpsGrain>(tps.Value).Accept(contest, new FormVersion(sequence, position), totals);
    }

    public Task<RegionView> ViewAsync(ContestId contest, RegionCode region) =>
        grains.GetGrain<IRegionGrain>(region.ToString()).GetView(contest);

    /// <summary>
    /// Pushes every pending change up to the nation now, level by level, instead of waiting for flush ticks:
    /// when it returns, the national total includes every form accepted before the call.
    /// </summary>
    public async Task SettleAsync()
    {
        IEnumerable<RegionCode> level = _touchedDesa.Keys.ToArray();
        while (true)
        {
            var codes = level.Distinct().ToArray();
            if (codes.Length == 0 || codes[0].IsNasional) return;
            await Task.WhenAll(codes.Select(c => grains.GetGrain<IRegionGrain>(c.ToString()).Flush()));
            level = codes.Select(c => c.Parent);
        }
    }

    /// <summary>
    /// At a node's start: activates the nation's grain, which — if no node holds it (a cold start, or the whole cluster
    /// restarted) — rebuilds itself from its reporting provinces, they from theirs, down to the desa that read their TPS's
    /// forms from the ledger. Where the regions are alive on other nodes this costs one call: a node joining a running
    /// cluster republishes nothing.
    /// </summary>
    public async Task RebuildFromLedgerAsync(CancellationToken cancellationToken)
    {
        var view = await grains.GetGrain<IRegionGrain>(RegionCode.Nasional.ToString()).GetView(ContestId.Ppwp).WaitAsync(cancellationToken);
        logger.LogInformation("Recap ready: {Tps} TPS counted nationally for PPWP", view.Totals.TpsReported);
    }
}
