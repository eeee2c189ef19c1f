using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Security;
using Npgsql;
using static KpuEdge.Cloud.Tests.LedgerRecords;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// The ledger contract on <see cref="PostgresLedger"/> (a database of its own for each test on the class's private
/// PostgreSQL), and what only a cluster's ledger must do: several nodes appending at once, readers following the log and
/// the security events while they do, and a crash of the server.
/// </summary>
public sealed class PostgresLedgerContractTests(LocalPostgresFixture postgres) : LedgerContractTests, IClassFixture<LocalPostgresFixture>
{
    private string? _database;

    protected override async Task<IResultsLedger> OpenAsync() => PostgresLedger.Open(_database ??= await postgres.NewDatabaseAsync());

    [Fact]
    public async Task Eight_nodes_appending_at_once_fill_positions_and_log_indexes_without_gap_or_duplicate_while_a_reader_follows_the_log()
    {
        const int Nodes = 8, Batches = 50, PerBatch = 20, Total = Nodes * Batches * PerBatch;
        var work = Enumerable.Range(0, Nodes).Select(node =>
        {
            var devices = Enumerable.Range(0, PerBatch).Select(i => new LedgerDevice($"dev-{node}-{i}", Tps[i % Tps.Length])).ToList();
            return Enumerable.Range(0, Batches).Select(_ => Forms(devices.Select(d => d.Next()).ToArray())).ToList();
        }).ToList();
        // Each node has a ledger of its own (its own connection pool), as separate cloud nodes would.
        var nodes = work.Select(_ => PostgresLedger.Open(_database!)).ToList();
        using var written = new CancellationTokenSource();
        var follower = Task.Run(() => FollowLogAsync(Ledger, written.Token));

        var commits = (await Task.WhenAll(nodes.Select((node, n) => Task.Run(async () =>
        {
            var done = new List<(LedgerBatch, LedgerCommit)>();
            foreach (var batch in work[n]) done.Add((batch, await node.AppendAsync(batch)));
            return done;
        })))).SelectMany(c => c).OrderBy(c => c.Item2.FirstLogIndex).ToList();
        await written.CancelAsync();
        var followed = await follower;
        foreach (var node in nodes) await node.DisposeAsync();

        AssertGaplessCommits(commits);
        Assert.Equal(Total, await Ledger.CountAsync());
        Assert.Equal(Total, await Ledger.LogCountAsync());
        var all = await ReadAllAsync();
        Assert.Equal(Enumerable.Range(1, Total).Select(p => (long)p), all.Select(e => e.Position));
        Assert.Equal(Enumerable.Range(0, Total).Select(i => (long)i), all.Select(e => e.LogIndex));
        var log = await ReadLogAsync(0, Total);
        AssertEntries(commits.SelectMany(c => c.Item2.LogEntries).ToList(), log);
        AssertEntries(log, followed);
    }

    [Fact]
    public async Task Nodes_racing_to_append_the_same_forms_or_their_forks_write_one_per_device_and_the_rest_are_conflicts()
    {
        const int Nodes = 8;
        var devices = Enumerable.Range(0, 10).Select(i => new LedgerDevice($"dev-{i}", Tps[i % Tps.Length])).ToList();
        var forms = devices.Select(d => d.Next()).ToArray();
        var forks = devices.Select(d => d.At(1, seed: 8)).ToArray();
        var nodes = Enumerable.Range(0, Nodes).Select(_ => PostgresLedger.Open(_database!)).ToList();

        // Every node decided the same forms (half of them the forks instead), each in an order of its own.
        var sent = nodes.Select((_, n) =>
        {
            var random = new Random(n);
            return (n % 2 == 0 ? forms : forks).OrderBy(_ => random.Next()).ToArray();
        }).ToList();
        var commits = await Task.WhenAll(nodes.Select((node, n) => Task.Run(() => node.AppendAsync(Forms(sent[n])))));
        foreach (var node in nodes) await node.DisposeAsync();

        var written = commits.SelectMany((c, n) => sent[n].Where((_, i) => !c.Conflicts.Contains(i))).ToList();
        Assert.Equal(devices.Select(d => d.Id).Order(StringComparer.Ordinal), written.Select(f => f.Submission.DeviceId).Order(StringComparer.Ordinal));
        Assert.All(commits.Select((c, n) => (c, n)), x => Assert.Equal(sent[x.n].Length - x.c.Conflicts.Count, x.c.Positions.Count(p => p > 0)));
        Assert.Equal(Enumerable.Range(1, 10).Select(p => (long)p), commits.SelectMany(c => c.Positions).Where(p => p > 0).Order());
        foreach (var form in written) Assert.NotNull(await Ledger.FindByHashAsync(form.Hash));
        Assert.Equal(10, await Ledger.CountAsync());
    }

