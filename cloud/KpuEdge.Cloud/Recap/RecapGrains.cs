using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Ppk;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace KpuEdge.Cloud.Recap;

/// <summary>
/// Orders the accepted versions of one TPS's form: a PPK correction above every device version (the plenary's numbers
/// are the kecamatan's word), later corrections above earlier ones by log index; among the device's own versions its
/// sequence first (a correction is signed after the original even if it arrives first), then the ledger position.
/// </summary>
/// <param name="ByPpk">A PPK correction: <paramref name="Sequence"/> is then its log index and <paramref name="Position"/> 0.</param>
[GenerateSerializer, Immutable, Alias("kpu.FormVersion")]
public readonly record struct FormVersion([property: Id(0)] ulong Sequence, [property: Id(1)] long Position, [property: Id(2)] bool ByPpk = false)
    : IComparable<FormVersion>
{
    public static FormVersion OfCorrection(long logIndex) => new((ulong)logIndex, 0, ByPpk: true);

    public int CompareTo(FormVersion other) =>
        ByPpk != other.ByPpk ? ByPpk.CompareTo(other.ByPpk)
        : Sequence != other.Sequence ? Sequence.CompareTo(other.Sequence) : Position.CompareTo(other.Position);
}

/// <summary>One TPS: the current form of each contest (the latest version wins), pushed to its desa.</summary>
[Alias("kpu.ITpsGrain")]
public interface ITpsGrain : IGrainWithStringKey
{
    /// <summary>Tells the TPS a form was durably accepted.</summary>
    [Alias("Accept")]
    Task Accept(ContestId contest, FormVersion version, [Immutable] ContestTotals totals);

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

    /// <remarks>The first call after a cold start waits for the region to rebuild from the ledger (the nation: every
    /// form of the election), which takes longer than Orleans' default 30 s response timeout.</remarks>
    [Alias("GetView"), ResponseTimeout("00:10:00")]
    Task<RegionView> GetView(ContestId contest);

    /// <summary>
    /// The region's totals now, for a parent rebuilding itself. Interleaves: a child busy pushing to the parent that
    /// asks (and waits for its activation) still answers.
    /// </summary>
    [Alias("GetSnapshot"), Orleans.Concurrency.AlwaysInterleave, ResponseTimeout("00:10:00")]
    Task<RecapSnapshot> GetSnapshot();
}

/// <summary>One TPS's accepted forms as the recap counts them: the newest version of each contest wins.</summary>
public sealed class TpsForms
{
    private readonly Dictionary<ContestId, (FormVersion Version, ContestTotals Totals)> _forms = new();
    private long _maxPosition;

    public int Count => _forms.Count;

    public void Merge(ContestId contest, FormVersion version, ContestTotals totals)
    {
        _maxPosition = Math.Max(_maxPosition, version.Position);
        if (!_forms.TryGetValue(contest, out var current) || version.CompareTo(current.Version) > 0)
            _forms[contest] = (version, totals);
    }

    /// <summary>Merges a ledger entry (its tally re-read from the signed bytes); an entry without a ballot here is skipped.</summary>
    public void Merge(LedgerEntry entry, RecapContext context)
    {
        var ballot = context.Ballots.For(entry.Contest, entry.Tps);
        if (ballot is null) return;
        var tally = SignedSubmission.Decode(entry.Wire).Submission.Tally;
        Merge(entry.Contest, new FormVersion(entry.Sequence, entry.Position), ContestTotals.FromTally(tally, ballot));
    }

    /// <summary>Merges a PPK correction (its numbers from the signed statement); one without a ballot here is skipped.</summary>
    public void Merge(StoredStatement correction, RecapContext context)
    {
        if (correction.Signed.Statement is not PpkCorrection c || context.Ballots.For(c.Tally.Contest, c.Tally.Tps) is not { } ballot) return;
        Merge(c.Tally.Contest, FormVersion.OfCorrection(correction.LogIndex), ContestTotals.FromTally(c.Tally, ballot));
    }

    /// <summary>
    /// Ledger positions only grow, so the newest position seen is a version that survives deactivation. A PPK correction
    /// adds no position: its snapshot carries the same version, and a region takes an equal version as the newer.
    /// </summary>
    public RecapSnapshot Snapshot() => new() { Version = _maxPosition, Contests = _forms.ToDictionary(f => f.Key, f => f.Value.Totals) };
}

