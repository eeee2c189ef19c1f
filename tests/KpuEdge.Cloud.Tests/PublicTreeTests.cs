using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using KpuEdge.Cloud.Api;
using KpuEdge.Cloud.Public;
using Microsoft.Extensions.DependencyInjection;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// The public tree through the real ingest, ledger and log: forms sent by devices appear in Sirekap's static layout as
/// of a signed checkpoint, each region the sum of its rows up to the nation, equal to the live API; a later build
/// rewrites only what the new log entries touch; the files are served with ETags, gzip and cache lifetimes, and any
/// path that is not a file of the tree is refused.
/// </summary>
public sealed class PublicTreeTests(CloudFixture fixture) : IClassFixture<CloudFixture>
{
    private static readonly TimeSpan ReceiptTimeout = TimeSpan.FromSeconds(30);

    private static TpsCode TpsIn(string desa, int index) => CloudFixture.Tree.TpsIn(RegionCode.Parse(desa)).ElementAt(index);

    private async Task<JsonElement> GetJsonAsync(string path)
    {
        using var response = await fixture.Http.GetAsync(path);
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.Clone();
    }

    private async Task SendAsync(TestDevice device, params SignedSubmissionSpec[] forms)
    {
        await using var client = await device.ConnectAsync();
        foreach (var spec in forms)
            Assert.Equal(ReceiptStatus.Accepted, (await client.SubmitAsync(spec.Sign(device), ReceiptTimeout)).Status);
    }