    [Fact]
    public async Task Nodes_registering_the_same_devices_at_once_write_each_once_and_a_rival_certificate_never_replaces_the_first()
    {
        const int Nodes = 8;
        var devices = Enumerable.Range(0, 40).Select(i => Device($"dev-{i}", Tps[i % Tps.Length])).ToList();
        var rivals = devices.Select(d => Device(d.DeviceId, d.Tps, seed: 9)).ToList();
        var nodes = Enumerable.Range(0, Nodes).Select(_ => PostgresLedger.Open(_database!)).ToList();

        // Half the nodes offer the genuine certificates, half another certificate for the same ids, each in an order of its own.
        var offered = nodes.Select((_, n) =>
        {
            var random = new Random(n);
            return (n % 2 == 0 ? devices : rivals).OrderBy(_ => random.Next()).ToList();
        }).ToList();
        var registrations = await Task.WhenAll(nodes.Select((node, n) => Task.Run(() => node.RegisterDevicesAsync(offered[n]))));
        foreach (var node in nodes) await node.DisposeAsync();

        Assert.Equal(40, registrations.Sum(r => r.Added));
        Assert.Equal(40, await Ledger.DeviceCountAsync());
        // Every id holds the certificate of whichever offer came first; every other node was told the same id was taken.
        var held = (await Ledger.FindDevicesAsync(devices.Select(d => d.DeviceId).ToList())).ToDictionary(d => d.DeviceId);
        foreach (var (registration, n) in registrations.Select((r, n) => (r, n)))
        {
            var mine = offered[n].ToDictionary(d => d.DeviceId);
            Assert.All(registration.Conflicts, c => Assert.False(held[c.DeviceId].SigningCertificate!.Der.AsSpan().SequenceEqual(mine[c.DeviceId].SigningCertificate!.Der)));
            Assert.Equal(40, registration.Added + registration.Held + registration.Conflicts.Count);
        }
    }

    [Fact]
    public async Task Nodes_storing_revocation_lists_at_once_keep_the_newest()
    {
        var nodes = Enumerable.Range(0, 8).Select(_ => PostgresLedger.Open(_database!)).ToList();
        var lists = Enumerable.Range(1, 8).Select(n => new StoredCrl(new CrlVersion("KPU Issuing CA 1", n, Start.AddSeconds(n)), [(byte)n])).ToList();

        var stored = await Task.WhenAll(nodes.Select((node, n) => Task.Run(() => node.SaveCrlAsync(lists[7 - n]))));
        foreach (var node in nodes) await node.DisposeAsync();

        Assert.Contains(true, stored);
        Assert.Equal(lists[7].Version, Assert.Single(await Ledger.CrlVersionsAsync()));
        Assert.Equal([8], (await Ledger.CrlAsync("KPU Issuing CA 1"))!.Der);
    }

