using System.Net;
using System.Text.Json;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Cloud.Transparency;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Security;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Transparency;
using KpuEdge.Simulator;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using KpuEdge.TestSupport;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// The transparency log through the real ingest and its public API: every accepted form is an entry, checkpoints are
/// signed by the log key, inclusion and consistency proofs verify with nothing but that key, and an entry altered in
/// the stored ledger stops the cloud from signing over it.
/// </summary>
public sealed class TransparencyLogTests(CloudFixture fixture) : IClassFixture<CloudFixture>
{
    private static readonly TimeSpan ReceiptTimeout = TimeSpan.FromSeconds(30);
    private static readonly TpsCode Tps = CloudFixture.Tree.TpsIn(RegionCode.Parse("7371")).First(); // Kota Makassar

    private NoteVerifierKey LogKey => fixture.Pki.LogKey;

    private async Task<JsonElement> GetJsonAsync(string path)
    {
        using var doc = JsonDocument.Parse(await fixture.Http.GetStringAsync(path));
        return doc.RootElement.Clone();
    }

    private static IReadOnlyList<byte[]> Proof(JsonElement json) =>
        json.GetProperty("proof").EnumerateArray().Select(p => Convert.FromBase64String(p.GetString()!)).ToList();

    private async Task<IReadOnlyList<SignedSubmission>> SendFormsAsync(TestDevice device, params ContestId[] contests)
    {
        var forms = contests.Select(c => device.Next(c)).ToList();
        await using var client = await device.ConnectAsync();
        foreach (var form in forms)
        {
            var receipt = await client.SubmitAsync(form, ReceiptTimeout);
            Assert.Equal(ReceiptStatus.Accepted, receipt.Status);
            Assert.NotNull(receipt.LogIndex);
            Assert.NotNull(receipt.Checkpoint);
        }
        return forms;
    }

    [Fact]
    public async Task Every_accepted_form_is_provably_in_a_checkpoint_signed_by_the_log_key()
    {
        var device = fixture.NewDevice(Tps);
        var forms = await SendFormsAsync(device, ContestId.Ppwp, ContestId.Dpr);

        Assert.Equal(LogKey.ToString(), (await fixture.Http.GetStringAsync("api/v1/log/key")).Trim());
        var note = await fixture.Http.GetStringAsync("api/v1/log/checkpoint");
        Assert.True(LogVerification.VerifyCheckpoint(note, LogKey, out var checkpoint).Ok);
        Assert.Equal(Checkpoint.DefaultOrigin(CloudFixture.Election.ElectionId), checkpoint!.Checkpoint.Origin);

        foreach (var form in forms)
        {
            var byHash = await GetJsonAsync($"api/v1/log/proof/inclusion?hash={form.Hash}");
            var entry = Convert.FromBase64String(byHash.GetProperty("entry").GetString()!);
            Assert.True(LogVerification.VerifySubmissionEntry(entry, form.Wire).Ok);
            Assert.True(SignedCheckpoint.TryParse(byHash.GetProperty("checkpoint").GetString(), out var signed, out _));
            var verdict = LogVerification.VerifyInclusion(entry, byHash.GetProperty("leaf_index").GetInt64(), Proof(byHash), signed!, LogKey,
                byHash.GetProperty("tree_size").GetInt64());
            Assert.True(verdict.Ok, verdict.Detail);
        }
        var byTps = await GetJsonAsync($"api/v1/log/proof/inclusion?tps={Tps}&contest=dpr");
        Assert.Equal(forms[1].Hash.ToString(), byTps.GetProperty("submission_hash").GetString());
    }

    [Fact]
    public async Task Two_checkpoints_are_consistent_and_the_entries_rebuild_the_signed_root()
    {
        var older = SignedCheckpoint.Parse(await fixture.Http.GetStringAsync("api/v1/log/checkpoint?fresh=true"));
        await SendFormsAsync(fixture.NewDevice(Tps), ContestId.Dpd);
        var newer = SignedCheckpoint.Parse(await fixture.Http.GetStringAsync("api/v1/log/checkpoint?fresh=true"));
        Assert.True(newer.Checkpoint.Size > older.Checkpoint.Size);

        if (older.Checkpoint.Size > 0)
        {
            var consistency = await GetJsonAsync($"api/v1/log/proof/consistency?from={older.Checkpoint.Size}&to={newer.Checkpoint.Size}");
            var verdict = LogVerification.VerifyConsistency(older, newer, Proof(consistency), LogKey);
            Assert.True(verdict.Ok, verdict.Detail);
        }

        // Anyone can download the entries and recompute the root the log signed.
        var tree = new MerkleTree();
        for (long start = 0; start < newer.Checkpoint.Size;)
        {
            var page = await GetJsonAsync($"api/v1/log/entries?start={start}&end={newer.Checkpoint.Size}");
            foreach (var e in page.GetProperty("entries").EnumerateArray())
            {
                var entry = LogEntry.Decode(Convert.FromBase64String(e.GetString()!));
                tree.Append(entry.Bytes);
                start++;
            }
        }
        Assert.Equal(newer.Checkpoint.RootHash, tree.Root(newer.Checkpoint.Size));
    }

