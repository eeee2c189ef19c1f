using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto.Pki;
using KpuEdge.Edge.Delivery;
using KpuEdge.Edge.Relay;
using KpuEdge.Edge.Station;
using KpuEdge.Edge.Transport;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// The PPK station's screen through the real station (its relay broker, outbox and uplink) and the real cloud: TPS devices
/// deliver through the station; a PPK member logs in, verifies, records a keberatan, is stopped from signing a correction
/// that breaks a rule, signs one that keeps them, signs the D.Hasil — and the cloud counts the correction and finds the
/// D.Hasil equal to its own sum. Nobody acts without a session, a CSRF token and the operator's role.
/// </summary>
public sealed class PpkScreenTests(CloudFixture fixture) : IClassFixture<CloudFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    /// <summary>A kecamatan of Kota Pontianak (no other test of this fixture uses it).</summary>
    private static readonly IGrouping<RegionCode, TpsCode> Kecamatan = CloudFixture.Tree.TpsIn(RegionCode.Parse("6171"))
        .GroupBy(t => t.Region.AncestorAt(RegionLevel.Kecamatan)).OrderBy(g => g.Key.Value).First();

    private static readonly DeliveryOptions Fast = new()
    {
        BackoffBase = TimeSpan.FromMilliseconds(50), BackoffMax = TimeSpan.FromMilliseconds(500), ResendAfter = TimeSpan.FromSeconds(5),
        KeepAlive = TimeSpan.FromSeconds(5), ConnectTimeout = TimeSpan.FromSeconds(10), Seed = 3,
    };

    private sealed record Screen(PpkRelay Station, StationScreen Ui, HttpClient Http, string Csrf) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            Http.Dispose();
            await Ui.DisposeAsync();
            await Station.DisposeAsync();
        }
    }

    private async Task<Screen> StartAsync(string name)
    {
        string folder = Path.Combine(fixture.DataDirectory, "ppk-screen", name);
        var credentials = fixture.Pki.Pki.IssueDevice(name, KpuRole.Ppk, Kecamatan.Key.Value);
        var (server, _) = fixture.Pki.Pki.IssueService($"{name}-broker", CertificatePurpose.TlsServer);
        var station = new PpkRelay(folder, credentials, server, fixture.Cloud.ConnectionFor(credentials),
            new PpkRelayOptions { ListenAddress = IPAddress.Loopback, Port = 0, Delivery = Fast });
        await station.StartAsync();
        var ui = new StationScreen(station.Desk(CloudFixture.Election, CloudFixture.Tree), folder, "http://127.0.0.1:0");
        await ui.StartAsync();
        var http = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer() }) { BaseAddress = ui.Address };
        string password = (await File.ReadAllTextAsync(ui.AdminPasswordFile)).Trim();
        var login = await http.PostAsJsonAsync("api/login", new { name = "admin", password });
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        using var me = JsonDocument.Parse(await login.Content.ReadAsStringAsync());
        return new Screen(station, ui, http, me.RootElement.GetProperty("csrf").GetString()!);
    }

    private static async Task<HttpResponseMessage> PostAsync(Screen s, string path, object body, string? csrf = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body, options: KpuJson.Wire) };
        request.Headers.Add("X-CSRF-Token", csrf ?? s.Csrf);
        return await s.Http.SendAsync(request);
    }

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response)
    {
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.Clone();
    }

    private static async Task<string> StatusAsync(Screen s, TpsCode tps, string contest = "ppwp") =>
        (await JsonAsync(await s.Http.GetAsync($"api/forms/{tps}/{contest}"))).GetProperty("status").GetString()!;

    /// <summary>TPS devices of the kecamatan deliver their PPWP forms through the station, until the cloud's receipts are back.</summary>
    private async Task<List<(TestDevice Device, KpuEdge.Crypto.SignedSubmission Form)>> DeliverThroughAsync(PpkRelay station, int count, int skip = 0)
    {
        var sent = new List<(TestDevice, KpuEdge.Crypto.SignedSubmission)>();
        foreach (var tps in Kecamatan.Skip(skip).Take(count))
        {
            var device = fixture.NewDevice(tps);
            using var outbox = new Outbox(Path.Combine(fixture.DataDirectory, "ppk-screen", "dev-" + Guid.NewGuid().ToString("N")[..8], Outbox.FileName));
            var form = outbox.SignAndAdd(device.Signer, device.Tally(ContestId.Ppwp, seed: 20 + sent.Count));
            await using (var loop = new DeliveryLoop(outbox, device.DeviceId, BrokerConnection.For(device.Credentials, "127.0.0.1", station.Port, fixture.Pki.LogKey), Fast))
                Assert.True(await loop.RunUntilSettledAsync(Patience), $"not settled: {outbox.Status()}");
            sent.Add((device, form));
        }
        return sent;
    }

    private static async Task SettledAsync(PpkRelay station)
    {
        var deadline = DateTimeOffset.UtcNow + Patience;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Look(OutboxStatus status) { if (status.AllSettled) done.TrySetResult(); }
        station.StatusChanged += Look;
        try
        {
            Look(station.Outbox.Status());
            await done.Task.WaitAsync(Patience);
        }
        finally { station.StatusChanged -= Look; }
    }

    [Fact]
    public async Task A_PPK_member_verifies_objects_corrects_and_signs_the_D_Hasil_on_the_screen_and_the_cloud_counts_and_checks_it()
    {
        await using var s = await StartAsync("ppk-screen-a");
        var forms = await DeliverThroughAsync(s.Station, 3);
        var (first, second, third) = (forms[0], forms[1], forms[2]);

        var list = await JsonAsync(await s.Http.GetAsync("api/forms"));
        Assert.Equal(Kecamatan.Key.Value, list.GetProperty("kecamatan").GetString());
        var ppwp = list.GetProperty("forms").EnumerateArray().Where(f => f.GetProperty("contest").GetString() == "ppwp")
            .ToDictionary(f => f.GetProperty("tps").GetString()!, f => f.GetProperty("status").GetString());
        Assert.Equal("received", ppwp[first.Device.Tps.Value]);
        Assert.Equal("not_received", ppwp[Kecamatan.ElementAt(3).Value]);

        var detail = await JsonAsync(await s.Http.GetAsync($"api/forms/{first.Device.Tps}/ppwp"));
        Assert.Equal(first.Form.Hash.ToString(), detail.GetProperty("device").GetProperty("hash").GetString());
        Assert.Equal("verified_by_cloud", detail.GetProperty("device").GetProperty("signature").GetString());
        Assert.Empty(detail.GetProperty("rules").EnumerateArray());

        Assert.Equal(HttpStatusCode.OK, (await PostAsync(s, $"api/forms/{first.Device.Tps}/ppwp/verify", new { })).StatusCode);
        Assert.Equal("verified", await StatusAsync(s, first.Device.Tps));
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(s, $"api/forms/{second.Device.Tps}/ppwp/objection",
            new { objector = "Saksi Paslon 03", text = "Angka paslon 1 di plano berbeda." })).StatusCode);
        Assert.Equal("objection", await StatusAsync(s, second.Device.Tps));

        // A correction that breaks a rule is not signed: the fields are named; one without a reason neither.
        var tally = second.Form.Submission.Tally;
        var broken = tally with { SuaraSah = tally.SuaraSah + 3 };
        var refused = await PostAsync(s, $"api/forms/{second.Device.Tps}/ppwp/correction", new { reason = "pleno", tally = broken });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
        Assert.NotEmpty((await JsonAsync(refused)).GetProperty("violations").EnumerateArray());
        var check = await JsonAsync(await PostAsync(s, "api/check", new { tally = broken }));
        Assert.NotEmpty(check.GetProperty("violations").EnumerateArray());
        var moved = tally with { Suara = [.. tally.Suara.Select((c, i) => i == 0 ? c with { Total = c.Total + 4 } : i == 1 ? c with { Total = c.Total - 4 } : c)] };
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(s, $"api/forms/{second.Device.Tps}/ppwp/correction", new { reason = " ", tally = moved })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(s, $"api/forms/{second.Device.Tps}/ppwp/correction",
            new { reason = "Pleno PPK: salah salin, dihitung ulang dari plano", tally = moved })).StatusCode);
        Assert.Equal("corrected", await StatusAsync(s, second.Device.Tps));
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(s, $"api/forms/{third.Device.Tps}/ppwp/verify", new { })).StatusCode);

        var preview = await JsonAsync(await s.Http.GetAsync("api/dhasil/ppwp"));
        Assert.Equal(3, preview.GetProperty("included").GetArrayLength());
        Assert.Equal(first.Form.Submission.Tally.SuaraSah + moved.SuaraSah + third.Form.Submission.Tally.SuaraSah,
            preview.GetProperty("totals").GetProperty("suara_sah").GetInt32());
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(s, "api/dhasil/ppwp", new { })).StatusCode);

        // Every statement reaches the cloud with its proof checked; the D.Hasil agrees with the cloud's own sum.
        await SettledAsync(s.Station);
        var statements = (await JsonAsync(await s.Http.GetAsync("api/statements"))).GetProperty("statements").EnumerateArray().ToList();
        Assert.Equal(["verification", "objection", "correction", "verification", "dhasil"], statements.Select(x => x.GetProperty("kind").GetString()));
        Assert.All(statements, x => Assert.Equal("receipted", x.GetProperty("delivery").GetString()));
        Assert.True(statements[^1].GetProperty("finding").GetProperty("agrees").GetBoolean());
        await fixture.Cloud.Recap.SettleAsync();
        using var cloud = JsonDocument.Parse(await fixture.Http.GetStringAsync($"api/v1/results/ppwp/{second.Device.Tps}"));
        Assert.Equal("ppk", cloud.RootElement.GetProperty("counted_by").GetString());
        Assert.Equal(moved.Suara[0].Total, cloud.RootElement.GetProperty("chart").GetProperty("1").GetInt32());
    }

    [Fact]
    public async Task In_a_browser_a_PPK_member_verifies_records_a_keberatan_cannot_sign_a_correction_until_every_rule_holds_and_signs_a_D_Hasil_kpu_verify_accepts()
    {
        await using var s = await StartAsync("ppk-screen-c");
        var forms = await DeliverThroughAsync(s.Station, 2, skip: 8);
        var (first, second) = (forms[0], forms[1]);
        var (playwright, browser) = await KpuEdge.TestSupport.LocalChromium.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        Microsoft.Playwright.Assertions.SetDefaultExpectTimeout(30_000);
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1280, Height = 900 } });
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);

        await page.GotoAsync(s.Ui.Address.ToString());
        await Microsoft.Playwright.Assertions.Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/ppk/login$"));
        await page.FillAsync("#name", "admin");
        await page.FillAsync("#password", (await File.ReadAllTextAsync(s.Ui.AdminPasswordFile)).Trim());
        await page.ClickAsync("#submit");
        await Microsoft.Playwright.Assertions.Expect(page.Locator("#who")).ToHaveTextAsync("admin (anggota PPK)");
        await page.SelectOptionAsync("#contest-filter", "ppwp");

        // Verify the first TPS from its row.
        await page.ClickAsync($"#form-table tr[data-tps='{first.Device.Tps}'][data-contest='ppwp']");
        await Microsoft.Playwright.Assertions.Expect(page.Locator("#detail-title")).ToHaveTextAsync($"PPWP — TPS {first.Device.Tps}");
        await Microsoft.Playwright.Assertions.Expect(page.Locator("#signature")).ToContainTextAsync("diperiksa cloud");
        await page.ClickAsync("#verify");
        await Microsoft.Playwright.Assertions.Expect(page.Locator("#detail-status")).ToContainTextAsync("terverifikasi");

        // The second: a correction typed with a broken rule names the fields and cannot be signed; mended, it can.
        await page.ClickAsync("#back");
        await page.ClickAsync($"#form-table tr[data-tps='{second.Device.Tps}'][data-contest='ppwp']");
        await page.ClickAsync("#objection-box summary");
        await page.FillAsync("#objector", "Saksi Paslon 02");
        await page.FillAsync("#objection-text", "Angka paslon 1 dan 2 tertukar dengan C.Hasil plano.");
        await page.ClickAsync("#object");
        await Microsoft.Playwright.Assertions.Expect(page.Locator("#detail-status")).ToContainTextAsync("ada keberatan");
        await Microsoft.Playwright.Assertions.Expect(page.Locator("#form-statements li")).ToContainTextAsync("Saksi Paslon 02");
        await page.ClickAsync("#correction-box summary");
        var tally = second.Form.Submission.Tally;
        await page.FillAsync("#editor input[data-field='suara.1']", (tally.Suara[0].Total + 6).ToString());
        await Microsoft.Playwright.Assertions.Expect(page.Locator("#violations li")).Not.ToHaveCountAsync(0);
        await Microsoft.Playwright.Assertions.Expect(page.Locator("#correct")).ToBeDisabledAsync();
        await page.FillAsync("#editor input[data-field='suara.2']", (tally.Suara[1].Total - 6).ToString());
        await Microsoft.Playwright.Assertions.Expect(page.Locator("#violations li")).ToHaveCountAsync(0);
        await page.FillAsync("#reason", "Pleno PPK: salah salin dari C.Hasil plano");
        await Microsoft.Playwright.Assertions.Expect(page.Locator("#correct")).ToBeEnabledAsync();
        await page.ClickAsync("#correct");
        await Microsoft.Playwright.Assertions.Expect(page.Locator("#detail-status")).ToContainTextAsync("dikoreksi PPK");
        await Microsoft.Playwright.Assertions.Expect(page.Locator("#numbers")).ToContainTextAsync((tally.Suara[0].Total + 6).ToString());

        // The D.Hasil of both, signed on its tab; once delivered, the cloud's finding shows.
        await page.ClickAsync("nav button[data-tab='dhasil']");
        await Microsoft.Playwright.Assertions.Expect(page.Locator("#dhasil-summary")).ToContainTextAsync("2 formulir");
        await page.ClickAsync("#sign-dhasil");
        await Microsoft.Playwright.Assertions.Expect(page.Locator("#dhasil-signed li")).ToHaveCountAsync(1);
        await SettledAsync(s.Station);
        await page.SelectOptionAsync("#dhasil-contest", "dpr");
        await page.SelectOptionAsync("#dhasil-contest", "ppwp");
        await Microsoft.Playwright.Assertions.Expect(page.Locator("#dhasil-signed li .agrees")).ToHaveCountAsync(1);
        Assert.Empty(errors);

        // The cloud counts the PPK's version and shows the device's beside it; kpu-verify checks the D.Hasil from the log.
        await fixture.Cloud.Recap.SettleAsync();
        using var result = JsonDocument.Parse(await fixture.Http.GetStringAsync($"api/v1/results/ppwp/{second.Device.Tps}"));
        Assert.Equal("ppk", result.RootElement.GetProperty("counted_by").GetString());
        Assert.Equal(second.Form.Hash.ToString(), result.RootElement.GetProperty("submission").GetProperty("hash").GetString());
        var dhasil = s.Station.Outbox.Statements().Last();
        var report = await new KpuEdge.Verify.Verifier(fixture.Http).VerifyDhasilAsync(fixture.Http.BaseAddress!, fixture.Pki.LogKey,
            new KpuEdge.Verify.TrustAnchors(fixture.Pki.Pki.Root.Certificate.ToPem(), fixture.Pki.Pki.Issuing.Certificate.ToPem()), dhasil.Hash);
        Assert.True(report.Ok, string.Join("\n", report.Checks.Select(c => $"{c.Name} {c.Status} {c.Detail}")));
    }

    [Fact]
    public async Task Nothing_answers_without_a_session_nothing_changes_without_the_CSRF_token_and_a_viewer_cannot_act()
    {
        await using var s = await StartAsync("ppk-screen-b");
        var tps = Kecamatan.ElementAt(5);
        using var anonymous = new HttpClient { BaseAddress = s.Ui.Address };
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("api/forms")).StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = s.Ui.Address }.GetAsync("")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await PostAsync(s, $"api/forms/{tps}/ppwp/verify", new { }, csrf: "wrong")).StatusCode);
        // Nothing received for that TPS yet: nothing to verify, said plainly.
        var nothing = await PostAsync(s, $"api/forms/{tps}/ppwp/verify", new { });
        Assert.Equal(HttpStatusCode.BadRequest, nothing.StatusCode);
        Assert.Contains("belum diterima", (await JsonAsync(nothing)).GetProperty("error").GetString());
        // Another kecamatan's TPS, an unknown contest, a malformed code.
        Assert.Equal(HttpStatusCode.BadRequest, (await s.Http.GetAsync("api/forms/1101012001001/ppwp")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await s.Http.GetAsync($"api/forms/{tps}/presiden")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await s.Http.GetAsync("api/forms/12345/ppwp")).StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await PostAsync(s, "api/accounts", new { name = "saksi1", password = "kata-sandi-panjang-1", role = "viewer" })).StatusCode);
        using var viewer = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer() }) { BaseAddress = s.Ui.Address };
        var login = await viewer.PostAsJsonAsync("api/login", new { name = "saksi1", password = "kata-sandi-panjang-1" });
        string csrf = (await JsonAsync(login)).GetProperty("csrf").GetString()!;
        Assert.Equal(HttpStatusCode.OK, (await viewer.GetAsync("api/forms")).StatusCode);
        var act = new HttpRequestMessage(HttpMethod.Post, "api/dhasil/ppwp") { Content = JsonContent.Create(new { }) };
        act.Headers.Add("X-CSRF-Token", csrf);
        Assert.Equal(HttpStatusCode.Forbidden, (await viewer.SendAsync(act)).StatusCode);
    }
}