    [Fact]
    public async Task A_reader_paging_security_events_by_id_misses_none_while_several_nodes_record_them()
    {
        const int Nodes = 8, Rounds = 40;
        var nodes = Enumerable.Range(0, Nodes).Select(_ => PostgresLedger.Open(_database!)).ToList();
        using var written = new CancellationTokenSource();
        var follower = Task.Run(() => FollowEventsAsync(Ledger, written.Token));

        await Task.WhenAll(nodes.Select((node, n) => Task.Run(async () =>
        {
            var device = new LedgerDevice($"dev-{n}", Tps[n % Tps.Length]);
            for (int round = 0; round < Rounds; round++)
            {
                // The broker's events on their own, and the ingest's with its group commit, as a node records them.
                if (round % 2 == 0)
                    await node.AppendEventsAsync([Event(SecurityEventKinds.AclPublishDenied, $"dev-{n}", $"{n}/{round}/0"), Event(SecurityEventKinds.AclSubscribeDenied, null, $"{n}/{round}/1")]);
                else
                    await node.AppendAsync(new LedgerBatch { Accepted = [(device.Next(), Start)], Events = [Event(SecurityEventKinds.ChainGap, $"dev-{n}", $"{n}/{round}/0")] });
            }
        })));
        await written.CancelAsync();
        var followed = await follower;
        foreach (var node in nodes) await node.DisposeAsync();

        var expected = Enumerable.Range(0, Nodes).SelectMany(n => Enumerable.Range(0, Rounds).SelectMany(round =>
            round % 2 == 0 ? new[] { $"{n}/{round}/0", $"{n}/{round}/1" } : [$"{n}/{round}/0"])).Order(StringComparer.Ordinal);
        Assert.Equal(expected, followed.Select(e => e.Detail).Order(StringComparer.Ordinal));
        var ids = followed.Select(e => e.Id!.Value).ToList();
        Assert.Equal(ids.Order(), ids);
        Assert.Equal(ids, (await Ledger.SecurityEventsAsync(0, 10_000)).Select(e => e.Id!.Value));
    }

