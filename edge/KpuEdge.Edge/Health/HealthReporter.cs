using KpuEdge.Crypto;
using KpuEdge.Crypto.Health;
using KpuEdge.Edge.Delivery;

namespace KpuEdge.Edge.Health;

/// <summary>Where a device's health readings come from; a part left null is not on this device (a PC, <c>--hardware none</c>).</summary>
public sealed record HealthSources
{
    public IPowerMonitor? Power { get; init; }
    public ITamperSwitch? Tamper { get; init; }
    public required SystemProbe System { get; init; }
    public required LinkMonitor Link { get; init; }
    public required string AppVersion { get; init; }
    /// <summary>The configuration bundle in force now (it can change while the device runs).</summary>
    public Func<string> ConfigVersion { get; init; } = () => "";
    /// <summary>A clock that only moves forward (uptime): compared with the wall clock to see the wall clock jump.</summary>
    public Func<TimeSpan> Monotonic { get; init; } = () => TimeSpan.FromMilliseconds(Environment.TickCount64);
}

/// <summary>
/// Makes the device's signed health reports: one every interval (the signed configuration bundle's telemetry interval),
/// and one at once when something happens — the case opens, a bundle is refused, a receipt's proof fails, the clock
/// jumps, the broker keeps refusing TLS. Each report goes into the outbox first, so a case opened while the link is
/// down is reported when it comes back, whatever happened to the device in between.
/// </summary>
public sealed class HealthReporter : IDisposable
{
    /// <summary>The wall clock may drift from the uptime clock by this much between two reports before it counts as a jump.</summary>
    public static readonly TimeSpan ClockJumpBound = TimeSpan.FromMinutes(2);
    /// <summary>TLS refusals in a row that make an event (one refusal is a bad minute on the link).</summary>
    public const int TlsRefusalsForEvent = 5;

    private readonly string _deviceId;
    private readonly DeviceKey _key;
    private readonly Outbox _outbox;
    private readonly HealthSources _sources;
    private readonly TimeProvider _time;
    private readonly Action<string> _warn;
    private readonly TimeSpan _startedAt;
    private readonly Lock _lock = new();
    private (DateTimeOffset Wall, TimeSpan Monotonic)? _lastClock;

    public HealthReporter(string deviceId, DeviceKey key, Outbox outbox, HealthSources sources, TimeProvider? time = null, Action<string>? warn = null)
    {
        _deviceId = deviceId;
        _key = key;
        _outbox = outbox;
        _sources = sources;
        _time = time ?? TimeProvider.System;
        _warn = warn ?? Console.Error.WriteLine;
        _startedAt = sources.Monotonic();
        if (sources.Tamper is { } tamper) tamper.Changed += OnTamper;
    }

    /// <summary>Raised after each report is in the outbox (the delivery loop sends it at once when connected).</summary>
    public event Action<SignedHealthReport>? Reported;

    /// <summary>Makes, signs and keeps a report now, with any events given (and a clock jump if one is seen).</summary>
    public SignedHealthReport Report(params DeviceEvent[] events)
    {
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            var monotonic = _sources.Monotonic();
            var all = new List<DeviceEvent>(events);
            if (_lastClock is { } last)
            {
                var drift = (now - last.Wall) - (monotonic - last.Monotonic);
                if (drift.Duration() > ClockJumpBound)
                    all.Add(new DeviceEvent(DeviceEventKind.ClockJump, now, $"jam perangkat melompat {drift.TotalSeconds:+0;-0} detik"));
            }
            _lastClock = (now, monotonic);
            var (rtt, offset, reconnects) = _sources.Link.Take();
            var report = new HealthReport
            {
                DeviceId = _deviceId,
                Sequence = _outbox.NextHealthSequence(),
                DeviceTime = now,
                UptimeSeconds = (long)(monotonic - _startedAt).TotalSeconds,
                AppVersion = _sources.AppVersion,
                ConfigVersion = _sources.ConfigVersion(),
                Battery = Read(_sources.Power),
                CpuDeciCelsius = _sources.System.CpuDeciCelsius(),
                DiskFreeMegabytes = _sources.System.DiskFreeMegabytes(),
                MemoryFreeMegabytes = _sources.System.MemoryFreeMegabytes(),
                Outbox = _outbox.Waiting(),
                ClockOffsetMilliseconds = offset,
                LinkRoundTripMilliseconds = rtt,
                Reconnects = reconnects,
                TamperOpen = _sources.Tamper?.IsOpen ?? false,
                Events = all.Take(HealthCodec.MaxEvents).ToArray(),
            };
            var signed = SignedHealthReport.Sign(report, _key);
            _outbox.AddHealth(report.Sequence, signed.Wire, urgent: report.Events.Count > 0);
            Reported?.Invoke(signed);
            return signed;
        }
    }

    /// <summary>Reports every <paramref name="interval"/> until cancelled.</summary>
    public async Task RunAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(interval, _time);
        Report();
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken)) Report();
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { }
    }

    /// <summary>A device-side security event: reported at once.</summary>
    public void Raise(DeviceEventKind kind, string detail)
    {
        _warn($"Peristiwa keamanan pada perangkat: {kind.Name()}: {detail}");
        Report(new DeviceEvent(kind, _time.GetUtcNow(), Truncate(detail)));
    }

    /// <summary>The broker refused TLS once more: an event when it has happened <see cref="TlsRefusalsForEvent"/> times in a row.</summary>
    public void TlsRefused(string detail)
    {
        if (_sources.Link.TlsRefused() == TlsRefusalsForEvent) Raise(DeviceEventKind.TlsRefused, detail);
    }

    private void OnTamper(bool open) =>
        Raise(open ? DeviceEventKind.TamperOpened : DeviceEventKind.TamperClosed, open ? "tutup perangkat dibuka" : "tutup perangkat ditutup kembali");

    private BatteryReading? Read(IPowerMonitor? power)
    {
        if (power is null) return null;
        try { return power.Read(); }
        catch (Exception e) when (e is IOException or InvalidOperationException or TimeoutException)
        {
            // A sensor that stops answering is itself news for the NSOC: the report goes without the battery.
            _warn($"Sensor daya (INA219) tidak menjawab, laporan dikirim tanpa data baterai: {e.Message}");
            return null;
        }
    }

    private static string Truncate(string detail) => detail.Length <= HealthCodec.MaxDetailLength ? detail : detail[..HealthCodec.MaxDetailLength];

    public void Dispose()
    {
        if (_sources.Tamper is { } tamper) tamper.Changed -= OnTamper;
    }

    /// <summary>
    /// Reports through a delivery loop: its receipt-proof failures and repeated TLS refusals become events, and each
    /// report wakes it so the report goes at once when the link is up.
    /// </summary>
    public void Attach(DeliveryLoop loop)
    {
        loop.ReceiptProofFailed += detail => Raise(DeviceEventKind.ReceiptProofFailed, detail);
        loop.TlsRefused += TlsRefused;
        Reported += _ => loop.Wake();
    }
}
