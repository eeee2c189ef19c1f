using System.Text.Json;
using System.Text.Json.Nodes;
using KpuEdge.Cloud.Public;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto.Transparency;
using KpuEdge.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// The public portal in Debian's Chromium, against the real cloud and its public tree: a reader drills down from the
/// nation to a TPS, and the page's own check (WebCrypto, keys pinned in the page) turns green on a genuine form and red
/// when the server serves a changed number, a changed inclusion proof or a changed checkpoint; a second, validly signed
/// log of the same size (a split view) raises the alarm.
/// </summary>
public sealed class PortalTests(CloudFixture fixture) : IClassFixture<CloudFixture>
{
    private static readonly TimeSpan ReceiptTimeout = TimeSpan.FromSeconds(30);

    private async Task<TestDevice> PublishedTpsAsync(string desa, int seed)
    {
        var device = fixture.NewDevice(CloudFixture.Tree.TpsIn(RegionCode.Parse(desa)).First());
        await using (var client = await device.ConnectAsync())
            Assert.Equal(KpuEdge.Core.Protocol.ReceiptStatus.Accepted, (await client.SubmitAsync(device.Next(ContestId.Ppwp, seed), ReceiptTimeout)).Status);
        await fixture.Cloud.BuildPublicTreeAsync();
        return device;
    }

    private static async Task<string> CheckAsync(IPage page)
    {
        await page.ClickAsync("#check-button");
        var verdict = page.Locator("[data-verdict]");
        await verdict.WaitForAsync(new() { Timeout = 30_000 });
        return (await verdict.GetAttributeAsync("data-verdict"))!;
    }

    private string TpsFilePath(TpsCode tps) => Path.Combine(fixture.Cloud.Options.PublicDirectory, PublicTreePaths.Tps(ContestId.Ppwp, tps));

    [Fact]
    public async Task A_reader_drills_down_to_a_TPS_and_the_browser_checks_it_green_then_red_when_the_server_lies()
    {
        var device = await PublishedTpsAsync("3273011001", seed: 11);
        var tps = device.Tps;
        var (playwright, browser) = await LocalChromium.LaunchAsync();
        try
        {
            var context = await browser.NewContextAsync();
            var page = await context.NewPageAsync();
            var errors = new List<string>();
            page.Console += (_, m) => { if (m.Type == "error") errors.Add(m.Text + " " + m.Location); };
            await page.GotoAsync(fixture.Cloud.ApiBase + "#/ppwp/");
            await page.Locator("text=TPS masuk").WaitForAsync();

            // nasional → JAWA BARAT → KOTA BANDUNG → its kecamatan → its desa → the TPS, by the names on the page.
            foreach (var code in new[] { "32", "3273", "327301", "3273011001", tps.Value })
            {
                var name = code.Length == 13 ? $"TPS {tps.Number:D3}" : CloudFixture.Tree.NameOf(RegionCode.Parse(code));
                await page.Locator($"#view table a[href='#/ppwp/{code}']", new() { HasText = name }).ClickAsync();
                await page.WaitForURLAsync($"**#/ppwp/{code}");
            }
            await page.Locator("#check-button").WaitForAsync();
            Assert.Contains(tps.Value, await page.InnerTextAsync("#view h2"));

            Assert.Equal("ok", await CheckAsync(page));
            var steps = await page.Locator("#check-steps li.ok").AllInnerTextsAsync();
            Assert.Contains(steps, s => s.Contains("Ed25519"));
            Assert.Contains(steps, s => s.Contains("CA KPU"));
            Assert.Contains(steps, s => s.Contains("log transparansi"));
            Assert.Empty(await page.Locator("#check-steps li.fail").AllInnerTextsAsync());

            // The server serves a changed number: the page shows it, and its check says so.
            var path = TpsFilePath(tps);
            var file = JsonNode.Parse(await File.ReadAllTextAsync(path))!;
            file["chart"]!["100025"] = file["chart"]!["100025"]!.GetValue<long>() + 1;
            File.Delete(path + ".gz");
            await File.WriteAllTextAsync(path, file.ToJsonString());
            page = await (await browser.NewContextAsync()).NewPageAsync(); // a reader who comes after the change (no cached copy)
            page.Console += (_, m) => { if (m.Type == "error") errors.Add(m.Text + " " + m.Location); };
            await page.GotoAsync($"{fixture.Cloud.ApiBase}#/ppwp/{tps}");
            await page.Locator("#check-button").WaitForAsync();
            Assert.Contains(file["chart"]!["100025"]!.GetValue<long>().ToString("N0", System.Globalization.CultureInfo.InvariantCulture).Replace(",", "."), await page.InnerTextAsync("#view .bars"));
            Assert.Equal("fail", await CheckAsync(page));
            Assert.Equal("numbers", await page.Locator("#check-steps li.fail").GetAttributeAsync("data-step"));

            // English, on the same page.
            await page.ClickAsync("#lang");
            await page.Locator("text=Check in this browser").WaitForAsync();
            Assert.Empty(errors);
        }
        finally
        {
            await browser.DisposeAsync();
            playwright.Dispose();
        }
    }

