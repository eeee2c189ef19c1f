using System.Security.Cryptography;
using KpuEdge.Cloud.Ingest;
using KpuEdge.Cloud.Security;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Security;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Health;
using KpuEdge.Crypto.Pki;
using KpuEdge.Edge.Transport;
using KpuEdge.Nsoc.Fleet;
using KpuEdge.Nsoc.Incidents;
using KpuEdge.Nsoc.Rules;
using KpuEdge.Nsoc.Telemetry;
using KpuEdge.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;
using MQTTnet.Protocol;

namespace KpuEdge.Nsoc.Tests;

/// <summary>
/// Health reports from real devices over the real broker into the cloud: judged by the fleet grain, written to a real
/// InfluxDB, their events into the ledger and the incidents; and every kind of bad report refused, counting nothing,
/// with the cloud still taking reports afterwards.
/// </summary>
public sealed class TelemetryThroughTheCloudTests(InfluxServer influx) : IClassFixture<InfluxServer>, IAsyncLifetime
{
    private static readonly TpsCode Tps = NsocFixture.Tree.TpsIn(RegionCode.Parse("9171")).Skip(5).First(); // Kota Jayapura
    private readonly string _dir = Directory.CreateTempSubdirectory("kpu-nsoc-telemetry-").FullName;
    private readonly SimulationPki _pki = SimulationPki.Create(NsocFixture.Election, seed: 77);
    private InProcessCloud _cloud = null!;
    private DeviceCredentials _device = null!, _other = null!;
    private readonly List<IMqttClient> _clients = [];

    public async Task InitializeAsync()
    {
        _cloud = await InProcessCloud.StartAsync(Path.Combine(_dir, "cloud"), NsocFixture.Tree, NsocFixture.Election, pki: _pki,
            nsoc: o => { o.InfluxUrl = influx.Server.Url; o.InfluxDatabase = "e2e"; });
        _device = _pki.Pki.IssueDevice($"dev-{Tps}", KpuRole.Tps, Tps.Value);
        _other = _pki.Pki.IssueDevice($"dev-{Tps}-b", KpuRole.Tps, NsocFixture.Tree.TpsIn(RegionCode.Parse("9171")).Skip(6).First().Value);
        _cloud.Register(_device);
        _cloud.Register(_other);
    }

    public async Task DisposeAsync()
    {
        foreach (var c in _clients) { try { await c.DisconnectAsync(); } catch (Exception) { } c.Dispose(); }
        await _cloud.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<IMqttClient> ConnectAsync(DeviceCredentials device)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var options = BrokerConnection.For(device, _cloud.BrokerHost, _cloud.BrokerPort, _pki.LogKey).ClientOptions(device.DeviceId, TimeProvider.System).Build();
        await client.ConnectAsync(options);
        _clients.Add(client);
        return client;
    }

    private static HealthReport Report(DeviceCredentials device, ulong sequence, bool tamper = false, params DeviceEvent[] events) => new()
    {
        DeviceId = device.DeviceId, Sequence = sequence, DeviceTime = DateTimeOffset.UtcNow, UptimeSeconds = 3600, AppVersion = "1.0.0", ConfigVersion = "3",
        Battery = new BatteryReading(12_500, -150, 1_875), CpuDeciCelsius = 480, DiskFreeMegabytes = 9_000, MemoryFreeMegabytes = 700,
        Outbox = new OutboxReading(0, 0, 0), ClockOffsetMilliseconds = 250, LinkRoundTripMilliseconds = 610, Reconnects = 0, TamperOpen = tamper, Events = events,
    };

    /// <summary>Publishes with QoS 1; answers the broker's reason code. Waits until the cloud's telemetry ingest has taken it.</summary>
    private async Task<MqttClientPublishReasonCode> PublishAsync(IMqttClient client, string topic, byte[] payload, bool expectIngest = true)
    {
        var ingest = _cloud.Services.GetRequiredService<TelemetryIngest>();
        var taken = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        long before = ingest.Received;
        void Done(int _) { if (ingest.Received > before) taken.TrySetResult(); }
        ingest.BatchDone += Done;
        try
        {
            var result = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            if (expectIngest) await taken.Task.WaitAsync(TimeSpan.FromSeconds(30));
            return result.ReasonCode;
        }
        finally { ingest.BatchDone -= Done; }
    }

    private Task<SecurityEvent> EventAsync(Func<SecurityEvent, bool> match) =>
        _cloud.Services.GetRequiredService<SecurityEventRecorder>().RecordedAsync(match).WaitAsync(TimeSpan.FromSeconds(30));

    private Task<DeviceRow?> FleetRowAsync(DeviceCredentials device) =>
        _cloud.Services.GetRequiredService<IGrainFactory>().GetGrain<IFleetGrain>(Tps.Value[..2])
            .Device(device.DeviceId, DateTimeOffset.UtcNow, FleetBounds.From(NsocRules.Default()));

