using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using KpuEdge.Cloud.Ingest;
using KpuEdge.Core.Benchmarks;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto.Health;
using KpuEdge.LinkEmulator;
using KpuEdge.Nsoc;
using KpuEdge.Nsoc.Telemetry;
using KpuEdge.TestSupport;
using KpuEdge.TestSupport.LocalServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Playwright;
using MQTTnet;
using MQTTnet.Protocol;
using Spectre.Console;

namespace KpuEdge.Simulator;

/// <summary>
/// `kpu-sim bench nsoc`: the NSOC's figures on this machine — telemetry points a second into a real InfluxDB (the writer
/// alone, and devices → broker → ingest → fleet → InfluxDB), the time from a device's tamper report to its incident on
/// the wall's event stream, a device's telemetry bytes an hour over the emulated VSAT link, and the wall's page weight
/// and time to first render in Chromium.
/// </summary>
public static class NsocBench
{
    public sealed record Settings(int Devices, int ReportsPerDevice, int LatencySamples, int Seed, string Output);

    public static async Task<int> RunAsync(Settings settings, CancellationToken ct)
    {
        var console = AnsiConsole.Console;
        var tree = RegionTree.LoadEmbedded();
        var election = ElectionDefinition.Default;
        string data = Path.Combine("out", "bench-nsoc");
        if (Directory.Exists(data)) Directory.Delete(data, recursive: true);
        await using var influx = await LocalInflux.StartAsync(Path.Combine(data, "services"), ct: ct);

        // 1. The writer alone: lines a second into InfluxDB.
        var (writerLines, writerSeconds) = await WriterAloneAsync(influx.Url, 200_000, ct);
        console.MarkupLine($"InfluxDB writer alone: {writerLines:N0} lines in {writerSeconds:F1} s = [bold]{writerLines / writerSeconds:N0} points/s[/]");

        var simulation = new SimulatedElection(tree, election, settings.Seed);
        var pki = SimulationPki.Create(election, settings.Seed);
        var devices = simulation.Provision(simulation.PickTps(settings.Devices, []), pki.Pki);
        await using var cloud = await InProcessCloud.StartAsync(Path.Combine(data, "cloud"), tree, election, Microsoft.Extensions.Logging.LogLevel.Error, pki: pki,
            cancellationToken: ct, nsoc: o => { o.InfluxUrl = influx.Url; o.TelemetryBurst = Math.Max(90, settings.ReportsPerDevice + 10); });
        await cloud.RegisterAsync(devices.Select(d => d.Credentials), ct);
        var target = new SimulationTarget(cloud.BrokerHost, cloud.BrokerPort, pki.LogKey);

        // 2. End to end: every device sends its reports as fast as the broker acknowledges them.
        var ingest = cloud.Services.GetRequiredService<TelemetryIngest>();
        var writer = cloud.Services.GetRequiredService<InfluxWriter>();
        await using var fleet = new FleetTelemetry(devices, target, settings.Seed);
        await fleet.ConnectAsync(ct);
        long linesBefore = writer.Written;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < settings.ReportsPerDevice; i++) await fleet.RoundAsync(ct);
        double sentSeconds = clock.Elapsed.TotalSeconds;
        long expected = fleet.ReportsSent;
        while (ingest.Accepted + ingest.Refused + ingest.Replayed < expected && clock.Elapsed < TimeSpan.FromMinutes(10)) await Task.Delay(100, ct);
        double ingestSeconds = clock.Elapsed.TotalSeconds;
        long linesExpected = linesBefore + ingest.Accepted + fleet.EventsSent;
        while (writer.Written < linesExpected && clock.Elapsed < TimeSpan.FromMinutes(10)) await Task.Delay(100, ct);
        double influxSeconds = clock.Elapsed.TotalSeconds;
        console.MarkupLine($"End to end: {expected:N0} reports from {devices.Count:N0} devices sent in {sentSeconds:F1} s, taken in by {ingestSeconds:F1} s " +
                           $"([bold]{ingest.Accepted / ingestSeconds:N0} reports/s[/]), in InfluxDB by {influxSeconds:F1} s ({writer.Written - linesBefore:N0} points)");

        // 3. Event → wall: a tamper report published → its incident on the wall's event stream.
        var latencies = await EventToWallAsync(cloud, devices, target, settings.LatencySamples, ct);
        console.MarkupLine($"Event → wall (tamper report published → incident on the stream): p50 {Percentile(latencies, 0.5):F0} ms, p99 {Percentile(latencies, 0.99):F0} ms ({latencies.Count} events)");

