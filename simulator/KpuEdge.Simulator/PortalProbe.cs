using System.Text.Json;
using KpuEdge.TestSupport;
using Microsoft.Playwright;

namespace KpuEdge.Simulator;

/// <summary>
/// The public portal as a reader on a cheap phone over 3G sees it: Debian's Chromium with Chrome DevTools' "3G" network
/// profile (562.5 ms latency, 1.44 Mbit/s down, 675 kbit/s up) and the CPU slowed four times, each page opened cold (no
/// cache): bytes transferred, first contentful paint, and when the numbers are on screen; on a TPS page, how long the
/// browser's own check takes.
/// </summary>
public static class PortalProbe
{
    public sealed record Page(string What, long Bytes, double FirstPaintMs, double ReadyMs);

    public sealed record Figures(IReadOnlyList<Page> Pages, double CheckMs, string CheckVerdict);

    public static async Task<Figures> MeasureAsync(Uri site, string tps, CancellationToken cancellationToken)
    {
        var (playwright, browser) = await LocalChromium.LaunchAsync();
        try
        {
            var pages = new List<Page>
            {
                await OpenAsync(browser, site, "#/ppwp/", "text=TPS masuk", "nasional"),
                await OpenAsync(browser, site, $"#/ppwp/{tps[..4]}", "text=TPS masuk", "kab/kota"),
                await OpenAsync(browser, site, $"#/ppwp/{tps}", "#check-button", "TPS"),
            };
            // The check on the TPS page, over the same 3G link.
            var (context, page) = await ThrottledAsync(browser);
            await page.GotoAsync(new Uri(site, $"#/ppwp/{tps}").ToString());
            await page.Locator("#check-button").WaitForAsync();
            double before = await page.EvaluateAsync<double>("() => performance.now()");
            await page.ClickAsync("#check-button");
            var verdict = page.Locator("[data-verdict]");
            await verdict.WaitForAsync(new() { Timeout = 120_000 });
            double after = await page.EvaluateAsync<double>("() => performance.now()");
            string result = await verdict.GetAttributeAsync("data-verdict") ?? "";
            await context.DisposeAsync();
            return new Figures(pages, after - before, result);
        }
        finally
        {
            await browser.DisposeAsync();
            playwright.Dispose();
        }
    }

    private static async Task<(IBrowserContext, IPage)> ThrottledAsync(IBrowser browser)
    {
        var context = await browser.NewContextAsync(new() { ViewportSize = new() { Width = 412, Height = 846 } });
        var page = await context.NewPageAsync();
        var cdp = await context.NewCDPSessionAsync(page);
        await cdp.SendAsync("Network.enable");
        await cdp.SendAsync("Network.emulateNetworkConditions", new Dictionary<string, object>
        {
            ["offline"] = false, ["latency"] = 562.5, ["downloadThroughput"] = 180_000, ["uploadThroughput"] = 84_375,
        });
        await cdp.SendAsync("Emulation.setCPUThrottlingRate", new Dictionary<string, object> { ["rate"] = 4 });
        return (context, page);
    }

    private static async Task<Page> OpenAsync(IBrowser browser, Uri site, string fragment, string ready, string what)
    {
        var (context, page) = await ThrottledAsync(browser);
        try
        {
            await page.GotoAsync(new Uri(site, fragment).ToString(), new() { Timeout = 120_000 });
            await page.Locator(ready).First.WaitForAsync(new() { Timeout = 120_000 });
            double readyMs = await page.EvaluateAsync<double>("() => performance.now()");
            var figures = await page.EvaluateAsync<JsonElement>("""
                () => {
                  const nav = performance.getEntriesByType('navigation')[0];
                  const resources = performance.getEntriesByType('resource');
                  const paint = performance.getEntriesByName('first-contentful-paint')[0];
                  return { bytes: nav.transferSize + resources.reduce((s, r) => s + r.transferSize, 0), paint: paint ? paint.startTime : -1 };
                }
                """);
            return new Page(what, figures.GetProperty("bytes").GetInt64(), figures.GetProperty("paint").GetDouble(), readyMs);
        }
        finally
        {
            await context.DisposeAsync();
        }
    }
}
