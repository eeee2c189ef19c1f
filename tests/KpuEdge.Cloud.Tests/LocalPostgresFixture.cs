using KpuEdge.TestSupport.LocalServices;
using Npgsql;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// A private PostgreSQL for one test class (test support's <see cref="LocalPostgres"/>, its data in a temp folder removed
/// afterwards), with a fresh database for each test that asks, so tests never see each other's rows.
/// </summary>
public sealed class LocalPostgresFixture : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("kpu-ledger-postgres-").FullName;
    private int _databases;

    public LocalPostgres Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await LocalPostgres.StartAsync(_root);

    /// <summary>Creates an empty database and returns its connection string.</summary>
    public async Task<string> NewDatabaseAsync()
    {
        string name = $"ledger_{Interlocked.Increment(ref _databases)}";
        // Unpooled: a test may have killed and restarted the server since the last database was made.
        var admin = new NpgsqlConnectionStringBuilder(Server.ConnectionStringFor("postgres")) { Pooling = false }.ConnectionString;
        await using var connection = new NpgsqlConnection(admin);
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