    [Fact]
    public async Task Forms_appear_in_the_tree_at_a_checkpoint_every_region_the_sum_of_its_rows_and_equal_to_the_live_api()
    {
        // Two desa of one kecamatan in Kota Padang, and one TPS in another province.
        var kecamatan = CloudFixture.Tree.ChildrenOf(RegionCode.Parse("137101")).Take(2).ToList();
        var a = fixture.NewDevice(TpsIn(kecamatan[0].Value, 0));
        var b = fixture.NewDevice(TpsIn(kecamatan[0].Value, 1));
        var c = fixture.NewDevice(TpsIn(kecamatan[1].Value, 0));
        var d = fixture.NewDevice(TpsIn("3273011001", 0));
        await SendAsync(a, new SignedSubmissionSpec(ContestId.Ppwp, 1), new SignedSubmissionSpec(ContestId.Dpr, 1));
        await SendAsync(b, new SignedSubmissionSpec(ContestId.Ppwp, 2));
        await SendAsync(c, new SignedSubmissionSpec(ContestId.Ppwp, 3));
        await SendAsync(d, new SignedSubmissionSpec(ContestId.Ppwp, 4));

        var build = await fixture.Cloud.BuildPublicTreeAsync();
        Assert.NotNull(build);
        await fixture.Cloud.Recap.SettleAsync();

        // A TPS file: Sirekap's keys (KPU's pair ids, "null"), the signed form's numbers and bytes, its checkpoint.
        var tpsFile = await GetJsonAsync($"pemilu/hhcw/ppwp/13/1371/137101/{a.Tps.Desa}/{a.Tps}.json");
        var api = await GetJsonAsync($"api/v1/results/ppwp/{a.Tps}");
        Assert.Equal("hhcw", tpsFile.GetProperty("mode").GetString());
        Assert.Equal(api.GetProperty("chart").GetProperty("1").GetInt64(), tpsFile.GetProperty("chart").GetProperty("100025").GetInt64());
        Assert.Equal(JsonValueKind.Null, tpsFile.GetProperty("chart").GetProperty("null").ValueKind);
        Assert.Equal(api.GetProperty("submission").GetProperty("hash").GetString(), tpsFile.GetProperty("submission").GetProperty("hash").GetString());
        Assert.Equal("verified", tpsFile.GetProperty("submission").GetProperty("signature").GetString());
        var administrasi = tpsFile.GetProperty("administrasi");
        Assert.Equal(administrasi.GetProperty("pengguna_total_l").GetInt64() + administrasi.GetProperty("pengguna_total_p").GetInt64(),
            administrasi.GetProperty("pengguna_total_j").GetInt64());
        Assert.True(tpsFile.GetProperty("checkpoint").GetProperty("size").GetInt64() > tpsFile.GetProperty("submission").GetProperty("log_index").GetInt64());

        // Every level equals the live recap, and its chart is the sum of its table.
        foreach (var (path, region) in new[]
                 {
                     ("pemilu/hhcw/ppwp.json", "0"), ("pemilu/hhcw/ppwp/13.json", "13"), ("pemilu/hhcw/ppwp/13/1371.json", "1371"),
                     ("pemilu/hhcw/ppwp/13/1371/137101.json", "137101"), ($"pemilu/hhcw/ppwp/13/1371/137101/{kecamatan[0]}.json", kecamatan[0].Value),
                 })
        {
            var file = await GetJsonAsync(path);
            var live = await GetJsonAsync($"api/v1/results/ppwp/{region}");
            foreach (var (pair, key) in new[] { ("1", "100025"), ("2", "100026"), ("3", "100027") })
            {
                long chart = file.GetProperty("chart").GetProperty(key).GetInt64();
                Assert.Equal(live.GetProperty("chart").GetProperty(pair).GetInt64(), chart);
                Assert.Equal(chart, file.GetProperty("table").EnumerateObject()
                    .Sum(row => row.Value.GetProperty(key).ValueKind == JsonValueKind.Number ? row.Value.GetProperty(key).GetInt64() : 0));
            }
            Assert.Equal(live.GetProperty("progres").GetProperty("progres").GetInt64(), file.GetProperty("progres").GetProperty("progres").GetInt64());
            Assert.Equal(live.GetProperty("progres").GetProperty("total").GetInt64(), file.GetProperty("progres").GetProperty("total").GetInt64());
            Assert.Equal(live.GetProperty("administrasi").GetProperty("suara_sah").GetInt64(),
                file.GetProperty("administrasi").GetProperty("suara_sah").GetInt64());
            Assert.Equal(build.ToSize, file.GetProperty("checkpoint").GetProperty("size").GetInt64());
        }
        // The region listings, with names; a desa's lists its TPS.
        var provinces = await GetJsonAsync("wilayah/pemilu/ppwp/0.json");
        Assert.Equal(38, provinces.GetArrayLength());
        var tpsListing = await GetJsonAsync($"wilayah/pemilu/ppwp/13/1371/137101/{kecamatan[0]}.json");
        Assert.Contains(tpsListing.EnumerateArray(), t => t.GetProperty("kode").GetString() == a.Tps.Value);
        // The manifest names the checkpoint the tree is current to, with its signed note.
        var manifest = await GetJsonAsync("pemilu/snapshot.json");
        Assert.Equal(build.ToSize, manifest.GetProperty("checkpoint").GetProperty("size").GetInt64());
        Assert.Contains(fixture.Cloud.Log.Latest.Note.Split('\n')[0], manifest.GetProperty("checkpoint").GetProperty("note").GetString());

        // A correction later: the next build rewrites that TPS and its regions only, and the tree follows (the node's
        // in-memory copy of a file it served before serves no longer).
        Assert.Equal(1, (await GetJsonAsync($"pemilu/hhcw/ppwp/13/1371/137101/{b.Tps.Desa}/{b.Tps}.json")).GetProperty("versions_total").GetInt32());
        await SendAsync(b, new SignedSubmissionSpec(ContestId.Ppwp, 5, "Salah salin angka pasangan 1"));
        var next = await fixture.Cloud.BuildPublicTreeAsync();
        Assert.NotNull(next);
        Assert.Equal(build.ToSize, next.FromSize);
        Assert.Equal(1, next.TpsFiles);
        var corrected = await GetJsonAsync($"pemilu/hhcw/ppwp/13/1371/137101/{b.Tps.Desa}/{b.Tps}.json");
        Assert.Equal(2, corrected.GetProperty("versions_total").GetInt32());
        Assert.Equal("Salah salin angka pasangan 1", corrected.GetProperty("submission").GetProperty("correction_reason").GetString());
        await fixture.Cloud.Recap.SettleAsync();
        var nation = await GetJsonAsync("pemilu/hhcw/ppwp.json");
        var liveNation = await GetJsonAsync("api/v1/results/ppwp/0");
        Assert.Equal(liveNation.GetProperty("chart").GetProperty("1").GetInt64(), nation.GetProperty("chart").GetProperty("100025").GetInt64());
        Assert.True(nation.GetProperty("kurva").GetArrayLength() >= 1);
        // Nothing new in the log: nothing to build.
        Assert.Null(await fixture.Cloud.Services.GetRequiredService<PublicTreeMonitor>().BuildAsync());
    }