    [Fact]
    public async Task The_anomaly_page_lists_a_flagged_TPS_with_its_rule_and_leads_to_its_numbers()
    {
        var device = fixture.NewDevice(CloudFixture.Tree.TpsIn(RegionCode.Parse("3273011001")).ElementAt(1));
        var tally = device.Tally(ContestId.Ppwp, seed: 13);
        await using (var client = await device.ConnectAsync())
            Assert.Equal(KpuEdge.Core.Protocol.ReceiptStatus.Accepted, (await client.SubmitAsync(
                device.Signer.Sign(tally with { Suara = [new(1, tally.SuaraSah), new(2, 0), new(3, 0)] }), ReceiptTimeout)).Status);
        await fixture.Cloud.BuildPublicTreeAsync();

        var (playwright, browser) = await LocalChromium.LaunchAsync();
        try
        {
            var page = await browser.NewPageAsync();
            await page.GotoAsync(fixture.Cloud.ApiBase + "#/ppwp/");
            await page.ClickAsync("#flags-link");
            await page.Locator("#view a[href='#/anomali/ppwp/32']").ClickAsync();
            var row = page.Locator("#view tr", new() { HasText = device.Tps.Value });
            Assert.Contains("Semua suara sah untuk satu pilihan", await row.InnerTextAsync());
            await row.Locator("a").ClickAsync();
            await page.Locator("#view li.flag[data-rule='single_choice_all_votes']").WaitForAsync();
            Assert.Equal("ok", await CheckAsync(page)); // a flag is a reason to look, the signed numbers still check
        }
        finally
        {
            await browser.DisposeAsync();
            playwright.Dispose();
        }
    }

    [Fact]
    public async Task A_TPS_counted_from_the_plenarys_correction_checks_the_stations_signature_and_its_numbers()
    {
        var tps = CloudFixture.Tree.TpsIn(RegionCode.Parse("3273011001")).ElementAt(2);
        var device = fixture.NewDevice(tps);
        var form = device.Next(ContestId.Ppwp, seed: 14);
        await using (var client = await device.ConnectAsync())
            Assert.Equal(KpuEdge.Core.Protocol.ReceiptStatus.Accepted, (await client.SubmitAsync(form, ReceiptTimeout)).Status);
        var kecamatan = tps.Region.AncestorAt(RegionLevel.Kecamatan);
        var station = new TestStation(fixture.Pki.Pki.IssueDevice($"ppk-{kecamatan}-portal", KpuEdge.Crypto.Pki.KpuRole.Ppk, kecamatan.Value), fixture);
        var corrected = TestStation.Corrected(form.Submission.Tally, moved: 3);
        await using (var client = await station.ConnectAsync())
            Assert.Equal(KpuEdge.Core.Protocol.ReceiptStatus.Accepted, (await client.SubmitStatementAsync(
                station.Correct(new(tps, ContestId.Ppwp, form.Hash), "Pleno PPK: dihitung ulang dari C.Hasil plano", corrected), ReceiptTimeout)).Status);
        await fixture.Cloud.BuildPublicTreeAsync();

        var (playwright, browser) = await LocalChromium.LaunchAsync();
        try
        {
            var page = await browser.NewPageAsync();
            await page.GotoAsync($"{fixture.Cloud.ApiBase}#/ppwp/{tps}");
            await page.Locator("#check-button").WaitForAsync();
            Assert.Contains("koreksi PPK", await page.InnerTextAsync("#view"));
            Assert.Equal("ok", await CheckAsync(page));
            var steps = await page.Locator("#check-steps li.ok").AllInnerTextsAsync();
            Assert.Contains(steps, s => s.Contains("stasiun PPK") && s.Contains("dihitung ulang"));
            Assert.Contains(steps, s => s.Contains("Koreksi PPK tercatat"));

            // The server shows the device's first numbers instead of the counted correction's: red.
            var path = TpsFilePath(tps);
            var file = JsonNode.Parse(await File.ReadAllTextAsync(path))!;
            file["chart"]!["100025"] = form.Submission.Tally.Suara[0].Total;
            await File.WriteAllTextAsync(path, file.ToJsonString());
            page = await (await browser.NewContextAsync()).NewPageAsync();
            await page.GotoAsync($"{fixture.Cloud.ApiBase}#/ppwp/{tps}");
            await page.Locator("#check-button").WaitForAsync();
            Assert.Equal("fail", await CheckAsync(page));
            Assert.Equal("numbers", await page.Locator("#check-steps li.fail").GetAttributeAsync("data-step"));
        }
        finally
        {
            await browser.DisposeAsync();
            playwright.Dispose();
        }
    }

