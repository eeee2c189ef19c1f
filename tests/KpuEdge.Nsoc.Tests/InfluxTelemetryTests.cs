using KpuEdge.Crypto.Health;
using KpuEdge.Nsoc.Telemetry;
using KpuEdge.TestSupport.LocalServices;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace KpuEdge.Nsoc.Tests;

/// <summary>A private InfluxDB (Debian's influxd, data under a temp folder) for one test class.</summary>
public sealed class InfluxServer : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("kpu-influx-").FullName;
    public LocalInflux Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await LocalInflux.StartAsync(_root);

    public async Task DisposeAsync()
    {
        if (Server is not null) await Server.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }
}

/// <summary>Health reports into a real InfluxDB and back out for the drill-down, and what an InfluxDB outage costs.</summary>
public sealed class InfluxTelemetryTests(InfluxServer influx) : IClassFixture<InfluxServer>
{
    private sealed class Clients : IHttpClientFactory
    {
        public HttpClient CreateClient(string name) => new();
    }

    private NsocOptions Options(string database) => new()
    {
        InfluxUrl = influx.Server.Url, InfluxDatabase = database, InfluxBatchLines = 100, InfluxRetention = "2d",
    };

    private static HealthReport Report(string device, ulong sequence, DateTimeOffset at, params DeviceEvent[] events) => new()
    {
        DeviceId = device, Sequence = sequence, DeviceTime = at, UptimeSeconds = 600 + (long)sequence * 60, AppVersion = "1.2.0", ConfigVersion = "7",
        Battery = new BatteryReading(12_400 - (int)sequence * 10, 350, 4_340), CpuDeciCelsius = 512, DiskFreeMegabytes = 20_000, MemoryFreeMegabytes = 600,
        Outbox = new OutboxReading(2, 5, 90), ClockOffsetMilliseconds = 1_500, LinkRoundTripMilliseconds = 640, Reconnects = 1, TamperOpen = events.Length > 0,
        Events = events,
    };

    /// <summary>Waits, attempt by attempt of the writer, until <paramref name="done"/> holds (two minutes at most: its backoff reaches 30 s).</summary>
    private static async Task UntilAsync(InfluxWriter writer, Func<bool> done)
    {
        var attempts = new SemaphoreSlim(0);
        writer.Attempted += () => attempts.Release();
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (!done() && DateTime.UtcNow < deadline) await attempts.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(done());
    }

    [Fact]
    public async Task Reports_are_written_in_batches_and_read_back_as_the_devices_history_with_its_events()
    {
        var options = Microsoft.Extensions.Options.Options.Create(Options("history"));
        using var writer = new InfluxWriter(options, new Clients(), TimeProvider.System, NullLogger<InfluxWriter>.Instance);
        using var stop = new CancellationTokenSource();
        await writer.StartAsync(stop.Token);
        var now = DateTimeOffset.UtcNow.AddMinutes(-30);
        for (ulong s = 1; s <= 10; s++) writer.TryAdd(HealthPoints.Lines(Report("dev-a", s, now.AddMinutes((int)s)), "91", station: false));
        writer.TryAdd(HealthPoints.Lines(Report("dev-a", 11, now.AddMinutes(11), new DeviceEvent(DeviceEventKind.TamperOpened, now.AddMinutes(11), "case opened")), "91", false));
        writer.TryAdd(HealthPoints.Lines(Report("dev-b", 1, now), "32", false));
        await UntilAsync(writer, () => writer.Written == 13);

        var history = new InfluxHistory(options, new Clients());
        var (health, events) = await history.DeviceAsync("dev-a", 6, CancellationToken.None);
        Assert.Equal(11, health.Count);
        Assert.Equal(12_390L, health[0].Values["battery_mv"]);
        Assert.Equal(true, health[^1].Values["tamper"]);
        // Placed on the device's clock corrected by its measured offset.
        Assert.Equal(now.AddMinutes(1).AddMilliseconds(1_500).ToUnixTimeMilliseconds(), health[0].At.ToUnixTimeMilliseconds());
        var e = Assert.Single(events);
        Assert.Equal("tamper_opened", e.Values["kind"]);
        Assert.Equal("case opened", e.Values["detail"]);
        Assert.Empty((await history.DeviceAsync("dev-none", 6, CancellationToken.None)).Health);
        await Assert.ThrowsAsync<ArgumentException>(() => history.DeviceAsync("dev' OR 1=1", 6, CancellationToken.None));
        await stop.CancelAsync();
        await writer.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task While_InfluxDB_is_down_lines_wait_and_are_written_when_it_is_back()
    {
        var options = Microsoft.Extensions.Options.Options.Create(Options("outage"));
        using var writer = new InfluxWriter(options, new Clients(), TimeProvider.System, NullLogger<InfluxWriter>.Instance);
        await writer.StartAsync(CancellationToken.None);
        var now = DateTimeOffset.UtcNow.AddMinutes(-10);
        writer.TryAdd(HealthPoints.Lines(Report("dev-c", 1, now), "91", false));
        await UntilAsync(writer, () => writer.Written == 1);

        await influx.Server.StopAsync();
        try
        {
            for (ulong s = 2; s <= 50; s++) writer.TryAdd(HealthPoints.Lines(Report("dev-c", s, now.AddSeconds((int)s)), "91", false));
            await UntilAsync(writer, () => writer.Down);
            Assert.Equal(49, writer.Pending);
        }
        finally
        {
            await influx.Server.RestartAsync();
        }
        await UntilAsync(writer, () => writer.Written == 50);
        Assert.Equal(0, writer.Dropped);
        Assert.False(writer.Down);
        var (health, _) = await new InfluxHistory(options, new Clients()).DeviceAsync("dev-c", 1, CancellationToken.None);
        Assert.Equal(50, health.Count);
        await writer.StopAsync(CancellationToken.None);
    }
}
