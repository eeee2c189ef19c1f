using KpuEdge.Nsoc.Fleet;
using KpuEdge.Nsoc.Rules;

namespace KpuEdge.Nsoc.Tests;

/// <summary>The province's fleet memory: which reports are new, what the wall counts, which rules a device breaks.</summary>
public sealed class FleetGrainTests
{
    private static readonly DateTimeOffset T0 = new(2024, 2, 14, 6, 0, 0, TimeSpan.Zero);
    private static readonly FleetBounds Bounds = FleetBounds.From(NsocRules.Default());

    private static HealthSample Sample(string device, ulong sequence, DateTimeOffset at, int? millivolts = 12_600, int? milliamps = -200,
        bool tamper = false, int? offset = 20, string tps = "9171040001004") =>
        new(device, tps, false, sequence, at, at, millivolts, milliamps, 455, 0, 0, offset, 700, tamper, "1.0");

    [Fact]
    public async Task Reports_are_new_once_within_the_window_and_stale_beyond_it()
    {
        var fleet = new FleetGrain();
        var answers = await fleet.Report([Sample("d", 5, T0), Sample("d", 5, T0), Sample("d", 3, T0), Sample("d", 3, T0), Sample("d", 6, T0)]);
        Assert.Equal([ReportFreshness.Newest, ReportFreshness.Duplicate, ReportFreshness.Older, ReportFreshness.Duplicate, ReportFreshness.Newest], answers);

        // An outbox sends events first: a burst after an outage arrives out of order, every report new exactly once.
        var burst = Enumerable.Range(7, 60).Select(i => (ulong)i).Reverse().Select(s => Sample("d", s, T0)).ToList();
        Assert.All(await fleet.Report(burst), a => Assert.NotEqual(ReportFreshness.Duplicate, a));
        Assert.All(await fleet.Report(burst), a => Assert.Equal(ReportFreshness.Duplicate, a));

        await fleet.Report([Sample("d", 1000, T0)]);
        Assert.Equal([ReportFreshness.Stale], await fleet.Report([Sample("d", 1000 - FleetGrain.ReplayWindow, T0)]));
        Assert.Equal([ReportFreshness.Older], await fleet.Report([Sample("d", 1000 - FleetGrain.ReplayWindow + 1, T0)]));
    }

    [Fact]
    public async Task An_older_report_does_not_overwrite_the_newest_state()
    {
        var fleet = new FleetGrain();
        await fleet.Report([Sample("d", 10, T0, tamper: false)]);
        await fleet.Report([Sample("d", 9, T0.AddSeconds(5), tamper: true)]); // older, arriving late
        var row = await fleet.Device("d", T0.AddSeconds(10), Bounds);
        Assert.False(row!.TamperOpen);
    }

    [Fact]
    public async Task Counts_and_conditions_follow_the_rules_bounds()
    {
        var fleet = new FleetGrain();
        await fleet.Report([
            Sample("ok", 1, T0),
            Sample("silent", 1, T0.AddMinutes(-6)),
            Sample("low", 1, T0, millivolts: 11_000),
            Sample("open", 1, T0, tamper: true),
            Sample("skewed", 1, T0, offset: -400_000),
            Sample("battery", 1, T0.AddHours(-3), milliamps: 300),
        ]);
        await fleet.Report([Sample("battery", 2, T0, milliamps: 280)]);

        var counts = (await fleet.Breakdown("91", 2, T0, Bounds))["91"];
        Assert.Equal(6, counts.Seen);
        Assert.Equal(1, counts.Silent);
        Assert.Equal(5, counts.Online);
        Assert.Equal(1, counts.TamperOpen);
        Assert.Equal(1, counts.BatteryLow);
        Assert.Equal(1, counts.ClockSkewed);
        Assert.Equal(1, counts.OnBattery);

        var conditions = await fleet.Conditions(T0, Bounds, 100);
        Assert.Equal(
            [("battery", RuleCodes.OnBattery), ("low", RuleCodes.BatteryLow), ("open", RuleCodes.Tamper), ("silent", RuleCodes.DeviceSilent), ("skewed", RuleCodes.ClockSkew)],
            conditions.Select(c => (c.DeviceId, c.Rule)).OrderBy(c => c.DeviceId).ToList());

        var kecamatan = await fleet.Devices("917104", T0, Bounds, 100);
        Assert.Equal(6, kecamatan.Count);
        Assert.Equal("silent", kecamatan.Single(d => d.DeviceId == "silent").State);
        Assert.Equal("tamper", kecamatan.Single(d => d.DeviceId == "open").State);
    }
}
