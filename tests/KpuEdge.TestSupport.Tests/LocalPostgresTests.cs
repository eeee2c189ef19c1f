using KpuEdge.TestSupport.LocalServices;
using Npgsql;

namespace KpuEdge.TestSupport.Tests;

/// <summary>Debian's PostgreSQL started, crashed, restarted and stopped by the test-support library, data in a temp folder.</summary>
public sealed class LocalPostgresTests : IDisposable
{
    private readonly TempFolder _root = new();

    [Fact]
    public async Task Committed_rows_survive_a_SIGKILL_of_the_server_and_a_restart_on_the_same_port()
    {
        await using var postgres = await LocalPostgres.StartAsync(_root.Path);
        int port = postgres.Port;
        await using (var db = NpgsqlDataSource.Create(postgres.ConnectionString))
        {
            await db.CreateCommand("CREATE TABLE forms (id int PRIMARY KEY, tps text NOT NULL)").ExecuteNonQueryAsync();
            for (int id = 1; id <= 50; id++) // each its own commit, acknowledged only once on disk
            {
                await using var insert = db.CreateCommand("INSERT INTO forms VALUES ($1, $2)");
                insert.Parameters.Add(new NpgsqlParameter { Value = id });
                insert.Parameters.Add(new NpgsqlParameter { Value = $"3273011001{id:000}" });
                await insert.ExecuteNonQueryAsync();
            }
        }

        await postgres.KillAsync();

        Assert.False(postgres.IsRunning);
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => CountAsync(postgres.ConnectionString));

        await postgres.RestartAsync();

        Assert.Equal(port, postgres.Port);
        Assert.Equal(50L, await CountAsync(postgres.ConnectionString));
        Assert.Contains("not properly shut down; automatic recovery in progress", File.ReadAllText(postgres.LogPath));
    }

    [Fact]
    public async Task Keeps_its_cluster_socket_and_log_under_the_data_root_and_runs_unprivileged()
    {
        await using var postgres = await LocalPostgres.StartAsync(_root.Path, new LocalPostgresOptions { Database = "ledger" });

        Assert.Equal(Path.Combine(_root.Path, "postgres"), postgres.Root);
        Assert.True(File.Exists(Path.Combine(_root.Path, "postgres", "data", "PG_VERSION")));
        Assert.True(File.Exists(Path.Combine(_root.Path, "postgres", "run", $".s.PGSQL.{postgres.Port}")));
        Assert.Contains("database system is ready to accept connections", File.ReadAllText(Path.Combine(_root.Path, "postgres", "postgres.log")));
        Assert.Equal($"{postgres.ProcessId}", File.ReadAllText(Path.Combine(_root.Path, "postgres", "server.pid")).Trim());

        await using var db = NpgsqlDataSource.Create(postgres.ConnectionString);
        Assert.Equal("ledger", await db.CreateCommand("SELECT current_database()").ExecuteScalarAsync());
        Assert.Equal("on", await db.CreateCommand("SHOW fsync").ExecuteScalarAsync());
        Assert.Equal("on", await db.CreateCommand("SHOW synchronous_commit").ExecuteScalarAsync());
        Assert.Equal("127.0.0.1", await db.CreateCommand("SHOW listen_addresses").ExecuteScalarAsync());
        Assert.Equal("UTF8", await db.CreateCommand("SHOW server_encoding").ExecuteScalarAsync());
        Assert.NotEqual("0", RealUid(postgres.ProcessId!.Value)); // PostgreSQL refuses root: as root it runs as 'postgres'
    }

    [Fact]
    public async Task Stops_cleanly_serves_the_same_data_after_a_restart_and_leaves_nothing_running_when_disposed()
    {
        var postgres = await LocalPostgres.StartAsync(_root.Path);
        await using (var db = NpgsqlDataSource.Create(postgres.ConnectionString))
            await db.CreateCommand("CREATE TABLE t AS SELECT 7 AS v").ExecuteNonQueryAsync();

        await postgres.StopAsync();
        Assert.False(postgres.IsRunning);
        Assert.Contains("database system is shut down", File.ReadAllText(postgres.LogPath));

        await postgres.RestartAsync();
        Assert.Equal(1L, await CountAsync(postgres.ConnectionString, "t"));
        int pid = postgres.ProcessId!.Value;

        await postgres.DisposeAsync();

        Assert.False(Directory.Exists($"/proc/{pid}"));
        Assert.False(File.Exists(Path.Combine(postgres.Root, "server.pid")));
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => CountAsync(postgres.ConnectionString, "t"));
    }

    [Fact]
    public async Task A_start_on_the_same_data_kills_the_server_a_crashed_run_left_behind()
    {
        // The first owner never stops its server, as a test process killed mid-run would not.
        var abandoned = await LocalPostgres.StartAsync(_root.Path);
        int stalePid = abandoned.ProcessId!.Value;
        await using (var db = NpgsqlDataSource.Create(abandoned.ConnectionString))
            await db.CreateCommand("CREATE TABLE t AS SELECT 1 AS v").ExecuteNonQueryAsync();

        await using var postgres = await LocalPostgres.StartAsync(_root.Path);

        Assert.False(Directory.Exists($"/proc/{stalePid}"));
        Assert.Equal(1L, await CountAsync(postgres.ConnectionString, "t"));
        await abandoned.DisposeAsync(); // its server is gone already; the new server and its pid file stay
        Assert.True(postgres.IsRunning);
        Assert.Equal($"{postgres.ProcessId}", File.ReadAllText(Path.Combine(postgres.Root, "server.pid")).Trim());
        Assert.Equal(1L, await CountAsync(postgres.ConnectionString, "t"));
    }

    [Fact]
    public async Task Without_PostgreSQL_installed_names_the_Debian_package_and_kpu_setup()
    {
        var error = await Assert.ThrowsAsync<ServiceNotInstalledException>(() =>
            LocalPostgres.StartAsync(_root.Path, new LocalPostgresOptions { BinariesRoot = Path.Combine(_root.Path, "no-postgresql") }));

        Assert.Equal("postgresql", error.DebianPackage);
        Assert.Contains("'postgresql'", error.Message);
        Assert.Contains("./kpu setup", error.Message);
        Assert.False(Directory.Exists(Path.Combine(_root.Path, "postgres")));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task As_root_a_data_root_the_postgres_account_cannot_reach_is_refused_naming_the_closed_folder()
    {
        if (Environment.UserName != "root") return; // as any other user PostgreSQL runs as that user: nothing to reach
        string closed = Path.Combine(_root.Path, "closed");
        Directory.CreateDirectory(closed, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var error = await Assert.ThrowsAsync<LocalServiceException>(() => LocalPostgres.StartAsync(Path.Combine(closed, "data")));

        Assert.Contains($"{closed} lacks search permission for others (chmod o+x)", error.Message);
    }

    private static async Task<long> CountAsync(string connectionString, string table = "forms")
    {
        await using var db = NpgsqlDataSource.Create(connectionString);
        return (long)(await db.CreateCommand($"SELECT count(*) FROM {table}").ExecuteScalarAsync())!;
    }

    private static string RealUid(int pid) =>
        File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("Uid:")).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1];

    public void Dispose() => _root.Dispose();
}
