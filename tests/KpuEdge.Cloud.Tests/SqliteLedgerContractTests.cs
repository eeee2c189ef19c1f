using KpuEdge.Cloud.Ledger;
using Microsoft.Data.Sqlite;

namespace KpuEdge.Cloud.Tests;

/// <summary>The ledger contract on <see cref="SqliteLedger"/>: a file of its own in a temp folder for each test.</summary>
public sealed class SqliteLedgerContractTests : LedgerContractTests
{
    private readonly string _directory = Directory.CreateTempSubdirectory("kpu-ledger-contract-").FullName;

    protected override Task<IResultsLedger> OpenAsync() => Task.FromResult<IResultsLedger>(new SqliteLedger(Path.Combine(_directory, "ledger.db")));

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }
}
