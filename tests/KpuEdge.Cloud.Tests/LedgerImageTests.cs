using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using Microsoft.Data.Sqlite;

namespace KpuEdge.Cloud.Tests;

/// <summary>The ledger knows which image each accepted form names, also for a ledger written before images existed.</summary>
public sealed class LedgerImageTests : IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"kpu-ledger-{Guid.NewGuid():N}", "ledger.db");
    private static readonly TpsCode Tps = CloudFixture.Tree.TpsIn(RegionCode.Parse("1371")).First();

    private static SignedSubmission Signed(Sha256Hash image)
    {
        var pki = EphemeralPkiFor.Test;
        var credentials = pki.IssueDevice("dev-ledger", KpuRole.Tps, Tps.Value, DeviceKey.Deterministic("dev-ledger", 3));
        var signer = new Edge.Device.FormSigner(Edge.Device.DeviceIdentity.From(credentials), CloudFixture.Election, CloudFixture.Ballots, TimeProvider.System);
        return signer.Sign(Core.Tally.SyntheticTally.ForTps(Tps, CloudFixture.Ballots, CloudFixture.Election, 3).Single(t => t.Contest == ContestId.Ppwp), image);
    }

    [Fact]
    public async Task A_format_2_ledger_is_upgraded_and_learns_the_image_hash_of_every_form_it_holds()
    {
        var image = Sha256Hash.Of("page"u8);
        await using (var ledger = new SqliteLedger(_path))
            await ledger.AppendAsync(new LedgerBatch { Accepted = [(Signed(image), DateTimeOffset.UnixEpoch)] });
        using (var connection = new SqliteConnection($"Data Source={_path};Pooling=false"))
        {
            connection.Open();
            using var downgrade = connection.CreateCommand();
            downgrade.CommandText = "DROP TABLE images; UPDATE submissions SET image_hash = NULL; PRAGMA user_version = 2;";
            downgrade.ExecuteNonQuery();
        }

        await using var upgraded = new SqliteLedger(_path);

        Assert.NotEmpty((await upgraded.ImageSignersAsync(Tps, ContestId.Ppwp, image)));
        Assert.Empty((await upgraded.ImageSignersAsync(Tps, ContestId.Dpr, image)));
        Assert.Empty((await upgraded.ImageSignersAsync(Tps, ContestId.Ppwp, Sha256Hash.Of("other"u8))));
        Assert.Empty((await upgraded.ImagesForTpsAsync(Tps)));
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(Path.GetDirectoryName(_path)!, recursive: true); }
        catch (IOException) { }
    }
}

/// <summary>One throwaway CA for tests that only need a device certificate.</summary>
internal static class EphemeralPkiFor
{
    public static readonly EphemeralPki Test = EphemeralPki.Create(CloudFixture.Election.ElectionId, DateTimeOffset.UtcNow, seed: 3);
}
