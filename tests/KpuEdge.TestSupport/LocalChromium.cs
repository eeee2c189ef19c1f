using Microsoft.Playwright;

namespace KpuEdge.TestSupport;

/// <summary>
/// Debian's Chromium (`/usr/bin/chromium`, installed by `./kpu setup`) driven by Playwright: the browser the screens'
/// tests and benchmarks use. Playwright never downloads a browser here.
/// </summary>
public static class LocalChromium
{
    public const string ExecutablePath = "/usr/bin/chromium";

    /// <summary>A headless Chromium; dispose the browser, then the Playwright instance.</summary>
    public static async Task<(IPlaywright Playwright, IBrowser Browser)> LaunchAsync()
    {
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ExecutablePath, Headless = true, Args = ["--no-sandbox", "--disable-dev-shm-usage"],
        });
        return (playwright, browser);
    }
}