    [Fact]
    public async Task Files_are_served_with_an_etag_gzip_and_cache_lifetimes_and_every_other_path_is_refused()
    {
        var device = fixture.NewDevice(TpsIn("3273011002", 0));
        await SendAsync(device, new SignedSubmissionSpec(ContestId.Ppwp, 6));
        await fixture.Cloud.BuildPublicTreeAsync();

        using var request = new HttpRequestMessage(HttpMethod.Get, "pemilu/hhcw/ppwp.json");
        request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("gzip"));
        using var response = await fixture.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("gzip", response.Content.Headers.ContentEncoding.Single());
        Assert.Equal(PublicTreeApi.ResultsCacheControl, response.Headers.CacheControl!.ToString());
        await using (var unzipped = new GZipStream(await response.Content.ReadAsStreamAsync(), CompressionMode.Decompress))
            Assert.Equal("hhcw", JsonDocument.Parse(unzipped).RootElement.GetProperty("mode").GetString());

        // A TPS file has no gzip twin on disk: it is compressed when asked for.
        using var tpsRequest = new HttpRequestMessage(HttpMethod.Get, $"pemilu/hhcw/ppwp/32/3273/327301/3273011002/{device.Tps}.json");
        tpsRequest.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("gzip"));
        using var tpsResponse = await fixture.Http.SendAsync(tpsRequest);
        Assert.Equal("gzip", tpsResponse.Content.Headers.ContentEncoding.Single());
        await using (var unzipped = new GZipStream(await tpsResponse.Content.ReadAsStreamAsync(), CompressionMode.Decompress))
            Assert.Equal(device.Tps.Value, JsonDocument.Parse(unzipped).RootElement.GetProperty("kode").GetString());

        using var again = new HttpRequestMessage(HttpMethod.Get, "pemilu/hhcw/ppwp.json");
        again.Headers.IfNoneMatch.Add(response.Headers.ETag!);
        using var notModified = await fixture.Http.SendAsync(again);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);

        using var listing = await fixture.Http.GetAsync("wilayah/pemilu/ppwp/0.json");
        Assert.Equal(PublicTreeApi.ListingCacheControl, listing.Headers.CacheControl!.ToString());

        foreach (var bad in new[]
                 {
                     "pemilu/hhcw/pilkada.json", "pemilu/hhcw/ppwp/32/3173.json", "pemilu/hhcw/ppwp/3/32.json", "pemilu/hhcw/ppwp/..%2f..%2fledger.db",
                     "pemilu/hhcw/ppwp/32/3273/327301/3273011001/3273011001001/1.json", "pemilu/hhcw/ppwp/32.json.gz", "wilayah/pemilu/ppwp/../../ledger.db",
                     "pemilu/hhcw/ppwp/32/3273/327301/3273011001/3273011001001/..%2f..%2f..%2f..%2f..%2f..%2f..%2fledger.db", "wilayah/pemilu/ppwp/32/3273/327301/3273011001/3273011001001.json",
                 })
        {
            using var refused = await fixture.Http.GetAsync(bad);
            Assert.True(refused.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound, $"{bad}: {(int)refused.StatusCode}");
            Assert.Contains("error", await refused.Content.ReadAsStringAsync());
        }
        using var unpublished = await fixture.Http.GetAsync("pemilu/hhcw/ppwp/91.json");
        Assert.Equal(HttpStatusCode.NotFound, unpublished.StatusCode);
    }

    [Fact]
    public async Task A_flagged_TPS_is_listed_with_its_rule_and_its_numbers_stay_as_signed()
    {
        var device = fixture.NewDevice(TpsIn("3273011004", 0));
        var tally = device.Tally(ContestId.Ppwp, seed: 9);
        // Every valid vote to pair 2: a form that keeps every C.Hasil rule, so it is accepted and counted, and flagged.
        var allToOne = tally with { Suara = [new(1, 0), new(2, tally.SuaraSah), new(3, 0)] };
        await using (var client = await device.ConnectAsync())
            Assert.Equal(ReceiptStatus.Accepted, (await client.SubmitAsync(device.Signer.Sign(allToOne), ReceiptTimeout)).Status);
        await fixture.Cloud.BuildPublicTreeAsync();

        var tpsFile = await GetJsonAsync($"pemilu/hhcw/ppwp/32/3273/327301/3273011004/{device.Tps}.json");
        Assert.Contains(tpsFile.GetProperty("anomali").EnumerateArray(), a => a.GetProperty("rule").GetString() == "single_choice_all_votes");
        Assert.Equal(tally.SuaraSah, tpsFile.GetProperty("chart").GetProperty("100026").GetInt32());
        var province = await GetJsonAsync("pemilu/anomali/ppwp/32.json");
        var listed = province.GetProperty("tps").GetProperty(device.Tps.Value);
        Assert.Equal("single_choice_all_votes", listed[0].GetProperty("rule").GetString());
        var summary = await GetJsonAsync("pemilu/anomali/ppwp.json");
        Assert.True(summary.GetProperty("aturan").GetProperty("single_choice_all_votes").GetInt32() >= 1);
        Assert.True(summary.GetProperty("provinsi").GetProperty("32").GetProperty("tps").GetInt32() >= 1);

        // Corrected by the device to ordinary numbers: the flag goes, the listing follows.
        await SendAsync(device, new SignedSubmissionSpec(ContestId.Ppwp, 9, "Salah tulis: suara pasangan 1 dan 3 terlewat"));
        await fixture.Cloud.BuildPublicTreeAsync();
        province = await GetJsonAsync("pemilu/anomali/ppwp/32.json");
        Assert.False(province.GetProperty("tps").TryGetProperty(device.Tps.Value, out _));
        using var bad = await fixture.Http.GetAsync("pemilu/anomali/ppwp/3273.json");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    [Fact]
    public async Task The_exports_name_their_checkpoint_the_nist_report_validates_against_the_official_schema_and_the_csv_matches_the_tree()
    {
        var a = fixture.NewDevice(TpsIn("3273011003", 0));
        var b = fixture.NewDevice(TpsIn("3273011003", 1));
        await SendAsync(a, new SignedSubmissionSpec(ContestId.Ppwp, 7), new SignedSubmissionSpec(ContestId.Dpr, 7));
        await SendAsync(b, new SignedSubmissionSpec(ContestId.Ppwp, 8));
        var build = await fixture.Cloud.BuildPublicTreeAsync();
        Assert.NotNull(build);

        var schema = await NJsonSchema.JsonSchema.FromFileAsync(Path.Combine(AppContext.BaseDirectory, "nist-sp-1500-100-v2.schema.json"));
        foreach (var path in new[] { "ppwp/0", "ppwp/32", "ppwp/327301", "ppwp/3273011003", $"ppwp/{a.Tps}", "dpr/3273011003", "dpd/32", "dprd-kab/31" })
        {
            var report = await fixture.Http.GetStringAsync($"api/v1/export/nist/{path}");
            var errors = schema.Validate(report);
            Assert.True(errors.Count == 0, $"{path}: " + string.Join("; ", errors.Take(5).Select(e => $"{e.Path}: {e.Kind}")));
        }
        // The kecamatan's report: the pair's count in the region equals its published file, each child unit is listed.
        var nist = JsonDocument.Parse(await fixture.Http.GetStringAsync("api/v1/export/nist/ppwp/327301")).RootElement;
        var kecamatan = await GetJsonAsync("pemilu/hhcw/ppwp/32/3273/327301.json");
        var selection = nist.GetProperty("Election")[0].GetProperty("Contest")[0].GetProperty("ContestSelection")[0];
        var regionCount = selection.GetProperty("VoteCounts").EnumerateArray().First(v => v.GetProperty("GpUnitId").GetString() == "gpunit-327301");
        Assert.Equal(kecamatan.GetProperty("chart").GetProperty("100025").GetInt64(), regionCount.GetProperty("Count").GetInt64());
        Assert.Contains($"size {kecamatan.GetProperty("checkpoint").GetProperty("size").GetInt64()}", nist.GetProperty("Notes").GetString());
        Assert.Equal(CloudFixture.Tree.ChildrenOf(RegionCode.Parse("327301")).Count() + 1, nist.GetProperty("GpUnit").GetArrayLength());

        // CSV of the desa's TPS: the checkpoint first, then one row per TPS with the published numbers.
        var csv = (await fixture.Http.GetStringAsync("api/v1/export/csv/ppwp/3273011003")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("# KpuEdge", csv[0]);
        Assert.Contains("checkpoint size=", csv[1]);
        Assert.StartsWith("# 100025 = 1 H. Anies", csv[2]);
        var header = csv.First(l => l.StartsWith("kode,")).Split(',');
        var row = csv.Single(l => l.StartsWith(a.Tps.Value)).Split(',');
        var tpsFile = await GetJsonAsync($"pemilu/hhcw/ppwp/32/3273/327301/3273011003/{a.Tps}.json");
        Assert.Equal(tpsFile.GetProperty("chart").GetProperty("100025").GetInt64().ToString(), row[Array.IndexOf(header, "100025")]);
        Assert.Equal(tpsFile.GetProperty("administrasi").GetProperty("suara_sah").GetInt64().ToString(), row[Array.IndexOf(header, "suara_sah")]);
        // A level further down: every desa of the kab/kota, in one file.
        var desaRows = (await fixture.Http.GetStringAsync("api/v1/export/csv/ppwp/3273?level=desa")).Split('\n', StringSplitOptions.RemoveEmptyEntries).SkipWhile(l => !l.StartsWith("kode,")).Skip(1);
        Assert.Equal(CloudFixture.Tree.TpsIn(RegionCode.Parse("3273")).Select(t => t.Desa).Distinct().Count(), desaRows.Count());

        // Bad input: a clear 4xx and nothing else.
        foreach (var (bad, status) in new[]
                 {
                     ("api/v1/export/nist/pilkada/0", 400), ("api/v1/export/nist/ppwp/12345", 400), ("api/v1/export/nist/ppwp/99", 404),
                     ("api/v1/export/csv/ppwp/0?level=tps", 400), ("api/v1/export/csv/ppwp/3273?level=provinsi", 400),
                     ("api/v1/export/csv/ppwp/32?level=everything", 400), ("api/v1/export/csv/ppwp/3273011003001", 400),
                     ("api/v1/export/nist/ppwp/..%2f..%2fledger.db", 400),
                 })
        {
            using var response = await fixture.Http.GetAsync(bad);
            Assert.True((int)response.StatusCode == status, $"{bad}: {(int)response.StatusCode}");
            Assert.Contains("error", await response.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task Kpu_verify_proves_a_csv_export_against_the_log_and_finds_a_changed_number_root_or_row()
    {
        // A desa of Kota Bandung of its own: a device's two versions, a PPK's plenary correction of another TPS, DPD too.
        const string desa = "3273021001";
        var a = fixture.NewDevice(TpsIn(desa, 0));
        var b = fixture.NewDevice(TpsIn(desa, 1));
        await SendAsync(a, new SignedSubmissionSpec(ContestId.Ppwp, 21), new SignedSubmissionSpec(ContestId.Dpd, 21),
            new SignedSubmissionSpec(ContestId.Ppwp, 22, "Salah salin jumlah suara sah"));
        var form = b.Next(ContestId.Ppwp, seed: 23);
        await using (var client = await b.ConnectAsync())
            Assert.Equal(ReceiptStatus.Accepted, (await client.SubmitAsync(form, ReceiptTimeout)).Status);
        var kecamatan = b.Tps.Region.AncestorAt(RegionLevel.Kecamatan);
        var station = new TestStation(fixture.Pki.Pki.IssueDevice($"ppk-{kecamatan}-export", KpuEdge.Crypto.Pki.KpuRole.Ppk, kecamatan.Value), fixture);
        await using (var client = await station.ConnectAsync())
            Assert.Equal(ReceiptStatus.Accepted, (await client.SubmitStatementAsync(station.Correct(new(b.Tps, ContestId.Ppwp, form.Hash),
                "Pleno PPK: dihitung ulang", TestStation.Corrected(form.Submission.Tally, moved: 4)), ReceiptTimeout)).Status);
        Assert.NotNull(await fixture.Cloud.BuildPublicTreeAsync());

        var verifier = new KpuEdge.Verify.Verifier(fixture.Http);
        Task<KpuEdge.Verify.VerificationReport> VerifyAsync(string csv) => verifier.VerifyExportAsync(fixture.Cloud.ApiBase, fixture.Pki.LogKey, csv);
        static string Describe(KpuEdge.Verify.VerificationReport r) => string.Join("\n", r.Checks.Select(c => $"{c.Name} {c.Status} {c.Error} {c.Detail}")) + r.ErrorDetail;

        // Genuine exports at three levels and two contests: every row the log's count, the checkpoint the log's own.
        var tpsRows = await fixture.Http.GetStringAsync($"api/v1/export/csv/ppwp/{desa}");
        foreach (var csv in new[] { tpsRows, await fixture.Http.GetStringAsync("api/v1/export/csv/ppwp/3273?level=desa"),
                     await fixture.Http.GetStringAsync($"api/v1/export/csv/dpd/{desa}"), await fixture.Http.GetStringAsync("api/v1/export/csv/ppwp/32") })
        {
            var report = await VerifyAsync(csv);
            Assert.True(report.Ok, csv.Split('\n')[0] + "\n" + Describe(report));
            Assert.Equal(["export_format", "checkpoint_signature", "entries", "root", "checkpoint", "numbers", "tps_total"], report.Checks.Select(c => c.Name));
        }
        var genuine = await VerifyAsync(tpsRows);
        Assert.Equal("2", genuine.Facts["forms_counted"]);
        Assert.Equal("1", genuine.Facts["ppk_corrections_counted"]);

        // A form in another kecamatan and a build later: the kab/kota's desa rows come from files of two checkpoints,
        // each row the log's count at its own (what an export read while a build writes looks like, too).
        await SendAsync(fixture.NewDevice(TpsIn("3273031001", 0)), new SignedSubmissionSpec(ContestId.Ppwp, 24));
        Assert.NotNull(await fixture.Cloud.BuildPublicTreeAsync());
        var kabRows = await fixture.Http.GetStringAsync("api/v1/export/csv/ppwp/3273?level=desa");
        var sizes = kabRows.Split('\n').SkipWhile(l => !l.StartsWith("kode,")).Skip(1).Where(l => l.Length > 0).Select(l => l.Split(',')[^1]).Distinct().ToList();
        Assert.True(sizes.Count(z => z != "0") >= 2, string.Join(" ", sizes));
        var twoSizes = await VerifyAsync(kabRows);
        Assert.True(twoSizes.Ok, Describe(twoSizes));

        // One vote moved in a row: the row and column named.
        var lines = tpsRows.Split('\n');
        int row = Array.FindIndex(lines, l => l.StartsWith(b.Tps.Value));
        var cells = lines[row].Split(',');
        cells[2] = (long.Parse(cells[2]) + 1).ToString();
        var changed = await VerifyAsync(string.Join('\n', lines.Select((l, i) => i == row ? string.Join(',', cells) : l)));
        Assert.False(changed.Ok);
        Assert.Equal("export_mismatch", changed["numbers"]!.Error);
        Assert.Contains($"{b.Tps} 100025", changed["numbers"]!.Detail);
        // A row left out: the counted TPS without a row is named.
        var dropped = await VerifyAsync(string.Join('\n', lines.Where((_, i) => i != row)));
        Assert.Contains($"{b.Tps} has 1 counted forms but no row", dropped["numbers"]!.Detail);
        // A checkpoint the log never had: its root differs from what the entries hash to.
        var forged = await VerifyAsync(tpsRows.Replace(lines[1][(lines[1].IndexOf("root=") + 5)..][..64], new string('a', 64)));
        Assert.Equal(KpuEdge.Crypto.Transparency.LogErrors.RootMismatch, forged["root"]!.Error);
        // Not an export at all.
        var garbage = await VerifyAsync("kode,nama\n1,2\n");
        Assert.Equal("bad_export", garbage["export_format"]!.Error);
        Assert.Equal(1, garbage.ExitCode);
    }
}

/// <summary>A form to sign: its contest, the seed of its synthetic numbers, and a correction's reason.</summary>
public sealed record SignedSubmissionSpec(ContestId Contest, int Seed, string? CorrectionReason = null)
{
    public KpuEdge.Crypto.SignedSubmission Sign(TestDevice device) =>
        device.Signer.Sign(device.Tally(Contest, Seed), correctionReason: CorrectionReason);
}
