using System.Collections.Concurrent;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;

namespace KpuEdge.Cloud.Recap;

/// <summary>Entry point to the recap grains for the API, the ingest and restarts.</summary>
public sealed class RecapService(IGrainFactory grains, RecapContext context, IFormReader ledger, ILogger<RecapService> logger)
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

    /// <summary>Rebuilds the recap after a restart: every TPS in the ledger loads its forms and pushes them up.</summary>
    public async Task RebuildFromLedgerAsync(CancellationToken cancellationToken)
    {
        var reporting = await ledger.ReportingTpsAsync(cancellationToken);
        if (reporting.Count == 0) return;
        logger.LogInformation("Rebuilding the recap from {Count} TPS in the ledger", reporting.Count);
        await Parallel.ForEachAsync(reporting, new ParallelOptions { MaxDegreeOfParallelism = 64, CancellationToken = cancellationToken },
            async (tps, _) =>
            {
                _touchedDesa.TryAdd(tps.Desa, 0);
                await grains.GetGrain<ITpsGrain>(tps.Value).Publish();
            });
        await SettleAsync();
        logger.LogInformation("Recap rebuilt from the ledger");
    }
}
