using System.Net;
using System.Text.Json;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// Corrections through the real ingest: a newer signed version of a TPS's contest, carrying its reason, replaces the
/// earlier one in the recap, in whatever order they arrive; the history stays visible; a silent second version is refused.
/// </summary>
public sealed class CorrectionTests(ManyVersionsCloudFixture fixture) : IClassFixture<ManyVersionsCloudFixture>
{
    private static readonly TimeSpan ReceiptTimeout = TimeSpan.FromSeconds(30);

    private static TpsCode TpsAt(int index) => CloudFixture.Tree.TpsIn(RegionCode.Parse("1371")).ElementAt(index); // Kota Padang

    private async Task<JsonElement> TpsResultAsync(TpsCode tps)
    {
        await fixture.Cloud.Recap.SettleAsync();
        using var doc = JsonDocument.Parse(await fixture.Http.GetStringAsync($"api/v1/results/ppwp/{tps}"));
        return doc.RootElement.Clone();
    }

    [Fact]
    public async Task A_correction_with_its_reason_replaces_the_first_version_which_stays_in_the_history()
    {
        var device = fixture.NewDevice(TpsAt(0));
        var first = device.Signer.Sign(device.Tally(ContestId.Ppwp, seed: 1));
        var corrected = device.Signer.Sign(device.Tally(ContestId.Ppwp, seed: 2), correctionReason: "Angka pasangan 2 salah salin dari C.Hasil plano");
        await using var client = await device.ConnectAsync();
        Assert.Equal(ReceiptStatus.Accepted, (await client.SubmitAsync(first, ReceiptTimeout)).Status);
        Assert.Equal(ReceiptStatus.Accepted, (await client.SubmitAsync(corrected, ReceiptTimeout)).Status);

        var result = await TpsResultAsync(device.Tps);
        Assert.Equal(corrected.Submission.Tally.SuaraSah, result.GetProperty("administrasi").GetProperty("suara_sah").GetInt32());
        var submission = result.GetProperty("submission");
        Assert.Equal(corrected.Hash.ToString(), submission.GetProperty("hash").GetString());
        Assert.Equal("Angka pasangan 2 salah salin dari C.Hasil plano", submission.GetProperty("correction_reason").GetString());
        var versions = submission.GetProperty("versions").EnumerateArray().ToList();
        Assert.Equal([first.Hash.ToString(), corrected.Hash.ToString()], versions.Select(v => v.GetProperty("hash").GetString()));
        Assert.Equal(JsonValueKind.Null, versions[0].GetProperty("correction_reason").ValueKind);
    }

    [Fact]
    public async Task A_correction_arriving_before_the_original_still_wins_and_the_original_is_kept()
    {
        var device = fixture.NewDevice(TpsAt(1));
        var first = device.Signer.Sign(device.Tally(ContestId.Ppwp, seed: 1));
        var corrected = device.Signer.Sign(device.Tally(ContestId.Ppwp, seed: 3), correctionReason: "Koreksi setelah rapat pleno PPK");
        await using var client = await device.ConnectAsync();
        Assert.Equal(ReceiptStatus.Accepted, (await client.SubmitAsync(corrected, ReceiptTimeout)).Status);
        Assert.Equal(ReceiptStatus.Accepted, (await client.SubmitAsync(first, ReceiptTimeout)).Status);

        var result = await TpsResultAsync(device.Tps);
        Assert.Equal(corrected.Hash.ToString(), result.GetProperty("submission").GetProperty("hash").GetString());
        Assert.Equal(corrected.Submission.Tally.SuaraSah, result.GetProperty("administrasi").GetProperty("suara_sah").GetInt32());
        Assert.Equal(2, result.GetProperty("submission").GetProperty("versions").GetArrayLength());
    }

