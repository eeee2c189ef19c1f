using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Edge.Delivery;
using KpuEdge.Edge.Device;
using KpuEdge.Edge.Screen;
using KpuEdge.Simulator.Forms;
using KpuEdge.Vision.Digits;
using KpuEdge.Vision.Forms;
using KpuEdge.Vision.Reading;
using static Microsoft.Playwright.Assertions;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// The KPPS's screen on a TPS device, against the real cloud: a photographed form (real handwritten digits the reader
/// never trained on) read, its flagged fields shown first, a wrong number blocking the sign button with the rule named,
/// each field's crop beside its value, the numbers confirmed, signed with the chair's PIN, the witness QR shown, and the delivery turning to receipted with
/// a verified proof; a second version only with its reason.
/// </summary>
public sealed class KppsScreenTests(CloudFixture fixture) : IClassFixture<CloudFixture>
{
    private const string Pin = "240214";
    private static readonly TpsCode Tps = CloudFixture.Tree.TpsIn(RegionCode.Parse("7371")).Skip(4).First(); // Kota Makassar
    private static readonly Lazy<FormScanner> Scanner = new(() => FormScanner.CreateDefault(CloudFixture.Tree, CloudFixture.Election));

    private sealed record Kpps(TestDevice Device, Outbox Outbox, DeliveryLoop Loop, KppsScreen Screen, Task Running, CancellationTokenSource Stop) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Screen.DisposeAsync();
            await Stop.CancelAsync();
            try { await Running; } catch (OperationCanceledException) { }
            await Loop.DisposeAsync();
            Outbox.Dispose();
        }
    }

    private async Task<Kpps> StartAsync()
    {
        var device = fixture.NewDevice(Tps);
        string folder = Path.Combine(fixture.DataDirectory, "kpps-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        var outbox = new Outbox(Path.Combine(folder, Outbox.FileName));
        var loop = new DeliveryLoop(outbox, device.DeviceId, fixture.Cloud.ConnectionFor(device.Credentials));
        var pin = new KppsPin(Path.Combine(folder, KppsPin.FileName), TimeProvider.System);
        pin.Set(Pin);
        var desk = new KppsDesk(device.Identity, folder, outbox, new FormSigner(device.Identity, CloudFixture.Election, CloudFixture.Ballots, TimeProvider.System),
            CloudFixture.Ballots, () => Scanner.Value, pin, loop.Wake, TimeProvider.System);
        var screen = new KppsScreen(desk, "http://127.0.0.1:0");
        await screen.StartAsync();
        var stop = new CancellationTokenSource();
        return new Kpps(device, outbox, loop, screen, loop.RunAsync(stop.Token), stop);
    }

    /// <summary>A photographed PPWP form of <see cref="Tps"/> with the first seed whose reading flags at least one field.</summary>
    private static (C1Tally Truth, byte[] Photo) FlaggedForm()
    {
        var ink = DigitSet.LoadBundled().HeldOutInk.GroupBy(d => d.Label).ToDictionary(g => g.Key, g => g.Select(d => d.InkOnPaper).ToArray());
        var layout = Scanner.Value.Pages.LayoutFor(CloudFixture.Ballots.For(ContestId.Ppwp, Tps)!);
        for (int seed = 1; seed <= 40; seed++)
        {
            var truth = SyntheticTally.ForTps(Tps, CloudFixture.Ballots, CloudFixture.Election, seed).Single(t => t.Contest == ContestId.Ppwp);
            var random = new Random(seed);
            using var form = new FormFiller((digit, r) => ink[digit][r.Next(ink[digit].Length)].Clone())
                .Fill(layout, FormRenderer.RenderAll(layout, Tps, CloudFixture.Tree), TallyFields.ToValues(truth), random);
            var photo = Photographer.PhotographJpeg(form.Pages[0], random);
            if (!Scanner.Value.Scan([photo], new ScanExpectation(Tps, ContestId.Ppwp)).AutoAccepted) return (truth, photo);
        }
        throw new InvalidOperationException("No seed up to 40 gave a form with a flagged field.");
    }

    [Fact]
    public async Task The_KPPS_corrects_a_flagged_field_is_stopped_by_a_broken_rule_signs_with_the_PIN_and_sees_the_QR_and_the_receipt()
    {
        var (truth, photo) = FlaggedForm();
        await using var kpps = await StartAsync();
        string file = Path.Combine(fixture.DataDirectory, $"c-hasil-{Guid.NewGuid():N}.jpg");
        await File.WriteAllBytesAsync(file, photo);

        var (playwright, browser) = await KpuEdge.TestSupport.LocalChromium.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        SetDefaultExpectTimeout(30_000);
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1280, Height = 800 } });
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);
        await page.GotoAsync(kpps.Screen.Address.ToString());
        await Expect(page.Locator("#title")).ToHaveTextAsync($"Perangkat KPPS — TPS {Tps}");
        await page.SelectOptionAsync("#contest", "ppwp");
        await page.SetInputFilesAsync("#photos", file);
        await page.ClickAsync("#read");
        await Expect(page.Locator("#review-title")).ToHaveTextAsync($"PPWP — TPS {Tps}");
        // The flagged fields come first, each saying why.
        await Expect(page.Locator("#fields tbody tr").First).ToHaveClassAsync("flagged");
        Assert.NotEqual("", await page.Locator("#fields tbody tr.flagged td").Nth(3).TextContentAsync());
        // Each field's crop from the straightened page stands beside its value.
        await page.WaitForFunctionAsync("() => [...document.querySelectorAll('#fields img.crop')].every(i => i.complete && i.naturalWidth > 40)");

        // A wrong number: the rule it breaks is named and the sign button stays off, PIN or not.
        var values = TallyFields.ToValues(truth);
        var sah = page.Locator("#fields input[data-key='suara_sah']");
        await sah.FillAsync((truth.SuaraSah + 7).ToString());
        await page.FillAsync("#pin", Pin);
        await Expect(page.Locator("#violations li")).Not.ToHaveCountAsync(0);
        await Expect(page.Locator("#sign")).ToBeDisabledAsync();
        // The KPPS reads the paper and types every number as written: the rules hold, the button comes on.
        foreach (var (key, value) in values)
            await page.FillAsync($"#fields input[data-key='{key}']", value.ToString());
        await Expect(page.Locator("#violations li")).ToHaveCountAsync(0);
        await Expect(page.Locator("#sign")).ToBeEnabledAsync();
        // A wrong PIN signs nothing.
        await page.FillAsync("#pin", "999999");
        await page.ClickAsync("#sign");
        await Expect(page.Locator("#sign-error")).ToContainTextAsync("PIN ketua KPPS salah");
        await page.FillAsync("#pin", Pin);
        await page.ClickAsync("#sign");
        await Expect(page.Locator("#signed-summary")).ToContainTextAsync("PPWP ditandatangani");
        await page.WaitForFunctionAsync("() => { const q = document.getElementById('qr'); return q.complete && q.naturalWidth > 100; }");

        // Delivery: the status turns to receipted once the cloud's receipt and its proof are in.
        await page.ClickAsync("#to-status");
        await Expect(page.Locator("#status-table tr[data-contest='ppwp'] td").Nth(1)).ToContainTextAsync("diterima — tercatat di log", new() { Timeout = 60_000 });
        Assert.Empty(errors);

        // What was signed is the truth the KPPS confirmed, with the photo's hash; the cloud counts it.
        var entry = Assert.Single(kpps.Outbox.All());
        var signed = KpuEdge.Crypto.SignedSubmission.Decode(entry.Wire).Submission;
        Assert.Equal(truth.ToJson(), signed.Tally.ToJson());
        Assert.False(signed.ImageHash.IsEmpty);
        await fixture.Cloud.Recap.SettleAsync();
        using var result = JsonDocument.Parse(await fixture.Http.GetStringAsync($"api/v1/results/ppwp/{Tps}"));
        Assert.Equal(truth.SuaraSah, result.RootElement.GetProperty("administrasi").GetProperty("suara_sah").GetInt32());

        // A second version of PPWP is a correction: refused without its reason, signed with it.
        using var http = new HttpClient { BaseAddress = kpps.Screen.Address };
        http.DefaultRequestHeaders.Add("X-KPPS", "1");
        var moved = truth with { Suara = [.. truth.Suara.Select((c, i) => i == 0 ? c with { Total = c.Total + 1 } : i == 1 ? c with { Total = c.Total - 1 } : c)] };
        var noReason = await http.PostAsync("api/sign", JsonContent.Create(new { tally = moved, pin = Pin }, options: KpuJson.Wire));
        Assert.Equal(HttpStatusCode.BadRequest, noReason.StatusCode);
        Assert.Contains("alasan", await noReason.Content.ReadAsStringAsync());
        var corrected = await http.PostAsync("api/sign", JsonContent.Create(new { tally = moved, pin = Pin, correction_reason = "Salah salin angka paslon 1" }, options: KpuJson.Wire));
        Assert.Equal(HttpStatusCode.OK, corrected.StatusCode);
        // No page of another site can make the device sign: without the screen's header nothing changes.
        using var foreign = new HttpClient { BaseAddress = kpps.Screen.Address };
        Assert.Equal(HttpStatusCode.Forbidden, (await foreign.PostAsync("api/sign", JsonContent.Create(new { tally = moved, pin = Pin }, options: KpuJson.Wire))).StatusCode);
    }
}
