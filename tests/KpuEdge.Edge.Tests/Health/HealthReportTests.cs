using System.Device.Gpio;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Health;
using KpuEdge.Edge.Delivery;
using KpuEdge.Edge.Health;
using Microsoft.Extensions.Time.Testing;

namespace KpuEdge.Edge.Tests.Health;

/// <summary>A device's signed health reports: what goes in them, the hardware behind the seams, and what waits for the link.</summary>
public sealed class HealthReportTests : IDisposable
{
    private const string DeviceId = "dev-3273011001003-a";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"kpu-health-{Guid.NewGuid():N}");
    private readonly DeviceKey _key = DeviceKey.Deterministic("health", 1);
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2024, 2, 14, 13, 0, 0, TimeSpan.Zero));
    private readonly FakeIna219 _ina = new();
    private readonly FakeGpioDriver _gpio = new();
    private readonly List<string> _warnings = [];
    private TimeSpan _uptime = TimeSpan.FromMinutes(5);

    public void Dispose()
    {
        SqliteCleanup();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static void SqliteCleanup() => Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();

    private Outbox NewOutbox() => new(Path.Combine(_dir, Outbox.FileName), _time);

    private HealthReporter Reporter(Outbox outbox, ITamperSwitch? tamper = null, LinkMonitor? link = null) =>
        new(DeviceId, _key, outbox, new HealthSources
        {
            Power = new Ina219PowerMonitor(_ina),
            Tamper = tamper,
            System = new SystemProbe(_dir, thermalZone: Path.Combine(_dir, "no-thermal-zone")),
            Link = link ?? new LinkMonitor(),
            AppVersion = "1.0.0",
            ConfigVersion = () => "20240201T000000Z",
            Monotonic = () => _uptime,
        }, _time, _warnings.Add);

    private static HealthReport Sample(params DeviceEvent[] events) => new()
    {
        DeviceId = DeviceId, Sequence = 7, DeviceTime = new DateTimeOffset(2024, 2, 14, 13, 0, 0, TimeSpan.Zero), UptimeSeconds = 3600,
        AppVersion = "1.0.0", ConfigVersion = "20240201T000000Z", Battery = new BatteryReading(12_400, 850, 10_540), CpuDeciCelsius = 512,
        DiskFreeMegabytes = 20_000, MemoryFreeMegabytes = 1_200, Outbox = new OutboxReading(2, 6, 340), ClockOffsetMilliseconds = -1_250,
        LinkRoundTripMilliseconds = 740, Reconnects = 1, TamperOpen = false, Events = events,
    };

    [Fact]
    public void A_report_round_trips_signed_and_small()
    {
        var signed = SignedHealthReport.Sign(Sample(), _key);
        var back = SignedHealthReport.Decode(signed.Wire);
        Assert.Equal(Sample() with { Events = [] }, back.Report with { Events = [] });
        Assert.True(back.VerifySignature(_key.PublicKey));
        Assert.False(back.VerifySignature(DeviceKey.Deterministic("other", 2).PublicKey));
        // A quiet minute's report crosses VSAT in well under 200 bytes (64 of them the signature).
        Assert.InRange(signed.Wire.Length, 100, 200);

        var withEvent = SignedHealthReport.Sign(Sample(new DeviceEvent(DeviceEventKind.TamperOpened, Sample().DeviceTime, "tutup perangkat dibuka")), _key);
        var evt = Assert.Single(SignedHealthReport.Decode(withEvent.Wire).Report.Events);
        Assert.Equal(DeviceEventKind.TamperOpened, evt.Kind);
        Assert.Equal("tamper_opened", evt.Kind.Name());
    }

    [Fact]
    public void A_changed_byte_breaks_the_signature()
    {
        var signed = SignedHealthReport.Sign(Sample(), _key);
        // The same signature over a body that says three forms wait instead of two: another report, unsigned.
        var wire = HealthCodec.EncodeWire(HealthCodec.EncodeBody(Sample() with { Outbox = new OutboxReading(3, 6, 340) }), signed.Signature);
        var forged = SignedHealthReport.Decode(wire);
        Assert.Equal(3, forged.Report.Outbox.Forms);
        Assert.False(forged.VerifySignature(_key.PublicKey));
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("oversized")]
    [InlineData("trailing")]
    [InlineData("short-signature")]
    public void Bytes_that_are_not_a_report_are_refused_with_a_reason(string kind)
    {
        var good = SignedHealthReport.Sign(Sample(), _key).Wire;
        byte[] wire = kind switch
        {
            "garbage" => "{\"battery\": 12}"u8.ToArray(),
            "oversized" => new byte[HealthCodec.MaxWireBytes + 1],
            "trailing" => [.. good, 0x00],
            _ => HealthCodec.EncodeWire(HealthCodec.EncodeBody(Sample()), new byte[10]),
        };
        var e = Assert.Throws<HealthFormatException>(() => SignedHealthReport.Decode(wire));
        Assert.False(string.IsNullOrWhiteSpace(e.Message));
    }

    [Fact]
    public void Absurd_values_are_refused_at_both_ends()
    {
        foreach (var absurd in new[]
                 {
                     Sample() with { Battery = new BatteryReading(400_000, 0, 0) },
                     Sample() with { CpuDeciCelsius = 9_000 },
                     Sample() with { Outbox = new OutboxReading(-1, 0, 0) },
                     Sample() with { Sequence = 0 },
                     Sample() with { DeviceId = "" },
                     Sample() with { Events = Enumerable.Repeat(new DeviceEvent(DeviceEventKind.ClockJump, default, "x"), HealthCodec.MaxEvents + 1).ToArray() },
                 })
            Assert.Throws<HealthFormatException>(() => HealthCodec.EncodeBody(absurd));
    }

    [Fact]
    public void The_battery_is_read_from_the_INA219_registers_through_the_binding()
    {
        using var outbox = NewOutbox();
        using var reporter = Reporter(outbox);
        // The binding calibrated the chip the way a 0.1 Ω shunt needs it.
        Assert.Equal(4096, _ina.Register(5));
        _ina.Set(busMillivolts: 12_400, currentMilliamps: 850, powerMilliwatts: 10_540);
        var report = reporter.Report().Report;
        Assert.Equal(new BatteryReading(12_400, 850, 10_540), report.Battery);
        Assert.Equal(DeviceId, report.DeviceId);
        Assert.Equal("20240201T000000Z", report.ConfigVersion);
        Assert.Null(report.CpuDeciCelsius); // no thermal zone here

        _ina.Broken = true;
        var without = reporter.Report().Report;
        Assert.Null(without.Battery);
        Assert.Contains(_warnings, w => w.Contains("INA219", StringComparison.Ordinal));
    }

    [Fact]
    public void Opening_the_case_is_reported_at_once_and_kept_until_the_broker_has_it()
    {
        using var controller = new GpioController(_gpio);
        _gpio.Drive(GpioTamperSwitch.DefaultPin, PinValue.Low); // the switch holds the pin to ground: case shut
        using var tamper = new GpioTamperSwitch(controller);
        Assert.Equal(PinMode.InputPullUp, _gpio.ModeOf(GpioTamperSwitch.DefaultPin));
        using var outbox = NewOutbox();
        using var reporter = Reporter(outbox, tamper);
        var reports = new List<SignedHealthReport>();
        reporter.Reported += reports.Add;

        _gpio.Drive(GpioTamperSwitch.DefaultPin, PinValue.High); // opened
        _gpio.Drive(GpioTamperSwitch.DefaultPin, PinValue.High); // a bounce is no second event
        var opened = Assert.Single(reports).Report;
        Assert.True(opened.TamperOpen);
        Assert.Equal(DeviceEventKind.TamperOpened, Assert.Single(opened.Events).Kind);

        _gpio.Drive(GpioTamperSwitch.DefaultPin, PinValue.Low);
        Assert.Equal(DeviceEventKind.TamperClosed, Assert.Single(reports[1].Report.Events).Kind);

        // Link down: the two events wait in the outbox, first in line, whatever routine reports pile up meanwhile.
        for (int i = 0; i < Outbox.MaxRoutineHealthReports + 20; i++) reporter.Report();
        Assert.Equal(Outbox.MaxRoutineHealthReports + 2, outbox.HealthWaiting);
        var first = outbox.HealthToSend(2);
        Assert.Equal([reports[0].Report.Sequence, reports[1].Report.Sequence], first.Select(f => f.Sequence));
        outbox.MarkHealthDelivered(first[0].Sequence);
        Assert.Equal(Outbox.MaxRoutineHealthReports + 1, outbox.HealthWaiting);
    }

    [Fact]
    public void Report_numbers_survive_a_restart()
    {
        ulong last;
        using (var outbox = NewOutbox())
        using (var reporter = Reporter(outbox))
        {
            reporter.Report();
            last = reporter.Report().Report.Sequence;
        }
        SqliteCleanup();
        using var reopened = NewOutbox();
        using var again = Reporter(reopened);
        Assert.Equal(last + 1, again.Report().Report.Sequence);
    }

    [Fact]
    public void A_clock_jump_becomes_an_event_and_the_link_figures_come_from_receipts()
    {
        var link = new LinkMonitor();
        using var outbox = NewOutbox();
        using var reporter = Reporter(outbox, link: link);
        reporter.Report();
        // One minute passes on the uptime clock, ten on the wall clock: someone set the time.
        _uptime += TimeSpan.FromMinutes(1);
        _time.Advance(TimeSpan.FromMinutes(10));
        var sent = _time.GetUtcNow();
        link.Connected();
        link.Receipt(sent, sent.AddMilliseconds(800), cloudTime: sent.AddMilliseconds(400).AddSeconds(-3));
        var report = reporter.Report().Report;
        Assert.Equal(DeviceEventKind.ClockJump, Assert.Single(report.Events).Kind);
        Assert.Equal(800, report.LinkRoundTripMilliseconds);
        Assert.Equal(-3_000, report.ClockOffsetMilliseconds);
        Assert.Equal(1, report.Reconnects);
        Assert.Equal(0, reporter.Report().Report.Reconnects);
    }
}
