using KpuEdge.Core.Security;
using KpuEdge.Nsoc.Incidents;
using KpuEdge.TestSupport.LocalServices;
using Npgsql;

namespace KpuEdge.Nsoc.Tests;

/// <summary>The incident store's contract, run on both of its databases.</summary>
public abstract class IncidentStoreContract
{
    protected static readonly DateTimeOffset T0 = new(2024, 2, 14, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(15);

    protected abstract Task<IncidentStore> NewStoreAsync();

    private static Alert Tamper(string device, DateTimeOffset at, SecuritySeverity severity = SecuritySeverity.Critical) =>
        new("tamper", device, severity, $"Casing dibuka — {device}", "case opened", at) { DeviceId = device, Region = "9171040001004" };

    [Fact]
    public async Task The_same_rule_and_subject_is_one_incident_while_open_counting_occurrences_beyond_the_window()
    {
        await using var store = await NewStoreAsync();
        var first = await store.RaiseAsync([Tamper("d1", T0), Tamper("d2", T0)], Window);
        Assert.Equal(2, first.Count);
        Assert.Empty(await store.RaiseAsync([Tamper("d1", T0.AddMinutes(1))], Window)); // the same condition again: nothing new
        Assert.Equal([first[0]], await store.RaiseAsync([Tamper("d1", T0.AddMinutes(20))], Window));
        var incident = await store.GetAsync(first[0]);
        Assert.Equal(2, incident!.Count);
        Assert.Equal(IncidentState.Open, incident.State);
        Assert.Equal(T0.AddMinutes(20), incident.LastSeenAt);
        Assert.Equal(2, (await store.OpenCountsAsync())[SecuritySeverity.Critical]);
    }

    [Fact]
    public async Task Severity_only_rises()
    {
        await using var store = await NewStoreAsync();
        var id = (await store.RaiseAsync([Tamper("d", T0, SecuritySeverity.Warning)], Window))[0];
        await store.RaiseAsync([Tamper("d", T0.AddSeconds(1), SecuritySeverity.Critical)], Window);
        await store.RaiseAsync([Tamper("d", T0.AddHours(1), SecuritySeverity.Info)], Window);
        Assert.Equal(SecuritySeverity.Critical, (await store.GetAsync(id))!.Severity);
    }

    [Fact]
    public async Task Open_acknowledged_resolved_with_who_and_when_notes_and_an_audit_row_for_each_action()
    {
        await using var store = await NewStoreAsync();
        var id = (await store.RaiseAsync([Tamper("d", T0)], Window))[0];
        long before = await store.VersionAsync();

        var acked = await store.AcknowledgeAsync(id, "rina", "petugas dikirim", T0.AddMinutes(2), "10.0.0.7");
        Assert.Equal(IncidentState.Acknowledged, acked.State);
        Assert.Equal("rina", acked.AcknowledgedBy);
        Assert.Equal(T0.AddMinutes(2), acked.AcknowledgedAt);
        Assert.True(acked.Version > before);
        await Assert.ThrowsAsync<IncidentActionException>(() => store.AcknowledgeAsync(id, "budi", null, T0.AddMinutes(3), null));

        await store.AddNoteAsync(id, "budi", "casing disegel ulang", T0.AddMinutes(4), null);
        var resolved = await store.ResolveAsync(id, "budi", "selesai", T0.AddMinutes(5), null);
        Assert.Equal(IncidentState.Resolved, resolved.State);
        Assert.Equal("budi", resolved.ResolvedBy);
        await Assert.ThrowsAsync<IncidentActionException>(() => store.ResolveAsync(id, "rina", null, T0.AddMinutes(6), null));
        await Assert.ThrowsAsync<KeyNotFoundException>(() => store.AcknowledgeAsync(id + 1000, "rina", null, T0, null));

        var full = await store.GetAsync(id);
        Assert.Equal(["petugas dikirim", "casing disegel ulang", "selesai"], full!.Notes.Select(n => n.Text));
        var audit = await store.AuditTrailAsync(0, 100);
        Assert.Equal([("rina", "acknowledge"), ("budi", "note"), ("budi", "resolve")], audit.Select(a => (a.Account, a.Action)));
        Assert.Equal("10.0.0.7", audit[0].Source);
        Assert.All(audit, a => Assert.Equal(id, a.IncidentId));

        // Resolved: the next alert of the rule and subject opens a new incident.
        var again = await store.RaiseAsync([Tamper("d", T0.AddMinutes(30))], Window);
        Assert.NotEqual(id, again[0]);
        Assert.Single(await store.ListAsync(includeResolved: false, 100));
        Assert.Equal(2, (await store.ListAsync(includeResolved: true, 100)).Count);
    }

    [Fact]
    public async Task The_wall_reads_what_changed_after_its_version_from_any_writer()
    {
        await using var store = await NewStoreAsync();
        long v0 = await store.VersionAsync();
        var ids = await store.RaiseAsync([Tamper("a", T0), Tamper("b", T0)], Window);
        var changed = await store.ChangedAfterAsync(v0, 100);
        Assert.Equal(ids, changed.Select(i => i.Id));
        long v1 = changed.Max(i => i.Version);
        await store.AcknowledgeAsync(ids[1], "rina", null, T0, null);
        Assert.Equal([ids[1]], (await store.ChangedAfterAsync(v1, 100)).Select(i => i.Id));
    }

    [Fact]
    public async Task Accounts_and_sessions()
    {
        await using var store = await NewStoreAsync();
        Assert.True(await store.CreateAccountAsync("rina", NsocRole.Operator, "hash", T0));
        Assert.False(await store.CreateAccountAsync("rina", NsocRole.Viewer, "other", T0));
        Assert.Equal(NsocRole.Operator, (await store.FindAccountAsync("rina"))!.Role);
        await store.CreateSessionAsync("tokenhash", "rina", "csrf", T0.AddHours(1));
        Assert.Equal("csrf", (await store.FindSessionAsync("tokenhash", T0))!.Csrf);
        Assert.Null(await store.FindSessionAsync("tokenhash", T0.AddHours(2)));
        Assert.Null(await store.FindSessionAsync("other", T0));
        await store.DeleteSessionAsync("tokenhash");
        Assert.Null(await store.FindSessionAsync("tokenhash", T0));
    }
}

public sealed class SqliteIncidentStoreTests : IncidentStoreContract, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kpu-nsoc-store-").FullName;
    private int _n;

