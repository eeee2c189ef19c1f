using KpuEdge.Core.Regions;
using Microsoft.Extensions.DependencyInjection;
using KpuEdge.Crypto.Health;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace KpuEdge.Nsoc.Tests;

/// <summary>
/// The wall in a real browser (Debian's Chromium through Playwright, at the wall's 1920×1080): an operator logs in, sees
/// a device come online and its opened case arrive as a critical incident without reloading, acknowledges and resolves
/// it with notes, and drills down province → kab/kota → kecamatan → the device and its history from InfluxDB.
/// </summary>
public sealed class WallBrowserTests(NsocCloud nsoc) : IClassFixture<NsocCloud>
{
    private static readonly string Tps = NsocFixture.Tree.TpsIn(RegionCode.Parse("9171")).Skip(2).First().Value; // Kota Jayapura

    private static async Task<(IPlaywright, IBrowser)> BrowserAsync()
    {
        SetDefaultExpectTimeout(30_000);
        return await KpuEdge.TestSupport.LocalChromium.LaunchAsync();
    }

    [Fact]
    public async Task An_operator_sees_a_tamper_incident_arrive_live_handles_it_and_drills_down_to_the_device()
    {
        long influxBefore = nsoc.InfluxLines;
        var (device, client) = await nsoc.DeviceAsync(Tps);
        await nsoc.SendAsync(device, client, NsocCloud.Report(device, 1, millivolts: 12_300));
        await nsoc.SendAsync(device, client, NsocCloud.Report(device, 2, millivolts: 12_250));

        var (playwright, browser) = await BrowserAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1920, Height = 1080 } });
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);

        await page.GotoAsync(new Uri(nsoc.Cloud.WallBase, "nsoc/").ToString());
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/nsoc/login$"));
        await page.FillAsync("#name", "admin");
        await page.FillAsync("#password", "bukan-kata-sandinya");
        await page.ClickAsync("#submit");
        await Expect(page.Locator("#error")).ToContainTextAsync("salah");
        await page.FillAsync("#password", nsoc.AdminPassword);
        await page.ClickAsync("#submit");
        await Expect(page.Locator("#who")).ToHaveTextAsync("admin (operator)");
        await Expect(page.Locator("#live")).ToHaveTextAsync("langsung");
        // (The class's other test may have a device of its own online: counts are at least this one.)
        await Expect(page.Locator("#c-online")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^[1-9]"));
        await Expect(page.Locator("#p-91")).ToContainTextAsync(new System.Text.RegularExpressions.Regex("[1-9] on"));

        // The case opens: the incident is on the wall without a reload.
        await nsoc.SendAsync(device, client, NsocCloud.Report(device, 3, millivolts: 12_200,
            new DeviceEvent(DeviceEventKind.TamperOpened, DateTimeOffset.UtcNow, "sakelar casing terbuka")));
        var incident = page.Locator("#incidents li.critical", new PageLocatorOptions { HasText = $"Casing perangkat dibuka — {device.DeviceId}" });
        await Expect(incident).ToHaveCountAsync(1);
        await Expect(page.Locator("#c-tamper")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^[1-9]"));
        await Expect(page.Locator("#i-critical")).Not.ToHaveTextAsync("0");

        await incident.ClickAsync();
        await Expect(page.Locator("#d-title")).ToContainTextAsync(device.DeviceId);
        await page.FillAsync("#d-note", "petugas PPK menuju TPS");
        await page.ClickAsync("#d-ack");
        await Expect(page.Locator("#d-meta")).ToContainTextAsync("ditangani admin");
        await Expect(page.Locator("#d-notes")).ToContainTextAsync("petugas PPK menuju TPS");
        await Expect(page.Locator("#d-ack")).ToBeDisabledAsync();
        await page.FillAsync("#d-note", "casing disegel ulang, saksi hadir");
        await page.ClickAsync("#d-resolve");
        await Expect(page.Locator("#d-meta")).ToContainTextAsync("diselesaikan admin");
        await page.ClickAsync("#d-close");
        await Expect(incident).ToHaveCountAsync(0); // resolved ones are hidden unless asked for
        await page.CheckAsync("#show-resolved");
        await Expect(page.Locator("#incidents li.resolved", new PageLocatorOptions { HasText = device.DeviceId })).ToHaveCountAsync(1);

        // Drill down: Papua → Kota Jayapura → its kecamatan → the device, with its history from InfluxDB.
        await page.ClickAsync("#p-91");
        await Expect(page.Locator("#crumbs")).ToContainTextAsync("PAPUA");
        await page.Locator("#children td.link", new PageLocatorOptions { HasText = "9171 " }).ClickAsync();
        await page.Locator("#children td.link", new PageLocatorOptions { HasText = Tps[..6] + " " }).ClickAsync();
        await nsoc.InfluxWrittenAsync(influxBefore + 4); // three reports and the event
        var row = page.Locator("#devices td.link", new PageLocatorOptions { HasText = device.DeviceId });
        await Expect(row).ToHaveCountAsync(1);
        await row.ClickAsync();
        await Expect(page.Locator("#device-history")).ToHaveTextAsync("3 laporan dalam 6 jam terakhir (InfluxDB).");
        await Expect(page.Locator("#device-events")).ToContainTextAsync("tamper_opened: sakelar casing terbuka");

        // Forms arrive from a TPS in Papua Pegunungan: its tile's progress moves.
        var pegunungan = page.Locator("#p-95");
        await Expect(pegunungan).ToHaveAttributeAsync("title", new System.Text.RegularExpressions.Regex(": 0/"));
        var election = new KpuEdge.Simulator.SimulatedElection(NsocFixture.Tree, NsocFixture.Election, seed: 5);
        var voters = election.Provision(election.PickTps(1, ["95"]), nsoc.Pki.Pki);
        nsoc.Cloud.Register(voters[0].Credentials);
        var sent = await election.RunAsync(voters, new KpuEdge.Simulator.SimulationTarget(nsoc.Cloud.BrokerHost, nsoc.Cloud.BrokerPort, nsoc.Pki.LogKey), 1);
        Assert.Equal(sent.FormsSent, sent.Accepted);
        await Expect(pegunungan).ToHaveAttributeAsync("title", new System.Text.RegularExpressions.Regex(": 1/"));

        await page.ClickAsync("#logout");
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/nsoc/login$"));
        await page.GotoAsync(new Uri(nsoc.Cloud.WallBase, "nsoc/").ToString());
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/nsoc/login$"));
        Assert.Empty(errors);
    }

    [Fact]
    public async Task A_viewer_sees_the_incidents_but_cannot_act_on_them()
    {
        var accounts = nsoc.Cloud.Services.GetRequiredService<KpuEdge.Access.OperatorAccounts<KpuEdge.Nsoc.Incidents.NsocRole>>();
        await accounts.CreateAsync("pengamat", KpuEdge.Nsoc.Incidents.NsocRole.Viewer, "kata-sandi-pengamat", "test", null);
        var (device, client) = await nsoc.DeviceAsync(NsocFixture.Tree.TpsIn(RegionCode.Parse("3273")).Skip(9).First().Value);
        await nsoc.SendAsync(device, client, NsocCloud.Report(device, 1, 12_000,
            new DeviceEvent(DeviceEventKind.TamperOpened, DateTimeOffset.UtcNow, "sakelar casing terbuka")));

        var (playwright, browser) = await BrowserAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await browser.NewPageAsync();
        await page.GotoAsync(new Uri(nsoc.Cloud.WallBase, "nsoc/login").ToString());
        await page.FillAsync("#name", "pengamat");
        await page.FillAsync("#password", "kata-sandi-pengamat");
        await page.ClickAsync("#submit");
        await Expect(page.Locator("#who")).ToHaveTextAsync("pengamat (viewer)");
        var incident = page.Locator("#incidents li.critical", new PageLocatorOptions { HasText = device.DeviceId });
        await incident.ClickAsync();
        await Expect(page.Locator("#d-ack")).ToBeDisabledAsync();
        await Expect(page.Locator("#d-resolve")).ToBeDisabledAsync();
        await Expect(page.Locator("#d-add-note")).ToBeDisabledAsync();
        // And the API says no even if the page is bypassed.
        const string bypass = """
            async () => {
              const me = await (await fetch('/nsoc/api/me')).json();
              const r = await fetch('/nsoc/api/incidents/' + document.querySelector('#incident-dialog').dataset.id + '/ack',
                { method: 'POST', headers: { 'X-CSRF-Token': me.csrf, 'Content-Type': 'application/json' }, body: '{}' });
              return r.status;
            }
            """;
        Assert.Equal(403, await page.EvaluateAsync<int>(bypass));
    }
}
