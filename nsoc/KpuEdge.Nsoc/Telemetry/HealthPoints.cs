using InfluxDB.Client.Api.Domain;
using InfluxDB.Client.Writes;
using KpuEdge.Crypto.Health;

namespace KpuEdge.Nsoc.Telemetry;

/// <summary>
/// A device's report as InfluxDB points (line protocol, written through InfluxDB.Client's <see cref="PointData"/>).
/// Tags are what a query selects by and must stay few per value: <c>device</c> (one series per device: ≈ 830,000
/// series for the nation, which the TSI index keeps on disk), <c>province</c> and <c>kind</c> (38 and 2 values, and
/// functions of the device, so they add no series). Everything measured is a field, so a reading never makes a series.
/// Events get their own measurement, tagged with their kind (6 values).
/// </summary>
public static class HealthPoints
{
    public const string HealthMeasurement = "device_health";
    public const string EventMeasurement = "device_event";

    /// <summary>
    /// The report's points. Their time is the device's clock corrected by the offset it measured against the cloud, so
    /// reports held in the outbox through an outage keep their own minutes instead of piling onto the reconnect.
    /// </summary>
    public static IEnumerable<string> Lines(HealthReport report, string province, bool station)
    {
        var at = report.DeviceTime + TimeSpan.FromMilliseconds(report.ClockOffsetMilliseconds ?? 0);
        string kind = station ? "ppk" : "tps";
        var point = PointData.Measurement(HealthMeasurement)
            .Tag("device", report.DeviceId).Tag("province", province).Tag("kind", kind)
            .Field("seq", (long)report.Sequence)
            .Field("uptime_s", report.UptimeSeconds)
            .Field("disk_free_mb", report.DiskFreeMegabytes)
            .Field("mem_free_mb", report.MemoryFreeMegabytes)
            .Field("outbox_forms", report.Outbox.Forms)
            .Field("outbox_pages", report.Outbox.Pages)
            .Field("outbox_oldest_s", report.Outbox.OldestAgeSeconds)
            .Field("reconnects", report.Reconnects)
            .Field("tamper", report.TamperOpen)
            .Field("app", report.AppVersion)
            .Field("config", report.ConfigVersion)
            .Timestamp(at.UtcDateTime, WritePrecision.Ms);
        if (report.Battery is { } battery)
            point = point.Field("battery_mv", battery.BusMillivolts).Field("current_ma", battery.CurrentMilliamps).Field("power_mw", battery.PowerMilliwatts);
        if (report.CpuDeciCelsius is { } cpu) point = point.Field("cpu_dc", cpu);
        if (report.ClockOffsetMilliseconds is { } offset) point = point.Field("clock_offset_ms", offset);
        if (report.LinkRoundTripMilliseconds is { } rtt) point = point.Field("rtt_ms", rtt);
        yield return point.ToLineProtocol();

        int n = 0;
        foreach (var e in report.Events)
        {
            // Distinct times for events of one moment: a point of the same series and time would replace the other.
            yield return PointData.Measurement(EventMeasurement)
                .Tag("device", report.DeviceId).Tag("province", province).Tag("kind", e.Kind.Name())
                .Field("detail", e.Detail).Field("seq", (long)report.Sequence)
                .Timestamp((e.At + TimeSpan.FromMilliseconds((report.ClockOffsetMilliseconds ?? 0) + n++)).UtcDateTime, WritePrecision.Ms)
                .ToLineProtocol();
        }
    }
}