        // 4. Bytes a device spends on telemetry an hour over the VSAT link.
        var vsat = await VsatBytesAsync(cloud, devices[0], pki, ct);
        console.MarkupLine($"VSAT: {vsat.PerReport:F0} bytes a report on the link (TLS, MQTT, both ways), {vsat.Wire} bytes signed CBOR; " +
                           $"[bold]{vsat.PerHour / 1024.0:F1} KiB a device an hour[/] at one report a minute with the 30 s keep-alive");

        // 5. The wall in Chromium: page weight and first render.
        var page = await PageAsync(cloud, ct);
        console.MarkupLine($"Wall page: {page.Bytes / 1024.0:F1} KiB over {page.Requests} requests (html, css, js, first API answers); first contentful paint {page.FirstPaintMs:F0} ms, " +
                           $"on an emulated 3G link (750 kbit/s, 100 ms) {page.FirstPaint3GMs:F0} ms");

        var md = new StringBuilder();
        md.AppendLine($"Measured {DateTime.UtcNow:yyyy-MM-dd} on this machine ({Environment.ProcessorCount} cores), `kpu-sim bench nsoc --devices {settings.Devices} --reports {settings.ReportsPerDevice}`: ");
        md.AppendLine("a real InfluxDB 1.6 (Debian `influxd`, TSI index, started by test support), the cloud node in process (broker, silo, SQLite), devices on their own mutual-TLS connections.");
        md.AppendLine();
        md.AppendLine("| | |");
        md.AppendLine("|---|---|");
        md.AppendLine($"| InfluxDB writer alone (batches of 5,000 lines, line protocol via InfluxDB.Client) | **{writerLines / writerSeconds:N0} points/s** ({writerLines:N0} in {writerSeconds:F1} s) |");
        md.AppendLine($"| end to end: devices → broker → ingest (decode, signature, pace) → fleet grain → InfluxDB | {expected:N0} reports from {devices.Count:N0} devices: **{ingest.Accepted / ingestSeconds:N0} reports/s** taken in, all in InfluxDB after {influxSeconds:F1} s |");
        md.AppendLine($"| the nation's fleet at one report a minute | {tree.TpsTotal / 60.0:N0} reports/s ({(ingest.Accepted / ingestSeconds >= tree.TpsTotal / 60.0 ? "within" : "beyond")} one node's rate here) |");
        md.AppendLine($"| event → wall: a tamper report published → its incident on the wall's event stream | p50 **{Percentile(latencies, 0.5):F0} ms**, p99 **{Percentile(latencies, 0.99):F0} ms** ({latencies.Count} events, one at a time) |");
        md.AppendLine($"| a health report: signed CBOR / on the VSAT link (TLS + MQTT, both ways, PUBACK included) | {vsat.Wire} bytes / {vsat.PerReport:F0} bytes |");
        md.AppendLine($"| **telemetry bytes per device per hour on VSAT** (60 reports + 120 keep-alive pings) | **{vsat.PerHour / 1024.0:F1} KiB** (TCP/IP headers not counted: ≈ 40 bytes a segment more) |");
        md.AppendLine($"| wall page weight (html, css, js and the first API answers, uncompressed) | {page.Bytes / 1024.0:F1} KiB in {page.Requests} requests |");
        md.AppendLine($"| wall first contentful paint, local / emulated 3G (750 kbit/s, 100 ms latency) | {page.FirstPaintMs:F0} ms / {page.FirstPaint3GMs:F0} ms |");
        BenchmarkFile.WriteSection(settings.Output, "nsoc", "## The NSOC: telemetry, incidents, the wall (`kpu-sim bench nsoc`)\n\n" + md);
        console.MarkupLine($"Recorded in {settings.Output}.");
        return 0;
    }

    private static async Task<(long Lines, double Seconds)> WriterAloneAsync(string url, int reports, CancellationToken ct)
    {
        var options = Options.Create(new NsocOptions { InfluxUrl = url, InfluxDatabase = "bench_writer", InfluxBufferLines = reports + 1_000 });
        using var writer = new InfluxWriter(options, null, TimeProvider.System, NullLogger<InfluxWriter>.Instance);
        await writer.StartAsync(ct);
        var at = DateTimeOffset.UtcNow.AddHours(-1);
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < reports; i++)
        {
            writer.TryAdd(HealthPoints.Lines(new HealthReport
            {
                DeviceId = $"dev-{i % 20_000:D6}", Sequence = (ulong)(i / 20_000 + 1), DeviceTime = at.AddSeconds(i / 20_000 * 60), UptimeSeconds = 3_600,
                AppVersion = "1.0.0", ConfigVersion = "1", Battery = new BatteryReading(12_400, -120, 1_488), CpuDeciCelsius = 470, DiskFreeMegabytes = 9_000,
                MemoryFreeMegabytes = 650, Outbox = new OutboxReading(0, 0, 0), ClockOffsetMilliseconds = 150, LinkRoundTripMilliseconds = 620, Reconnects = 0,
                TamperOpen = false,
            }, "32", false));
        }
        while (writer.Written < reports && clock.Elapsed < TimeSpan.FromMinutes(5)) await Task.Delay(50, ct);
        double seconds = clock.Elapsed.TotalSeconds;
        await writer.StopAsync(ct);
        return (writer.Written, seconds);
    }

    private static async Task<List<double>> EventToWallAsync(InProcessCloud cloud, IReadOnlyList<SimulatedDevice> devices, SimulationTarget target, int samples, CancellationToken ct)
    {
        var options = cloud.Services.GetRequiredService<IOptions<NsocOptions>>().Value;
        await cloud.Services.GetServices<Microsoft.Extensions.Hosting.IHostedService>().OfType<NsocPump>().Single().Ready;
        var cookies = new CookieContainer();
        using var http = new HttpClient(new HttpClientHandler { CookieContainer = cookies }) { BaseAddress = cloud.WallBase, Timeout = Timeout.InfiniteTimeSpan };
        (await http.PostAsJsonAsync("nsoc/api/login", new { name = "admin", password = (await File.ReadAllTextAsync(options.AdminPasswordFile, ct)).Trim() }, ct)).EnsureSuccessStatusCode();
        using var stream = await http.GetStreamAsync("nsoc/api/stream", ct);
        using var reader = new StreamReader(stream);
        var seen = new System.Collections.Concurrent.ConcurrentDictionary<string, long>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var listening = Task.Run(async () =>
        {
            string? kind = null;
            while (await reader.ReadLineAsync(stop.Token) is { } line)
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal)) kind = line[7..];
                else if (line.StartsWith("data: ", StringComparison.Ordinal) && kind == "incident")
                {
                    long now = Stopwatch.GetTimestamp();
                    foreach (var d in devices)
                        if (line.Contains($"\"device_id\":\"{d.Identity.DeviceId}\"", StringComparison.Ordinal)) seen.TryAdd(d.Identity.DeviceId, now);
                }
            }
        }, stop.Token);
        var latencies = new List<double>();
        var factory = new MqttClientFactory();
        foreach (var device in devices.Skip(1).Take(samples))
        {
            using var client = factory.CreateMqttClient();
            await client.ConnectAsync(target.ConnectionFor(device).ClientOptions(device.Identity.DeviceId, TimeProvider.System).Build(), ct);
            var report = new HealthReport
            {
                DeviceId = device.Identity.DeviceId, Sequence = 1_000, DeviceTime = DateTimeOffset.UtcNow, UptimeSeconds = 4_000, AppVersion = "1.0.0", ConfigVersion = "1",
                DiskFreeMegabytes = 9_000, MemoryFreeMegabytes = 650, Outbox = new OutboxReading(0, 0, 0), Reconnects = 0, TamperOpen = true,
                Events = [new DeviceEvent(DeviceEventKind.TamperOpened, DateTimeOffset.UtcNow, "sakelar casing terbuka")],
            };
            var wire = SignedHealthReport.Sign(report, device.Credentials.SigningKey).Wire;
            long sent = Stopwatch.GetTimestamp();
            await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(Topics.Telemetry(device.Identity.DeviceId)).WithPayload(wire)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build(), ct);
            var deadline = Stopwatch.GetTimestamp() + 30 * Stopwatch.Frequency;
            while (!seen.ContainsKey(device.Identity.DeviceId) && Stopwatch.GetTimestamp() < deadline) await Task.Delay(5, ct);
            if (seen.TryGetValue(device.Identity.DeviceId, out long at)) latencies.Add(Stopwatch.GetElapsedTime(sent, at).TotalMilliseconds);
            await client.DisconnectAsync(cancellationToken: ct);
        }
        await stop.CancelAsync();
        try { await listening; } catch (Exception) { /* the stream ends with the cancellation */ }
        return latencies;
    }

    private static async Task<(int Wire, double PerReport, double PerHour)> VsatBytesAsync(InProcessCloud cloud, SimulatedDevice device, SimulationPki pki, CancellationToken ct)
    {
        // The VSAT profile's latency and bandwidth, without its resets and outages: bytes of a working link.
        var profile = LinkProfileSet.LoadDefault()["vsat-3t"] with { Resets = LinkResets.None, Outages = [] };
        await using var proxy = new LinkProxy(profile, new IPEndPoint(IPAddress.Parse(cloud.BrokerHost), cloud.BrokerPort), new LinkProxyOptions { Seed = 1 });
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(Edge.Transport.BrokerConnection.For(device.Credentials, "127.0.0.1", proxy.Port, pki.LogKey)
            .ClientOptions(device.Identity.DeviceId, TimeProvider.System).Build(), ct);
        const int reports = 10;
        long before = proxy.Counters.BytesUp + proxy.Counters.BytesDown;
        int wire = 0;
        for (int i = 0; i < reports; i++)
        {
            var bytes = SignedHealthReport.Sign(new HealthReport
            {
                DeviceId = device.Identity.DeviceId, Sequence = (ulong)(2_000 + i), DeviceTime = DateTimeOffset.UtcNow, UptimeSeconds = 7_200 + i * 60, AppVersion = "1.0.0",
                ConfigVersion = "2024.02", Battery = new BatteryReading(12_380, 240, 2_971), CpuDeciCelsius = 512, DiskFreeMegabytes = 9_100, MemoryFreeMegabytes = 640,
                Outbox = new OutboxReading(1, 4, 75), ClockOffsetMilliseconds = 180, LinkRoundTripMilliseconds = 640, Reconnects = 0, TamperOpen = false,
            }, device.Credentials.SigningKey).Wire;
            wire = bytes.Length;
            await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(Topics.Telemetry(device.Identity.DeviceId)).WithPayload(bytes)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build(), ct);
        }
        double perReport = (proxy.Counters.BytesUp + proxy.Counters.BytesDown - before) / (double)reports;
        // A keep-alive ping and its answer: two MQTT bytes each, in a TLS 1.3 record (5 header + 1 type + 16 tag).
        const int pingBytes = 2 * (2 + 22);
        double perHour = 60 * perReport + 120 * pingBytes;
        await client.DisconnectAsync(cancellationToken: ct);
        return (wire, perReport, perHour);
    }

    private static async Task<(long Bytes, int Requests, double FirstPaintMs, double FirstPaint3GMs)> PageAsync(InProcessCloud cloud, CancellationToken ct)
    {
        var options = cloud.Services.GetRequiredService<IOptions<NsocOptions>>().Value;
        string password = (await File.ReadAllTextAsync(options.AdminPasswordFile, ct)).Trim();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium", Headless = true, Args = ["--no-sandbox", "--disable-dev-shm-usage"],
        });
        async Task<(long, int, double)> LoadAsync(bool throttled)
        {
            var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1920, Height = 1080 } });
            var page = await context.NewPageAsync();
            await page.GotoAsync(new Uri(cloud.WallBase, "nsoc/login").ToString());
            await page.FillAsync("#name", "admin");
            await page.FillAsync("#password", password);
            await page.ClickAsync("#submit");
            await page.WaitForSelectorAsync("#who:has-text('admin')");
            if (throttled)
            {
                var cdp = await context.NewCDPSessionAsync(page);
                await cdp.SendAsync("Network.enable");
                await cdp.SendAsync("Network.emulateNetworkConditions", new Dictionary<string, object>
                {
                    ["offline"] = false, ["latency"] = 100, ["downloadThroughput"] = 750 * 1024 / 8, ["uploadThroughput"] = 250 * 1024 / 8,
                });
            }
            long bytes = 0;
            int requests = 0;
            page.Response += async (_, response) =>
            {
                if (response.Url.Contains("/api/stream", StringComparison.Ordinal)) return;
                try { Interlocked.Add(ref bytes, (await response.BodyAsync()).Length); Interlocked.Increment(ref requests); }
                catch (PlaywrightException) { }
            };
            await page.ReloadAsync(new PageReloadOptions { WaitUntil = WaitUntilState.Load });
            await page.WaitForSelectorAsync("#p-11");
            var paint = await page.EvaluateAsync<double>("() => (performance.getEntriesByName('first-contentful-paint')[0] || { startTime: -1 }).startTime");
            await context.CloseAsync();
            return (bytes, requests, paint);
        }
        var (b, r, local) = await LoadAsync(false);
        var (_, _, slow) = await LoadAsync(true);
        return (b, r, local, slow);
    }

    private static double Percentile(List<double> values, double p)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(sorted.Length * p) - 1)];
    }
}