    protected override Task<IncidentStore> NewStoreAsync() => IncidentStore.OpenSqliteAsync(Path.Combine(_dir, $"nsoc-{++_n}.db"));

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }
}

public sealed class PostgresServer : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("kpu-nsoc-postgres-").FullName;
    private int _databases;
    public LocalPostgres Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await LocalPostgres.StartAsync(_root);

    public async Task<string> NewDatabaseAsync()
    {
        string name = $"nsoc_{Interlocked.Increment(ref _databases)}";
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(Server.ConnectionStringFor("postgres")) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
        await create.ExecuteNonQueryAsync();
        return Server.ConnectionStringFor(name);
    }

    public async Task DisposeAsync()
    {
        if (Server is not null) await Server.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        Directory.Delete(_root, recursive: true);
    }
}

public sealed class PostgresIncidentStoreTests(PostgresServer postgres) : IncidentStoreContract, IClassFixture<PostgresServer>
{
    protected override async Task<IncidentStore> NewStoreAsync() => await IncidentStore.OpenPostgresAsync(await postgres.NewDatabaseAsync());

    [Fact]
    public async Task Several_nodes_opening_the_store_at_once_make_the_tables_once()
    {
        string connection = await postgres.NewDatabaseAsync();
        var stores = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => IncidentStore.OpenPostgresAsync(connection)));
        var ids = await Task.WhenAll(stores.Select((s, i) => s.RaiseAsync([new Alert("tamper", $"d{i}", SecuritySeverity.Critical, "t", "d", T0)], TimeSpan.FromMinutes(1))));
        Assert.Equal(4, ids.SelectMany(i => i).Distinct().Count());
        foreach (var s in stores) await s.DisposeAsync();
    }
}
