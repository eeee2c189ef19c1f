using KpuEdge.Cloud.Ingest;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Security;
using Microsoft.Data.Sqlite;
using static KpuEdge.Cloud.Tests.LedgerRecords;

namespace KpuEdge.Cloud.Tests;

/// <summary>The chain-gap sweep on its own, over a real ledger and at chosen times: what it reports, and what it reads.</summary>
public sealed class ChainGapSweepTests : IAsyncLifetime
{
    private static readonly TpsCode[] Tps = CloudFixture.Tree.TpsIn(RegionCode.Parse("1371")).Take(2).ToArray();
    private static readonly TimeSpan Grace = TimeSpan.FromMinutes(5);
    private readonly string _directory = Directory.CreateTempSubdirectory("kpu-gap-sweep-").FullName;
    private SqliteLedger _ledger = null!;
    private RecordingChains _chains = null!;

    public Task InitializeAsync()
    {
        _ledger = new SqliteLedger(Path.Combine(_directory, "ledger.db"));
        _chains = new RecordingChains(_ledger);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Reports_a_gap_once_it_outlasts_the_grace_and_its_closing_reading_only_the_chains_that_changed()
    {
        var a = new LedgerDevice("dev-a", Tps[0]);
        var b = new LedgerDevice("dev-b", Tps[1]);
        await _ledger.AppendAsync(Forms(a.At(1), a.At(4), b.Next()));
        var sweep = new ChainGapSweep();

        Assert.Empty(await sweep.NextAsync(_chains, Start.AddMinutes(1), Grace));
        var gap = Assert.Single(await sweep.NextAsync(_chains, Start.AddMinutes(6), Grace));
        Assert.Empty(await sweep.NextAsync(_chains, Start.AddMinutes(7), Grace));

        Assert.Equal((SecurityEventKinds.ChainGap, "dev-a", "2-3"), (gap.Kind, gap.DeviceId, gap.Evidence!["missing"]));
        Assert.Equal("4", gap.Evidence["head"]);
        Assert.Equal([(0L, 2), (3L, 0), (3L, 0)], _chains.Reads);

        // b sends on, a's third arrives: only their chains are read again; the gap narrows, then closes.
        await _ledger.AppendAsync(Forms(a.At(3), b.Next()));
        var narrowed = Assert.Single(await sweep.NextAsync(_chains, Start.AddMinutes(8), Grace));
        await _ledger.AppendAsync(Forms(a.At(2)));
        var closed = Assert.Single(await sweep.NextAsync(_chains, Start.AddMinutes(9), Grace));

        Assert.Equal((SecurityEventKinds.ChainGap, "2"), (narrowed.Kind, narrowed.Evidence!["missing"]));
        Assert.Equal((SecurityEventKinds.ChainGapClosed, "dev-a", "2"), (closed.Kind, closed.DeviceId, closed.Evidence!["missing"]));
        Assert.Equal([(3L, 2), (5L, 1)], _chains.Reads[3..]);
    }

    [Fact]
    public async Task A_new_sweep_as_on_another_node_reads_every_chain_once_and_reports_the_gaps_that_still_last()
    {
        var a = new LedgerDevice("dev-a", Tps[0]);
        await _ledger.AppendAsync(Forms(a.At(1), a.At(3)));
        Assert.Single(await new ChainGapSweep().NextAsync(_chains, Start.AddMinutes(6), Grace));

        var moved = new ChainGapSweep();
        var again = Assert.Single(await moved.NextAsync(_chains, Start.AddMinutes(7), Grace));
        Assert.Empty(await moved.NextAsync(_chains, Start.AddMinutes(8), Grace));

        Assert.Equal((SecurityEventKinds.ChainGap, "2"), (again.Kind, again.Evidence!["missing"]));
        Assert.Equal([(0L, 1), (0L, 1), (2L, 0)], _chains.Reads);
    }

    public async Task DisposeAsync()
    {
        await _ledger.DisposeAsync();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>The ledger's chains, noting each read: after which position, and how many devices' chains it returned.</summary>
    private sealed class RecordingChains(IDeviceChains inner) : IDeviceChains
    {
        public List<(long After, int Devices)> Reads { get; } = [];

        public Task<IReadOnlyList<DeviceLink>> DeviceLinksAsync(string deviceId, CancellationToken cancellationToken = default) =>
            inner.DeviceLinksAsync(deviceId, cancellationToken);

        public async Task<ChainChanges> ChainsChangedAfterAsync(long afterPosition, CancellationToken cancellationToken = default)
        {
            var changes = await inner.ChainsChangedAfterAsync(afterPosition, cancellationToken);
            Reads.Add((afterPosition, changes.Devices.Count));
            return changes;
        }
    }
}
