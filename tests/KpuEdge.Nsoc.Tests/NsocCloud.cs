using KpuEdge.Cloud.Ingest;
using KpuEdge.Core.Protocol;
using KpuEdge.Crypto.Health;
using KpuEdge.Crypto.Pki;
using KpuEdge.Edge.Transport;
using KpuEdge.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;
using MQTTnet.Protocol;

namespace KpuEdge.Nsoc.Tests;

/// <summary>
/// A cloud node with its NSOC for the wall's tests: the real broker, silo and ledger in process, a real InfluxDB, rules
/// judged every second; devices that publish health reports over mutual TLS like a TPS device does.
/// </summary>
public sealed class NsocCloud : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kpu-nsoc-wall-").FullName;
    private readonly List<IMqttClient> _clients = [];
    public InfluxServer Influx { get; } = new();
    public SimulationPki Pki { get; } = SimulationPki.Create(NsocFixture.Election, seed: 91);
    public InProcessCloud Cloud { get; private set; } = null!;
    public string AdminPassword => File.ReadAllText(Path.Combine(_dir, "cloud", "nsoc-admin-password")).Trim();

    public async Task InitializeAsync()
    {
        await Influx.InitializeAsync();
        string rules = Path.Combine(_dir, "rules.json");
        await File.WriteAllTextAsync(rules, """{ "evaluate_every_seconds": 1, "fleet_every_seconds": 1 }""");
        Cloud = await InProcessCloud.StartAsync(Path.Combine(_dir, "cloud"), NsocFixture.Tree, NsocFixture.Election, pki: Pki,
            nsoc: o => { o.InfluxUrl = Influx.Server.Url; o.RulesPath = rules; });
        // The first operator's password is written once the node has started.
        await Cloud.Services.GetServices<Microsoft.Extensions.Hosting.IHostedService>().OfType<NsocPump>().Single().Ready.WaitAsync(TimeSpan.FromSeconds(30));
    }

    public async Task DisposeAsync()
    {
        foreach (var c in _clients) { try { await c.DisconnectAsync(); } catch (Exception) { } c.Dispose(); }
        await Cloud.DisposeAsync();
        await Influx.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>A registered TPS device, connected to the broker with its own certificate.</summary>
    public async Task<(DeviceCredentials Device, IMqttClient Client)> DeviceAsync(string tps, string suffix = "")
    {
        var device = Pki.Pki.IssueDevice($"dev-{tps}{suffix}", KpuRole.Tps, tps);
        Cloud.Register(device);
        var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(BrokerConnection.For(device, Cloud.BrokerHost, Cloud.BrokerPort, Pki.LogKey).ClientOptions(device.DeviceId, TimeProvider.System).Build());
        _clients.Add(client);
        return (device, client);
    }

    public static HealthReport Report(DeviceCredentials device, ulong sequence, int millivolts = 12_500, params DeviceEvent[] events) => new()
    {
        DeviceId = device.DeviceId, Sequence = sequence, DeviceTime = DateTimeOffset.UtcNow, UptimeSeconds = 3600, AppVersion = "1.0.0", ConfigVersion = "3",
        Battery = new BatteryReading(millivolts, -150, 1_875), CpuDeciCelsius = 480, DiskFreeMegabytes = 9_000, MemoryFreeMegabytes = 700,
        Outbox = new OutboxReading(0, 0, 0), ClockOffsetMilliseconds = 250, LinkRoundTripMilliseconds = 610, Reconnects = 0,
        TamperOpen = events.Any(e => e.Kind == DeviceEventKind.TamperOpened), Events = events,
    };

    /// <summary>Lines this node has written to InfluxDB so far.</summary>
    public long InfluxLines => Cloud.Services.GetRequiredService<KpuEdge.Nsoc.Telemetry.InfluxWriter>().Written;

    /// <summary>Waits, write by write, until InfluxDB holds at least <paramref name="lines"/> lines from this node.</summary>
    public async Task InfluxWrittenAsync(long lines)
    {
        var writer = Cloud.Services.GetRequiredService<KpuEdge.Nsoc.Telemetry.InfluxWriter>();
        var attempted = new SemaphoreSlim(0);
        writer.Attempted += () => attempted.Release();
        while (writer.Written < lines) Assert.True(await attempted.WaitAsync(TimeSpan.FromSeconds(30)), $"InfluxDB holds {writer.Written} lines, not {lines}");
    }

    /// <summary>Publishes a signed report and waits until the cloud's telemetry ingest has taken it.</summary>
    public async Task SendAsync(DeviceCredentials device, IMqttClient client, HealthReport report)
    {
        var ingest = Cloud.Services.GetRequiredService<TelemetryIngest>();
        var taken = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        long before = ingest.Received;
        void Done(int _) { if (ingest.Received > before) taken.TrySetResult(); }
        ingest.BatchDone += Done;
        try
        {
            await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(Topics.Telemetry(device.DeviceId))
                .WithPayload(SignedHealthReport.Sign(report, device.SigningKey).Wire).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            await taken.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }
        finally { ingest.BatchDone -= Done; }
    }
}