    [Theory]
    [InlineData("api/v1/log/proof/inclusion", HttpStatusCode.BadRequest)]
    [InlineData("api/v1/log/proof/inclusion?hash=xyz", HttpStatusCode.BadRequest)]
    [InlineData("api/v1/log/proof/inclusion?hash=0000000000000000000000000000000000000000000000000000000000000000", HttpStatusCode.NotFound)]
    [InlineData("api/v1/log/proof/inclusion?tps=123&contest=ppwp", HttpStatusCode.BadRequest)]
    [InlineData("api/v1/log/proof/consistency?from=5&to=2", HttpStatusCode.BadRequest)]
    [InlineData("api/v1/log/proof/consistency?from=1&to=999999999", HttpStatusCode.BadRequest)]
    [InlineData("api/v1/log/entries?start=-1", HttpStatusCode.BadRequest)]
    [InlineData("api/v1/log/entries?start=999999999", HttpStatusCode.BadRequest)]
    public async Task Answers_bad_log_requests_with_a_clear_error(string path, HttpStatusCode expected)
    {
        var response = await fixture.Http.GetAsync(path);
        Assert.Equal(expected, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.False(string.IsNullOrEmpty(doc.RootElement.GetProperty("error").GetString()));
    }

    [Fact]
    public async Task An_entry_altered_in_the_stored_ledger_stops_the_cloud_from_signing_over_it()
    {
        string data = Path.Combine(Path.GetTempPath(), $"kpu-tamper-{Guid.NewGuid():N}");
        var pki = SimulationPki.Create(CloudFixture.Election, seed: 11);
        try
        {
            await using (var cloud = await InProcessCloud.StartAsync(data, CloudFixture.Tree, CloudFixture.Election, pki: pki))
            {
                var credentials = pki.Pki.IssueDevice("dev-tamper", Crypto.Pki.KpuRole.Tps, Tps.Value, DeviceKey.Generate());
                cloud.Register(credentials);
                var signer = new Edge.Device.FormSigner(Edge.Device.DeviceIdentity.From(credentials), CloudFixture.Election, CloudFixture.Ballots, TimeProvider.System);
                await using var client = new Edge.Transport.SubmissionClient(credentials.DeviceId, cloud.ConnectionFor(credentials));
                await client.ConnectAsync();
                foreach (var contest in new[] { ContestId.Ppwp, ContestId.Dpr, ContestId.Dpd })
                {
                    var tally = SyntheticTally.ForTps(Tps, CloudFixture.Ballots, CloudFixture.Election, 5).Single(t => t.Contest == contest);
                    Assert.Equal(ReceiptStatus.Accepted, (await client.SubmitAsync(signer.Sign(tally), ReceiptTimeout)).Status);
                }
                await cloud.Log.PublishFreshAsync();
            }

            // Someone with access to the database rewrites the second form (a different, validly signed one would do too).
            using (var db = new SqliteConnection($"Data Source={Path.Combine(data, "ledger.db")};Pooling=false"))
            {
                db.Open();
                using var update = db.CreateCommand();
                update.CommandText = "UPDATE submissions SET wire = zeroblob(length(wire)) WHERE position = 2";
                Assert.Equal(1, update.ExecuteNonQuery());
            }

            var refused = await Assert.ThrowsAnyAsync<Exception>(() =>
                InProcessCloud.StartAsync(data, CloudFixture.Tree, CloudFixture.Election, pki: pki));
            Assert.IsType<LogTamperedException>(refused is AggregateException a ? a.InnerException : refused);
            await using var ledger = new SqliteLedger(Path.Combine(data, "ledger.db"));
            Assert.Contains((await ledger.SecurityEventsAsync(0, 100)), e => e.Kind == SecurityEventKinds.LogTampered && e.Severity == SecuritySeverity.Critical);
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            try { Directory.Delete(data, recursive: true); }
            catch (IOException) { }
        }
    }
}