    [Fact]
    public async Task Nodes_starting_together_on_an_empty_database_make_the_schema_once()
    {
        string database = await postgres.NewDatabaseAsync();

        var nodes = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => PostgresLedger.Open(database))));
        var commits = new List<LedgerCommit>();
        foreach (var (node, n) in nodes.Select((node, n) => (node, n)))
            commits.Add(await node.AppendAsync(Forms(new LedgerDevice($"dev-{n}", Tps[0]).Next())));
        foreach (var node in nodes) await node.DisposeAsync();

        Assert.Equal([1L, 2, 3, 4], commits.Select(c => c.Positions.Single()));
    }

    [Fact]
    public async Task Refuses_a_database_whose_commits_a_crash_could_lose()
    {
        string database = await postgres.NewDatabaseAsync();
        string name = new NpgsqlConnectionStringBuilder(database).Database!;
        await using (var admin = NpgsqlDataSource.Create(database))
            await admin.CreateCommand($"ALTER DATABASE {name} SET synchronous_commit = off").ExecuteNonQueryAsync();

        var refused = Assert.Throws<InvalidOperationException>(() => PostgresLedger.Open(database));

        Assert.Contains("synchronous_commit=off", refused.Message);
    }

    [Fact]
    public async Task A_killed_server_fails_appends_while_down_leaves_no_batch_half_written_and_appends_resume_after_its_restart()
    {
        var devices = Enumerable.Range(0, 10).Select(i => new LedgerDevice($"dev-{i}", Tps[i % Tps.Length])).ToList();
        var acknowledged = new List<(LedgerBatch Batch, LedgerCommit Commit)>();
        var errors = new List<Exception>();
        var twentyWritten = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var failingWhileDown = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var restarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var tenAfterRestart = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int killed = 0, failedAfterRestart = 0;
        using var stop = new CancellationTokenSource();
        // A node's group commit: batch after batch; a batch that failed is sent again until it is answered (its forms
        // were never acknowledged, so the devices would resend them anyway).
        var writer = Task.Run(async () =>
        {
            var batch = Forms(devices.Select(d => d.Next()).ToArray());
            int failedWhileDown = 0, writtenAfterRestart = 0;
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    acknowledged.Add((batch, await Ledger.AppendAsync(batch)));
                    batch = Forms(devices.Select(d => d.Next()).ToArray());
                    if (acknowledged.Count >= 20) twentyWritten.TrySetResult();
                    if (restarted.Task.IsCompleted && ++writtenAfterRestart >= 10) tenAfterRestart.TrySetResult();
                }
                catch (Exception e)
                {
                    errors.Add(e);
                    if (restarted.Task.IsCompleted) failedAfterRestart++;
                    if (Volatile.Read(ref killed) == 1 && !restarted.Task.IsCompleted && ++failedWhileDown >= 5)
                    {
                        failingWhileDown.TrySetResult();
                        await restarted.Task; // retrying against a dead server only burns the cores the restart needs
                    }
                }
            }
        });
        var deadline = TimeSpan.FromSeconds(60);
        var alone = Forms(new LedgerDevice("dev-alone", Tps[1]).Next());
        try
        {
            await twentyWritten.Task.WaitAsync(deadline);
            // Readers (the API, the recap) leave idle connections in the pool, all dead once the server is.
            var readers = Enumerable.Range(0, 8).Select(_ => Ledger.ReadAllAsync().GetAsyncEnumerator()).ToList();
            foreach (var reader in readers) await reader.MoveNextAsync();
            foreach (var reader in readers) await reader.DisposeAsync();
            Volatile.Write(ref killed, 1);
            await postgres.Server.KillAsync();
            await failingWhileDown.Task.WaitAsync(deadline);
            await Assert.ThrowsAnyAsync<NpgsqlException>(() => Ledger.AppendAsync(alone));

            await postgres.Server.RestartAsync();
            restarted.TrySetResult();
            await tenAfterRestart.Task.WaitAsync(deadline);
        }
        finally
        {
            restarted.TrySetResult();
            await stop.CancelAsync();
            await writer;
            if (!postgres.Server.IsRunning) await postgres.Server.RestartAsync();
        }

        Assert.All(errors, e => Assert.IsAssignableFrom<NpgsqlException>(e));
        // The pool's dead connections are forgotten at the first failure (Npgsql clears the pool), not tried one by one.
        Assert.InRange(failedAfterRestart, 0, 1);
        Assert.InRange(errors.Count, 5, 6);
        Assert.Null(await Ledger.FindByHashAsync(alone.Accepted[0].Submission.Hash));
        // A batch answered after a retry may have been written by the attempt the crash cut off: then all of it is a
        // conflict, never part of it.
        foreach (var (batch, commit) in acknowledged)
        {
            Assert.True(commit.Conflicts.Count == 0 || commit.Conflicts.Count == batch.Accepted.Count, "a batch half written");
            for (int i = 0; i < batch.Accepted.Count; i++)
            {
                var entry = await Ledger.FindByHashAsync(batch.Accepted[i].Submission.Hash);
                Assert.NotNull(entry);
                if (commit.Conflicts.Count == 0) Assert.Equal(commit.Positions[i], entry.Position);
            }
        }
        Assert.InRange(acknowledged.Count(a => a.Commit.Conflicts.Count > 0), 0, 1);
        long count = await Ledger.CountAsync();
        Assert.Equal(acknowledged.Count * devices.Count, count);
        Assert.Equal(count, await Ledger.LogCountAsync());
        var all = await ReadAllAsync();
        Assert.Equal(Enumerable.Range(1, (int)count).Select(p => (long)p), all.Select(e => e.Position));
        Assert.Equal(all.Count, all.Select(e => e.Hash).Distinct().Count());
        AssertEntries(all.Select(e => Crypto.Transparency.LogEntry.EncodeSubmission(e.Wire)).ToList(), await ReadLogAsync(0, count));
    }

    /// <summary>Reads the log as a node's tree follows it: what lies between the entries read and the log's size, until told to stop.</summary>
    private static async Task<List<byte[]>> FollowLogAsync(ILogStore log, CancellationToken stop)
    {
        var entries = new List<byte[]>();
        while (true)
        {
            bool last = stop.IsCancellationRequested; // one more read after the writers are done
            long size = await log.LogCountAsync();
            entries.AddRange(await ReadLogAsync(log, entries.Count, size));
            if (last) return entries;
        }
    }

    /// <summary>Pages the security events as the NSOC wall does: those after the last id seen, until told to stop.</summary>
    private static async Task<List<SecurityEvent>> FollowEventsAsync(IAuditTrail audit, CancellationToken stop)
    {
        var events = new List<SecurityEvent>();
        while (true)
        {
            bool last = stop.IsCancellationRequested;
            IReadOnlyList<SecurityEvent> page;
            do
            {
                page = await audit.SecurityEventsAsync(events.Count == 0 ? 0 : events[^1].Id!.Value, 100);
                events.AddRange(page);
            }
            while (page.Count == 100);
            if (last) return events;
        }
    }
}