/// <summary>
/// The TPS grain loads its forms from the ledger when it activates, so it is collected when idle: a TPS sends its
/// forms within minutes, and 820,000 of them must not all stay in memory for the night (a late correction costs one
/// ledger read).
/// </summary>
[CollectionAgeLimit(Minutes = 2)]
public sealed class TpsGrain(IFormReader ledger, IPpkRecord statements, RecapContext context) : Grain, ITpsGrain
{
    private readonly TpsForms _forms = new();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var tps = TpsCode.Parse(this.GetPrimaryKeyString());
        foreach (var entry in await ledger.ForTpsAsync(tps, cancellationToken)) _forms.Merge(entry, context);
        foreach (var correction in await statements.CorrectionsForDesaAsync(tps.Desa, cancellationToken))
            if (((PpkCorrection)correction.Signed.Statement).Replaces.Tps == tps) _forms.Merge(correction, context);
    }

    public Task Accept(ContestId contest, FormVersion version, ContestTotals totals)
    {
        _forms.Merge(contest, version, totals);
        return Publish();
    }

    public Task Publish()
    {
        if (_forms.Count == 0) return Task.CompletedTask;
        var code = this.GetPrimaryKeyString();
        return GrainFactory.GetGrain<IRegionGrain>(code[..10]).ReportChild(code, _forms.Snapshot());
    }
}

/// <summary>
/// Region grains stay active and push upward at most once per flush interval, so a national total costs the nation one
/// call per province per tick however many forms arrive: no hot grain. The flush timer is armed only while a region
/// has something to push: 92,000 regions each ticking every second were a sixth of a node's CPU by the end of a
/// national run, spent finding nothing to do. Their totals live in memory only: a region activating — after
/// its node was lost, or at a cold start — rebuilds itself, a desa from the ledger's forms of its TPS, a higher region
/// from its reporting children (which rebuild themselves the same way), so no node's loss loses a vote from the recap.
/// </summary>
[KeepAlive]
public sealed class RegionGrain(
    IOptions<CloudOptions> options, TimeProvider time, IFormReader ledger, IPpkRecord statements, RecapContext context, IHostApplicationLifetime lifetime)
    : Grain, IRegionGrain
{
    private readonly Dictionary<string, RecapSnapshot> _children = new(StringComparer.Ordinal);
    private IGrainTimer? _flushTimer;
    private bool _dirty;
    private long _version;
    private DateTimeOffset _updatedAt;

    private RegionCode Code => RegionCode.Parse(this.GetPrimaryKeyString());

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _updatedAt = time.GetUtcNow();
        if (!Code.IsNasional)
            _flushTimer = this.RegisterGrainTimer(_ => Flush(), new GrainTimerCreationOptions(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan));
        await RebuildAsync(cancellationToken);
    }

    private async Task RebuildAsync(CancellationToken cancellationToken)
    {
        var code = Code;
        if (code.Level == RegionLevel.Desa)
        {
            var byTps = new Dictionary<TpsCode, TpsForms>();
            foreach (var entry in await ledger.ForDesaAsync(code, cancellationToken))
            {
                if (!byTps.TryGetValue(entry.Tps, out var forms)) byTps[entry.Tps] = forms = new TpsForms();
                forms.Merge(entry, context);
            }
            foreach (var correction in await statements.CorrectionsForDesaAsync(code, cancellationToken))
                if (byTps.TryGetValue(((PpkCorrection)correction.Signed.Statement).Replaces.Tps, out var forms)) forms.Merge(correction, context);
            foreach (var (tps, forms) in byTps)
                if (forms.Count > 0) Remember(tps.Value, forms.Snapshot());
        }
        else
        {
            var children = await ledger.ReportingChildrenAsync(code, cancellationToken);
            var snapshots = await Task.WhenAll(children.Select(c => GrainFactory.GetGrain<IRegionGrain>(c.ToString()).GetSnapshot()));
            for (int i = 0; i < children.Count; i++)
                if (snapshots[i].Contests.Count > 0) Remember(children[i].ToString(), snapshots[i]);
        }
    }

    public Task<RecapSnapshot> GetSnapshot()
    {
        _version = Math.Max(_version + 1, time.GetUtcNow().UtcTicks);
        return Task.FromResult(new RecapSnapshot { Version = _version, Contests = Sum() });
    }

    public Task ReportChild(string child, RecapSnapshot snapshot)
    {
        Remember(child, snapshot);
        return Task.CompletedTask;
    }

    private void Remember(string child, RecapSnapshot snapshot)
    {
        // Equal versions replace: a TPS grain whose forms completed out of ledger order sends a fuller snapshot under
        // the same newest position, and snapshots of one activation arrive in order.
        if (_children.TryGetValue(child, out var known) && known.Version > snapshot.Version) return;
        foreach (var totals in snapshot.Contests.Values) totals.ShareKeys(); // a snapshot from another node brings its own copy
        _children[child] = snapshot;
        if (!_dirty) _flushTimer?.Change(options.Value.RecapFlushInterval, Timeout.InfiniteTimeSpan);
        _dirty = true;
        _updatedAt = time.GetUtcNow();
    }

    public Task Flush()
    {
        var code = Code;
        if (!_dirty || code.IsNasional) return Task.CompletedTask;
        // A node that is stopping pushes nothing more: its parent may already be gone with the silo (each such call
        // failed loudly at every stop), and whoever activates the parent next rebuilds it from the ledger.
        if (lifetime.ApplicationStopping.IsCancellationRequested) return Task.CompletedTask;
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
