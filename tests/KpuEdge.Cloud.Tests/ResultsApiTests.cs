using System.Net;
using System.Text.Json;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Edge.Device;
using KpuEdge.Edge.Transport;

namespace KpuEdge.Cloud.Tests;

/// <summary>The public API's shape (after Sirekap's JSON) and its answers to bad requests.</summary>
public sealed class ResultsApiTests(CloudFixture fixture) : IClassFixture<CloudFixture>
{
    [Theory]
    [InlineData("api/v1/results/presiden/0", HttpStatusCode.BadRequest)]
    [InlineData("api/v1/results/ppwp/3x", HttpStatusCode.BadRequest)]
    [InlineData("api/v1/results/ppwp/01", HttpStatusCode.BadRequest)]
    [InlineData("api/v1/results/ppwp/98", HttpStatusCode.NotFound)]
    [InlineData("api/v1/results/ppwp/3273011001999", HttpStatusCode.NotFound)]
    [InlineData("api/v1/results/ppwp/0", HttpStatusCode.OK)]
    [InlineData("api/v1/results/dprd-kab", HttpStatusCode.OK)]
    [InlineData("api/v1/results/ppwp/3273011001003/versions", HttpStatusCode.OK)]
    [InlineData("api/v1/results/ppwp/3273011001999/versions", HttpStatusCode.NotFound)]
    [InlineData("api/v1/results/ppwp/3273/versions", HttpStatusCode.BadRequest)]
    [InlineData("api/v1/results/presiden/3273011001003/versions", HttpStatusCode.BadRequest)]
    [InlineData("api/v1/results/ppwp/3273011001003/versions?after=-1", HttpStatusCode.BadRequest)]
    public async Task Answers_requests_with_a_clear_status(string path, HttpStatusCode expected)
    {
        var response = await fixture.Http.GetAsync(path);
        Assert.Equal(expected, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        if (expected != HttpStatusCode.OK) Assert.False(string.IsNullOrEmpty(doc.RootElement.GetProperty("error").GetString()));
    }

    [Fact]
    public async Task Publishes_a_TPS_result_with_Sirekap_fields_and_its_signed_submission()
    {
        var tps = CloudFixture.Tree.TpsIn(RegionCode.Parse("5171")).First(); // Kota Denpasar
        var device = fixture.NewDevice(tps);
        var tally = device.Tally(ContestId.Ppwp, seed: 1);
        var signed = device.Signer.Sign(tally);
        await using (var client = await device.ConnectAsync())
        {
            Assert.Equal(ReceiptStatus.Accepted, (await client.SubmitAsync(signed, TimeSpan.FromSeconds(30))).Status);
        }
        await fixture.Cloud.Recap.SettleAsync();

        using var doc = JsonDocument.Parse(await fixture.Http.GetStringAsync($"api/v1/results/ppwp/{tps}"));
        var root = doc.RootElement;
        var adm = root.GetProperty("administrasi");
        Assert.Equal(tally.SuaraSah, adm.GetProperty("suara_sah").GetInt32());
        Assert.Equal(tally.SuaraTidakSah, adm.GetProperty("suara_tidak_sah").GetInt32());
        Assert.Equal(tally.Dpt.Total, adm.GetProperty("pemilih_dpt_j").GetInt32());
        Assert.Equal(tally.PenggunaDpk.Total, adm.GetProperty("pengguna_non_dpt_j").GetInt32());
        Assert.Equal(tally.PenggunaTotal.Total, adm.GetProperty("pengguna_total_j").GetInt32());
        foreach (var choice in tally.Suara)
            Assert.Equal(choice.Total, root.GetProperty("chart").GetProperty(choice.Number.ToString()).GetInt32());
        Assert.True(root.GetProperty("status_suara").GetBoolean());
        Assert.False(string.IsNullOrEmpty(root.GetProperty("ts").GetString()));
        var submission = root.GetProperty("submission");
        Assert.Equal(signed.Hash.ToString(), submission.GetProperty("hash").GetString());
        Assert.Equal("verified", submission.GetProperty("signature").GetString());
        Assert.Equal(device.DeviceId, submission.GetProperty("device_id").GetString());

        // The desa above it: chart, a table row per TPS, progress.
        using var desa = JsonDocument.Parse(await fixture.Http.GetStringAsync($"api/v1/results/ppwp/{tps.Desa}"));
        var desaRoot = desa.RootElement;
        Assert.Equal(CloudFixture.Tree.TpsCountOf(tps.Desa), desaRoot.GetProperty("progres").GetProperty("total").GetInt32());
        Assert.True(desaRoot.GetProperty("progres").GetProperty("progres").GetInt32() >= 1);
        var row = desaRoot.GetProperty("table").GetProperty(tps.Value);
        Assert.Equal(tally.Suara[1].Total, row.GetProperty("2").GetInt32());
        Assert.Equal(CloudFixture.Tree.TpsNumbers(tps.Desa).Count, desaRoot.GetProperty("table").EnumerateObject().Count());
    }

    [Fact]
    public async Task Counts_no_DPRD_Kab_Kota_TPS_in_Jakarta_for_progress()
    {
        using var jakarta = JsonDocument.Parse(await fixture.Http.GetStringAsync("api/v1/results/dprd-kab/31"));
        Assert.Equal(0, jakarta.RootElement.GetProperty("progres").GetProperty("total").GetInt32());
        using var national = JsonDocument.Parse(await fixture.Http.GetStringAsync("api/v1/results/dprd-kab/0"));
        Assert.Equal(CloudFixture.Tree.TpsTotal - CloudFixture.Tree.TpsCountOf(RegionCode.Parse("31")),
            national.RootElement.GetProperty("progres").GetProperty("total").GetInt32());
    }
}