    [Fact]
    public async Task A_report_reaches_the_fleet_and_InfluxDB_and_an_opened_case_is_a_critical_incident_at_once()
    {
        var client = await ConnectAsync(_device);
        Assert.Equal(MqttClientPublishReasonCode.Success,
            await PublishAsync(client, Topics.Telemetry(_device.DeviceId), SignedHealthReport.Sign(Report(_device, 1), _device.SigningKey).Wire));
        var ingest = _cloud.Services.GetRequiredService<TelemetryIngest>();
        var seen = await _cloud.Services.GetRequiredService<KpuEdge.Cloud.Ledger.IAuditTrail>().SecurityEventsAsync(0, 100);
        Assert.True(ingest.Accepted == 1, $"accepted {ingest.Accepted} refused {ingest.Refused}: " + string.Join("\n", seen.Select(e => e.ToJson())));
        var row = await FleetRowAsync(_device);
        Assert.NotNull(row);
        Assert.Equal(Tps.Value, row.Tps);
        Assert.Equal(12_500, row.BatteryMillivolts);
        Assert.Equal("online", row.State);

        var opened = new DeviceEvent(DeviceEventKind.TamperOpened, DateTimeOffset.UtcNow, "sakelar casing terbuka");
        await PublishAsync(client, Topics.Telemetry(_device.DeviceId), SignedHealthReport.Sign(Report(_device, 2, tamper: true, opened), _device.SigningKey).Wire);

        // The incident is filed before the batch is acknowledged: no waiting for the rules engine's tick.
        var store = _cloud.Services.GetRequiredService<IncidentStore>();
        var incident = Assert.Single(await store.ListAsync(false, 100), i => i.Rule == RuleCodes.Tamper);
        Assert.Equal(SecuritySeverity.Critical, incident.Severity);
        Assert.Equal(_device.DeviceId, incident.DeviceId);
        Assert.Equal(Tps.Value, incident.Region);
        var recorded = await EventAsync(e => e.Kind == DeviceEventKindsInLedger.Tamper && e.DeviceId == _device.DeviceId);
        Assert.Equal(SecuritySeverity.Critical, recorded.Severity);
        Assert.Equal("2", recorded.Evidence?.GetValueOrDefault("report_sequence"));

        // InfluxDB has both reports and the event, by the time the writer's next batch is through.
        var writer = _cloud.Services.GetRequiredService<InfluxWriter>();
        var attempted = new SemaphoreSlim(0);
        writer.Attempted += () => attempted.Release();
        while (writer.Written < 3) Assert.True(await attempted.WaitAsync(TimeSpan.FromSeconds(30)));
        var (health, events) = await _cloud.Services.GetRequiredService<InfluxHistory>().DeviceAsync(_device.DeviceId, 1, CancellationToken.None);
        Assert.Equal(2, health.Count);
        Assert.Single(events);
    }

    [Fact]
    public async Task Bad_reports_are_refused_each_with_its_reason_count_nothing_and_leave_the_ingest_running()
    {
        var client = await ConnectAsync(_device);
        var ingest = _cloud.Services.GetRequiredService<TelemetryIngest>();
        string topic = Topics.Telemetry(_device.DeviceId);

        // Unreadable.
        await PublishAsync(client, topic, [0x82, 0x41, 0x00, 0xff]);
        await EventAsync(e => e.Kind == DeviceEventKindsInLedger.TelemetryRefused && e.Evidence?.GetValueOrDefault("reason") == "malformed");
        // Oversized.
        await PublishAsync(client, topic, RandomNumberGenerator.GetBytes(HealthCodec.MaxWireBytes + 1));
        await EventAsync(e => e.Kind == DeviceEventKindsInLedger.TelemetryRefused && e.Evidence?.GetValueOrDefault("reason") == "oversized");
        // Forged: signed with a key that is not the device's registered one.
        var forger = _pki.Pki.IssueDevice("dev-forger", KpuRole.Tps, Tps.Value);
        await PublishAsync(client, topic, SignedHealthReport.Sign(Report(_device, 7), forger.SigningKey).Wire);
        var forged = await EventAsync(e => e.Kind == DeviceEventKindsInLedger.TelemetryRefused && e.Evidence?.GetValueOrDefault("reason") == "bad_signature");
        Assert.Equal(SecuritySeverity.Warning, forged.Severity);
        // Absurd values, signed by the device itself: a 40 V battery on a 12 V bus (12,500 mV's CBOR replaced in place).
        var body = HealthCodec.EncodeBody(Report(_device, 8));
        int at = IndexOf(body, [0x19, 0x30, 0xD4]);
        Assert.True(at > 0);
        body[at + 1] = 0x9C;
        body[at + 2] = 0x40;
        await PublishAsync(client, topic, HealthCodec.EncodeWire(body, _device.SigningKey.Sign(HealthCodec.SignedMessage(body))));
        var absurd = await EventAsync(e => e.Kind == DeviceEventKindsInLedger.TelemetryRefused && e.Detail.Contains("40000"));
        Assert.Equal("malformed", absurd.Evidence?.GetValueOrDefault("reason"));
        // Misaddressed: the report names another device than the topic.
        await PublishAsync(client, topic, SignedHealthReport.Sign(Report(_other, 1), _other.SigningKey).Wire);
        await EventAsync(e => e.Kind == DeviceEventKindsInLedger.TelemetryRefused && e.Evidence?.GetValueOrDefault("reason") == "device_mismatch");
        // Another device's topic: the broker's ACL refuses it before the cloud reads it.
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized,
            await PublishAsync(client, Topics.Telemetry(_other.DeviceId), SignedHealthReport.Sign(Report(_other, 1), _other.SigningKey).Wire, expectIngest: false));
        await EventAsync(e => e.Kind == SecurityEventKinds.AclPublishDenied && e.Subject == _device.DeviceId);

