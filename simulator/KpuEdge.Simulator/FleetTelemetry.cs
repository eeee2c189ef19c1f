using KpuEdge.Core.Protocol;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Health;
using KpuEdge.Core.Elections;
using KpuEdge.Crypto.Pki;
using KpuEdge.Edge.Transport;
using MQTTnet;
using MQTTnet.Protocol;

namespace KpuEdge.Simulator;

/// <summary>
/// Health reports from a simulated fleet, with the faults an election night brings, for the NSOC wall to show: every
/// device on its own mutual-TLS connection, reporting each round; batteries draining (some from low, some with no
/// charger), a few devices going silent after their first report, one case opened, one clock skewed by five minutes,
/// and someone trying again and again with a certificate from another CA. Deterministic for a seed.
/// </summary>
public sealed class FleetTelemetry(IReadOnlyList<SimulatedDevice> devices, SimulationTarget target, int seed) : IAsyncDisposable
{
    private readonly List<(SimulatedDevice Device, IMqttClient Client)> _connected = [];
    private readonly Random _random = new(seed);
    private readonly Dictionary<string, (int Millivolts, int Milliamps, bool SilentAfterFirst)> _battery = new(StringComparer.Ordinal);
    private ulong _round;

    /// <summary>The device whose case is opened in the second round.</summary>
    public SimulatedDevice? Tampered { get; private set; }
    /// <summary>The device whose clock is five minutes slow.</summary>
    public SimulatedDevice? Skewed { get; private set; }
    public int Silent { get; private set; }
    /// <summary>Devices starting below 11.6 V.</summary>
    public int LowBattery { get; private set; }
    /// <summary>Devices whose last report said below 11.6 V (a charger lifts some, a drain sinks others).</summary>
    public int LowBatteryNow => _battery.Values.Count(b => b.Millivolts < 11_600);
    public long ReportsSent { get; private set; }
    public long BytesSent { get; private set; }
    /// <summary>How the forged attempts were refused, as the client saw it.</summary>
    public Dictionary<string, int> RefusedHow { get; } = new();
    /// <summary>Device events sent in reports (each one more InfluxDB point).</summary>
    public long EventsSent { get; private set; }

    /// <summary>Connects every device (64 handshakes at a time) and sets out the faults.</summary>
    public async Task ConnectAsync(CancellationToken cancellationToken)
    {
        foreach (var d in devices)
        {
            double r = _random.NextDouble();
            bool silent = r < 0.03;
            int millivolts = r < 0.05 ? 11_500 + _random.Next(100) : 12_300 + _random.Next(500);
            int milliamps = _random.NextDouble() < 0.10 ? 250 + _random.Next(200) : -100 - _random.Next(300);
            _battery[d.Identity.DeviceId] = (millivolts, milliamps, silent);
            if (silent) Silent++;
            if (millivolts < 11_600) LowBattery++;
        }
        Tampered = devices.Count > 0 ? devices[_random.Next(devices.Count)] : null;
        Skewed = devices.Count > 1 ? devices.First(d => d != Tampered) : null;
        using var gate = new SemaphoreSlim(64);
        var clients = await Task.WhenAll(devices.Select(async d =>
        {
            await gate.WaitAsync(cancellationToken);
            try
            {
                var client = new MqttClientFactory().CreateMqttClient();
                await client.ConnectAsync(target.ConnectionFor(d).ClientOptions(d.Identity.DeviceId, TimeProvider.System).Build(), cancellationToken);
                return (d, client);
            }
            finally { gate.Release(); }
        }));
        _connected.AddRange(clients);
    }

    /// <summary>One report from every device still reporting; the second round opens one case.</summary>
    public async Task RoundAsync(CancellationToken cancellationToken)
    {
        _round++;
        using var gate = new SemaphoreSlim(128);
        await Task.WhenAll(_connected.Select(async c =>
        {
            var (millivolts, milliamps, silent) = _battery[c.Device.Identity.DeviceId];
            if (silent && _round > 1) return;
            // Draining: 15 mV a round on battery, a little recovered on a charger.
            millivolts = Math.Max(10_000, millivolts + (milliamps > 0 ? -15 : 2));
            _battery[c.Device.Identity.DeviceId] = (millivolts, milliamps, silent);
            var events = new List<DeviceEvent>();
            bool tamper = c.Device == Tampered && _round >= 2;
            if (c.Device == Tampered && _round == 2) events.Add(new DeviceEvent(DeviceEventKind.TamperOpened, DateTimeOffset.UtcNow, "sakelar casing terbuka"));
            var report = new HealthReport
            {
                DeviceId = c.Device.Identity.DeviceId, Sequence = _round, DeviceTime = DateTimeOffset.UtcNow, UptimeSeconds = 3_600 + (long)_round * 60,
                AppVersion = "1.0.0", ConfigVersion = "2024.02", Battery = new BatteryReading(millivolts, milliamps, Math.Abs(millivolts * milliamps / 1000)),
                CpuDeciCelsius = 450 + (int)(_round % 50), DiskFreeMegabytes = 9_000, MemoryFreeMegabytes = 650, Outbox = new OutboxReading(0, 0, 0),
                ClockOffsetMilliseconds = c.Device == Skewed ? 300_000 : 150, LinkRoundTripMilliseconds = 600, Reconnects = 0, TamperOpen = tamper,
                Events = events,
            };
            var wire = SignedHealthReport.Sign(report, c.Device.Credentials.SigningKey).Wire;
            await gate.WaitAsync(cancellationToken);
            try
            {
                await c.Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(Topics.Telemetry(c.Device.Identity.DeviceId)).WithPayload(wire)
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build(), cancellationToken);
                lock (_connected)
                {
                    EventsSent += events.Count;
                    ReportsSent++;
                    BytesSent += wire.Length;
                }
            }
            finally { gate.Release(); }
        }));
    }

    /// <summary>Someone with a certificate from another CA tries again and again: each a refusal at the broker, together an incident.</summary>
    /// <param name="serverTrust">KPU's trust store: the outsider trusts the real broker, so the refusal is the broker's.</param>
    public async Task<int> ForgedCertificateAttemptsAsync(ElectionDefinition election, TrustStore serverTrust, int attempts, CancellationToken cancellationToken)
    {
        var victim = devices[0];
        var foreign = EphemeralPki.Create(election.ElectionId, DateTimeOffset.UtcNow, seed + 7_000_003)
            .IssueDevice(victim.Identity.DeviceId, KpuRole.Tps, victim.Identity.Tps.Value);
        int refused = 0;
        for (int i = 0; i < attempts; i++)
        {
            using var client = new MqttClientFactory().CreateMqttClient();
            try
            {
                await client.ConnectAsync((BrokerConnection.For(foreign, target.BrokerHost, target.BrokerPort, null) with { Trust = serverTrust })
                    .ClientOptions(victim.Identity.DeviceId, TimeProvider.System).Build(), cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                refused++;
                string why = e.GetBaseException().GetType().Name + ": " + e.GetBaseException().Message;
                RefusedHow[why] = RefusedHow.GetValueOrDefault(why) + 1;
            }
        }
        return refused;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (_, client) in _connected)
        {
            try { await client.DisconnectAsync(); }
            catch (Exception) { /* the cloud may be gone already */ }
            client.Dispose();
        }
        _connected.Clear();
    }
}