    [Fact]
    public async Task A_TPS_corrected_many_times_lists_its_newest_20_versions_and_pages_through_all_once_in_the_recaps_order()
    {
        var device = fixture.NewDevice(TpsAt(3));
        var signed = new List<SignedSubmission> { device.Signer.Sign(device.Tally(ContestId.Ppwp, seed: 1)) };
        for (int i = 2; i <= 45; i++)
            signed.Add(device.Signer.Sign(device.Tally(ContestId.Ppwp, seed: i), correctionReason: $"Koreksi ke-{i - 1}"));
        // Sent in a seeded shuffle: the recap's order (sequence) is not the ledger's (arrival).
        var random = new Random(10);
        await using (var client = await device.ConnectAsync())
        {
            foreach (var version in signed.OrderBy(_ => random.Next()))
                Assert.Equal(ReceiptStatus.Accepted, (await client.SubmitAsync(version, ReceiptTimeout)).Status);
        }

        var result = await TpsResultAsync(device.Tps);
        var submission = result.GetProperty("submission");
        Assert.Equal(signed[^1].Hash.ToString(), submission.GetProperty("hash").GetString());
        Assert.Equal(signed[^1].Submission.Tally.SuaraSah, result.GetProperty("administrasi").GetProperty("suara_sah").GetInt32());
        Assert.Equal(signed.Skip(25).Select(v => v.Hash.ToString()),
            submission.GetProperty("versions").EnumerateArray().Select(v => v.GetProperty("hash").GetString()));
        Assert.Equal(45, submission.GetProperty("versions_total").GetInt32());
        string url = submission.GetProperty("versions_url").GetString()!;
        Assert.Equal($"/api/v1/results/ppwp/{device.Tps}/versions", url);

        var paged = new List<string?>();
        int pages = 0;
        for (string? next = url + "?limit=7"; next is not null; pages++)
        {
            using var page = JsonDocument.Parse(await fixture.Http.GetStringAsync(next.TrimStart('/')));
            var versions = page.RootElement.GetProperty("versions").EnumerateArray().ToList();
            Assert.InRange(versions.Count, 1, 7);
            paged.AddRange(versions.Select(v => v.GetProperty("hash").GetString()));
            next = page.RootElement.GetProperty("next").GetString();
        }
        Assert.Equal(signed.Select(v => v.Hash.ToString()), paged);
        Assert.Equal(7, pages);
    }

    [Fact]
    public async Task Refuses_a_versions_cursor_that_is_not_a_version_of_that_TPS()
    {
        var device = fixture.NewDevice(TpsAt(4));
        var form = device.Next(ContestId.Ppwp);
        await using (var client = await device.ConnectAsync())
            Assert.Equal(ReceiptStatus.Accepted, (await client.SubmitAsync(form, ReceiptTimeout)).Status);
        long position = (await TpsResultAsync(device.Tps)).GetProperty("submission").GetProperty("ledger_position").GetInt64();

        using (var own = JsonDocument.Parse(await fixture.Http.GetStringAsync($"api/v1/results/ppwp/{device.Tps}/versions?after={position}")))
        {
            Assert.Equal(0, own.RootElement.GetProperty("versions").GetArrayLength());
            Assert.Equal(JsonValueKind.Null, own.RootElement.GetProperty("next").ValueKind);
        }
        foreach (var path in new[] { $"api/v1/results/ppwp/{TpsAt(5)}/versions?after={position}", $"api/v1/results/dpr/{device.Tps}/versions?after={position}" })
        {
            using var response = await fixture.Http.GetAsync(path);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }
    }

    [Fact]
    public async Task Refuses_a_second_version_that_does_not_say_why_and_counts_nothing_of_it()
    {
        var device = fixture.NewDevice(TpsAt(2));
        var first = device.Signer.Sign(device.Tally(ContestId.Ppwp, seed: 1));
        var silent = device.Signer.Sign(device.Tally(ContestId.Ppwp, seed: 4));
        await using var client = await device.ConnectAsync(verifyReceipts: false);
        Assert.Equal(ReceiptStatus.Accepted, (await client.SubmitAsync(first, ReceiptTimeout)).Status);
        var refused = await client.SubmitAsync(silent, ReceiptTimeout);
        Assert.Equal(ReceiptStatus.Rejected, refused.Status);
        Assert.Equal(RejectReasons.CorrectionWithoutReason, refused.Reason);

        var result = await TpsResultAsync(device.Tps);
        Assert.Equal(first.Hash.ToString(), result.GetProperty("submission").GetProperty("hash").GetString());
        Assert.Equal(1, result.GetProperty("submission").GetProperty("versions").GetArrayLength());
    }
}

/// <summary>A cloud that keeps more versions of a form than a device may make by default, to page through many of them.</summary>
public sealed class ManyVersionsCloudFixture : CloudFixture
{
    protected override void Configure(CloudOptions options)
    {
        base.Configure(options);
        options.MaxVersionsPerForm = 64;
    }
}
