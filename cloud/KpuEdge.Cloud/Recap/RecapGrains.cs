using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using Microsoft.Extensions.Options;

namespace KpuEdge.Cloud.Recap;

/// <summary>One TPS: the accepted form of each contest (the newest ledger version wins), pushed to its desa.</summary>
[Alias("kpu.ITpsGrain")]
public interface ITpsGrain : IGrainWithStringKey
{
    /// <summary>Tells the TPS a form was durably accepted at <paramref name="position"/>.</summary>
    [Alias("Accept")]
    Task Accept(ContestId contest, long position, ContestTotals totals);

    /// <summary>Pushes the TPS's current totals upward again (after a restart).</summary>
    [Alias("Publish")]
    Task Publish();
}

/// <summary>A desa, kecamatan, kab/kota, provinsi or the nation ("0"): the sum of its children's absolute totals.</summary>
[Alias("kpu.IRegionGrain")]
public interface IRegionGrain : IGrainWithStringKey
{
    [Alias("ReportChild")]
    Task ReportChild(string child, RecapSnapshot snapshot);

    /// <summary>Pushes pending changes to the parent now instead of at the next flush tick.</summary>
    [Alias("Flush")]
    Task Flush();

    [Alias("GetView")]
    Task<RegionView> GetView(ContestId contest);
}

/// <summary>The TPS grain loads its forms from the ledger when it activates, so it may be collected when idle.</summary>
public sealed class TpsGrain(IResultsLedger ledger, RecapContext context) : Grain, ITpsGrain
{
    private readonly Dictionary<ContestId, (long Position, ContestTotals Totals)> _forms = new();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var tps = TpsCode.Parse(this.GetPrimaryKeyString());
        foreach (var entry in ledger.ForTps(tps))
        {
            var submission = SignedSubmission.Decode(entry.Wire).Submission;
            var ballot = context.Ballots.For(entry.Contest, tps);
            if (ballot is null) continue;
            _forms[entry.Contest] = (entry.Position, ContestTotals.FromTally(submission.Tally, ballot));
        }
        return Task.CompletedTask;
    }

    public Task Accept(ContestId contest, long position, ContestTotals totals)
    {
        if (!_forms.TryGetValue(contest, out var current) || position > current.Position)
            _forms[contest] = (position, totals);
        return Publish();
    }

    public Task Publish()
    {
        if (_forms.Count == 0) return Task.CompletedTask;
        var code = this.GetPrimaryKeyString();
        var snapshot = new RecapSnapshot
        {
            // Ledger positions only grow, so the newest position is a version that survives deactivation.
            Version = _forms.Values.Max(f => f.Position),
            Contests = _forms.ToDictionary(f => f.Key, f => f.Value.Totals),
        };
        return GrainFactory.GetGrain<IRegionGrain>(code[..10]).ReportChild(code, snapshot);
    }
}

/// <summary>
/// Region grains stay active (they hold the only in-memory copy of their children's totals; a restart rebuilds
/// them from the ledger). They push upward on a timer, so a national total costs the nation one call per
/// province per tick however many forms arrive: no hot grain.
/// </summary>
[KeepAlive]
public sealed class RegionGrain(IOptions<CloudOptions> options, TimeProvider time) : Grain, IRegionGrain
{
    private readonly Dictionary<string, RecapSnapshot> _children = new(StringComparer.Ordinal);
    private bool _dirty;
    private long _version;
    private DateTimeOffset _updatedAt;

    private RegionCode Code => RegionCode.Parse(this.GetPrimaryKeyString());

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _updatedAt = time.GetUtcNow();
        if (!Code.IsNasional)
        {
            var interval = options.Value.RecapFlushInterval;
            this.RegisterGrainTimer(_ => Flush(), new GrainTimerCreationOptions(interval, interval));
        }
        return Task.CompletedTask;
    }

    public Task ReportChild(string child, RecapSnapshot snapshot)
    {
        if (_children.TryGetValue(child, out var known) && known.Version >= snapshot.Version) return Task.CompletedTask;
        _children[child] = snapshot;
        _dirty = true;
        _updatedAt = time.GetUtcNow();
        return Task.CompletedTask;
    }

    public Task Flush()
    {
        var code = Code;
        if (!_dirty || code.IsNasional) return Task.CompletedTask;
        _dirty = false;
        // Versions must grow even across a silo restart; the clock in ticks does, the counter keeps them distinct.
        _version = Math.Max(_version + 1, time.GetUtcNow().UtcTicks);
        var snapshot = new RecapSnapshot { Version = _version, Contests = Sum() };
        return GrainFactory.GetGrain<IRegionGrain>(code.Parent.ToString()).ReportChild(code.Value, snapshot);
    }

    public Task<RegionView> GetView(ContestId contest)
    {
        var totals = new ContestTotals();
        var children = new Dictionary<string, ContestTotals>(StringComparer.Ordinal);
        foreach (var (child, snapshot) in _children)
        {
            if (!snapshot.Contests.TryGetValue(contest, out var childTotals)) continue;
            children[child] = childTotals;
            totals.Add(childTotals);
        }
        return Task.FromResult(new RegionView { Totals = totals, Children = children, UpdatedAt = _updatedAt });
    }

    private Dictionary<ContestId, ContestTotals> Sum()
    {
        var sum = new Dictionary<ContestId, ContestTotals>();
        foreach (var snapshot in _children.Values)
        foreach (var (contest, totals) in snapshot.Contests)
        {
            if (!sum.TryGetValue(contest, out var acc)) sum[contest] = acc = new ContestTotals();
            acc.Add(totals);
        }
        return sum;
    }
}

/// <summary>What grains share: the region tree and the ballots of the election.</summary>
public sealed class RecapContext(RegionTree tree, ElectionDefinition election)
{
    public RegionTree Tree { get; } = tree;
    public ElectionDefinition Election { get; } = election;
    public BallotCatalog Ballots { get; } = election.Ballots(tree);

    /// <summary>TPS expected to report a contest inside a region (DPRD Kab/Kota is not held in Jakarta).</summary>
    public long TpsExpected(ContestId contest, RegionCode region)
    {
        long count = Tree.TpsCountOf(region);
        if (contest != ContestId.DprdKabKota) return count;
        foreach (var province in Election.ProvincesWithoutDprdKabKota)
        {
            if (!RegionCode.TryParse(province, out var p)) continue;
            if (p.Contains(region)) return 0;
            if (region.Contains(p)) count -= Tree.TpsCountOf(p);
        }
        return count;
    }
}