    [Fact]
    public async Task A_changed_proof_or_checkpoint_fails_the_check_and_a_second_log_of_the_same_size_raises_the_split_view_alarm()
    {
        var device = await PublishedTpsAsync("3273011002", seed: 12);
        var (playwright, browser) = await LocalChromium.LaunchAsync();
        try
        {
            var context = await browser.NewContextAsync();
            var page = await context.NewPageAsync();
            var url = $"{fixture.Cloud.ApiBase}#/ppwp/{device.Tps}";
            await page.GotoAsync(url);
            await page.Locator("#check-button").WaitForAsync();
            Assert.Equal("ok", await CheckAsync(page)); // this browser now remembers the genuine checkpoint

            // A changed proof: one hash of the path flipped.
            await page.RouteAsync("**/api/v1/log/proof/inclusion*", async route =>
            {
                var answer = JsonNode.Parse(await (await route.FetchAsync()).TextAsync())!;
                var proof = answer["proof"]!.AsArray();
                var first = Convert.FromBase64String(proof[0]!.GetValue<string>());
                first[0] ^= 1;
                proof[0] = Convert.ToBase64String(first);
                await route.FulfillAsync(new() { Status = 200, ContentType = "application/json", Body = answer.ToJsonString() });
            });
            await page.ReloadAsync();
            Assert.Equal("fail", await CheckAsync(page));
            Assert.Equal("inclusion", await page.Locator("#check-steps li.fail").GetAttributeAsync("data-step"));
            await page.UnrouteAllAsync();

            // A changed checkpoint: its size altered, its signature kept.
            await page.RouteAsync("**/api/v1/log/proof/inclusion*", async route =>
            {
                var answer = JsonNode.Parse(await (await route.FetchAsync()).TextAsync())!;
                var lines = answer["checkpoint"]!.GetValue<string>().Split('\n');
                lines[1] = (long.Parse(lines[1]) + 1).ToString();
                answer["checkpoint"] = string.Join('\n', lines);
                await route.FulfillAsync(new() { Status = 200, ContentType = "application/json", Body = answer.ToJsonString() });
            });
            await page.ReloadAsync();
            Assert.Equal("fail", await CheckAsync(page));
            Assert.Contains("bad signature", await page.InnerTextAsync("#check-steps li.fail"));
            await page.UnrouteAllAsync();

            // A split view: a checkpoint validly signed by the log key, of the size this browser saw, with another root.
            var seen = await page.EvaluateAsync<string>("() => Object.entries(localStorage).find(([k]) => k.startsWith('kpu.checkpoints.'))[1]");
            long size = JsonDocument.Parse(seen).RootElement.EnumerateArray().Last().GetProperty("size").GetInt64();
            var key = fixture.Cloud.Services.GetRequiredService<KpuEdge.Cloud.Transparency.LogSigningKey>();
            var forged = new CheckpointSigner(key.Key, key.Origin).Sign(size, new byte[32]);
            await page.RouteAsync("**/api/v1/log/proof/inclusion*", async route =>
            {
                var answer = JsonNode.Parse(await (await route.FetchAsync()).TextAsync())!;
                answer["checkpoint"] = forged;
                answer["tree_size"] = size;
                await route.FulfillAsync(new() { Status = 200, ContentType = "application/json", Body = answer.ToJsonString() });
            });
            await page.ReloadAsync();
            Assert.Equal("fail", await CheckAsync(page));
            Assert.Equal("split", await page.Locator("#check-steps li.fail").GetAttributeAsync("data-step"));
            Assert.Contains("split view", await page.InnerTextAsync("#check-steps li.fail"));
        }
        finally
        {
            await browser.DisposeAsync();
            playwright.Dispose();
        }
    }
}