        Assert.Equal(5, ingest.Refused);
        Assert.Equal(0, ingest.Accepted);
        Assert.Null(await FleetRowAsync(_device));
        Assert.Null(await FleetRowAsync(_other));

        // Genuine, then the very same bytes again (a resend after a lost acknowledgement, or a replay): counted once.
        var genuine = SignedHealthReport.Sign(Report(_device, 1), _device.SigningKey).Wire;
        await PublishAsync(client, topic, genuine);
        await PublishAsync(client, topic, genuine);
        Assert.Equal(1, ingest.Accepted);
        Assert.Equal(1, ingest.Replayed);
        await EventAsync(e => e.Kind == DeviceEventKindsInLedger.TelemetryReplayed && e.DeviceId == _device.DeviceId);
        Assert.NotNull(await FleetRowAsync(_device));
    }

    [Fact]
    public async Task With_InfluxDB_down_forms_are_still_counted_and_a_tamper_report_still_files_its_event_and_incident()
    {
        var client = await ConnectAsync(_device);
        var writer = _cloud.Services.GetRequiredService<InfluxWriter>();
        await influx.Server.StopAsync();
        try
        {
            var opened = new DeviceEvent(DeviceEventKind.TamperOpened, DateTimeOffset.UtcNow, "sakelar casing terbuka");
            await PublishAsync(client, Topics.Telemetry(_device.DeviceId), SignedHealthReport.Sign(Report(_device, 1, tamper: true, opened), _device.SigningKey).Wire);
            await EventAsync(e => e.Kind == DeviceEventKindsInLedger.Tamper && e.DeviceId == _device.DeviceId);
            Assert.Contains(await _cloud.Services.GetRequiredService<IncidentStore>().ListAsync(false, 100), i => i.Rule == RuleCodes.Tamper && i.DeviceId == _device.DeviceId);

            // A TPS's forms go through as ever.
            var election = new KpuEdge.Simulator.SimulatedElection(NsocFixture.Tree, NsocFixture.Election, seed: 3);
            var voters = election.Provision(election.PickTps(1, ["91"]), _pki.Pki);
            _cloud.Register(voters[0].Credentials);
            var sent = await election.RunAsync(voters, new KpuEdge.Simulator.SimulationTarget(_cloud.BrokerHost, _cloud.BrokerPort, _pki.LogKey), 1);
            Assert.True(sent.FormsSent > 0);
            Assert.Equal(sent.FormsSent, sent.Accepted);
            Assert.Equal(0, writer.Written);
        }
        finally
        {
            await influx.Server.RestartAsync();
        }
        // Back: the held lines (the report and its event) are written.
        var attempted = new SemaphoreSlim(0);
        writer.Attempted += () => attempted.Release();
        while (writer.Written < 2) Assert.True(await attempted.WaitAsync(TimeSpan.FromSeconds(60)), $"InfluxDB holds {writer.Written} lines");
        Assert.Equal(0, writer.Dropped);
    }

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle)) return i;
        return -1;
    }

    [Fact]
    public async Task A_device_sending_faster_than_its_pace_is_refused_beyond_its_burst()
    {
        var client = await ConnectAsync(_device);
        var ingest = _cloud.Services.GetRequiredService<TelemetryIngest>();
        int burst = _cloud.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<NsocOptions>>().Value.TelemetryBurst;
        for (ulong s = 1; s <= (ulong)burst + 5; s++)
            await PublishAsync(client, Topics.Telemetry(_device.DeviceId), SignedHealthReport.Sign(Report(_device, s), _device.SigningKey).Wire);
        Assert.Equal(burst, ingest.Accepted);
        Assert.Equal(5, ingest.Refused);
        await EventAsync(e => e.Kind == DeviceEventKindsInLedger.TelemetryRefused && e.Evidence?.GetValueOrDefault("reason") == "rate_limited");
    }
}

/// <summary>The region tree and election every NSOC test shares (loading them once).</summary>
public static class NsocFixture
{
    public static readonly RegionTree Tree = RegionTree.LoadEmbedded();
    public static readonly KpuEdge.Core.Elections.ElectionDefinition Election = KpuEdge.Core.Elections.ElectionDefinition.Default;
}
