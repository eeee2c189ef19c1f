using System.Formats.Cbor;

namespace KpuEdge.Crypto.Health;

/// <summary>Why bytes on a telemetry topic are not a health report this build accepts.</summary>
public sealed class HealthFormatException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The one encoding of a signed health report (RFC 8949 deterministic CBOR, positional arrays):
/// <code>
/// wire    = [ body: bstr, signature: bstr(64) ]
/// body    = [ version=1, device_id, sequence, device_time_ms, uptime_s, app_version, config_version,
///             battery / null, cpu_deci_celsius / null, disk_free_mb, memory_free_mb, outbox,
///             clock_offset_ms / null, link_rtt_ms / null, reconnects, tamper_open, [event...] ]
/// battery = [ bus_mv, current_ma, power_mw ]
/// outbox  = [ forms, pages, oldest_age_s ]
/// event   = [ kind, time_ms, detail ]
/// signature = Ed25519(device key, "KPU-HEALTH\0" || body)
/// </code>
/// About 110 bytes for a quiet minute. Decoding is strict and bounded: a report is at most
/// <see cref="MaxWireBytes"/>, with at most <see cref="MaxEvents"/> events of <see cref="MaxDetailLength"/> characters,
/// and numbers outside what any real device reads are refused (an absurd value is an attack or a broken sensor, and
/// either way not a fact to chart).
/// </summary>
public static class HealthCodec
{
    public const int MaxWireBytes = 2048;
    public const int MaxEvents = 16;
    public const int MaxDetailLength = 160;
    private const int MaxTextLength = 64;
    private static readonly byte[] Domain = "KPU-HEALTH\0"u8.ToArray();

    public static byte[] EncodeBody(HealthReport report)
    {
        Check(report);
        var w = new CborWriter(CborConformanceMode.Canonical);
        w.WriteStartArray(17);
        w.WriteInt32(HealthReport.FormatVersion);
        w.WriteTextString(report.DeviceId);
        w.WriteUInt64(report.Sequence);
        w.WriteInt64(report.DeviceTime.ToUnixTimeMilliseconds());
        w.WriteInt64(report.UptimeSeconds);
        w.WriteTextString(report.AppVersion);
        w.WriteTextString(report.ConfigVersion);
        if (report.Battery is { } b)
        {
            w.WriteStartArray(3);
            w.WriteInt32(b.BusMillivolts);
            w.WriteInt32(b.CurrentMilliamps);
            w.WriteInt32(b.PowerMilliwatts);
            w.WriteEndArray();
        }
        else w.WriteNull();
        WriteOptional(w, report.CpuDeciCelsius);
        w.WriteInt32(report.DiskFreeMegabytes);
        w.WriteInt32(report.MemoryFreeMegabytes);
        w.WriteStartArray(3);
        w.WriteInt32(report.Outbox.Forms);
        w.WriteInt32(report.Outbox.Pages);
        w.WriteInt32(report.Outbox.OldestAgeSeconds);
        w.WriteEndArray();
        WriteOptional(w, report.ClockOffsetMilliseconds);
        WriteOptional(w, report.LinkRoundTripMilliseconds);
        w.WriteInt32(report.Reconnects);
        w.WriteBoolean(report.TamperOpen);
        w.WriteStartArray(report.Events.Count);
        foreach (var e in report.Events)
        {
            w.WriteStartArray(3);
            w.WriteInt32((int)e.Kind);
            w.WriteInt64(e.At.ToUnixTimeMilliseconds());
            w.WriteTextString(e.Detail);
            w.WriteEndArray();
        }
        w.WriteEndArray();
        w.WriteEndArray();
        return w.Encode();
    }

    /// <summary>The bytes the device signs: a domain tag, so a signature over a health report is never a form's.</summary>
    public static byte[] SignedMessage(ReadOnlySpan<byte> body) => SignedWire.Tagged(Domain, body);

    public static byte[] EncodeWire(ReadOnlySpan<byte> body, ReadOnlySpan<byte> signature) => SignedWire.Encode(body, signature);

    /// <summary>Splits the wire bytes and decodes the body; the signature is not checked here.</summary>
    public static (HealthReport Report, byte[] Body, byte[] Signature) DecodeWire(ReadOnlyMemory<byte> wire)
    {
        if (wire.Length > MaxWireBytes) throw new HealthFormatException($"A health report is at most {MaxWireBytes} bytes, not {wire.Length}.");
        try
        {
            var (body, signature) = SignedWire.Split(wire, "report", problem => new HealthFormatException($"Not a health report: {problem}."));
            if (signature.Length != 64) throw new HealthFormatException("The signature is not 64 bytes.");
            return (DecodeBody(body), body, signature);
        }
        catch (Exception e) when (e is CborContentException or InvalidOperationException or OverflowException or FormatException)
        {
            throw new HealthFormatException($"Not a health report: {e.Message}", e);
        }
    }

    private static HealthReport DecodeBody(byte[] body)
    {
        var r = new CborReader(body, CborConformanceMode.Canonical);
        if (r.ReadStartArray() != 17) throw new HealthFormatException("The body is not a 17-element array.");
        int version = r.ReadInt32();
        if (version != HealthReport.FormatVersion) throw new HealthFormatException($"Health report version {version} is not supported.");
        string deviceId = r.ReadTextString();
        ulong sequence = r.ReadUInt64();
        var deviceTime = DateTimeOffset.FromUnixTimeMilliseconds(r.ReadInt64());
        long uptime = r.ReadInt64();
        string app = r.ReadTextString();
        string config = r.ReadTextString();
        BatteryReading? battery = null;
        if (r.PeekState() == CborReaderState.Null) r.ReadNull();
        else
        {
            if (r.ReadStartArray() != 3) throw new HealthFormatException("The battery reading is not 3 numbers.");
            battery = new BatteryReading(r.ReadInt32(), r.ReadInt32(), r.ReadInt32());
            r.ReadEndArray();
        }
        int? cpu = ReadOptional(r);
        int disk = r.ReadInt32();
        int memory = r.ReadInt32();
        if (r.ReadStartArray() != 3) throw new HealthFormatException("The outbox reading is not 3 numbers.");
        var outbox = new OutboxReading(r.ReadInt32(), r.ReadInt32(), r.ReadInt32());
        r.ReadEndArray();
        int? offset = ReadOptional(r);
        int? rtt = ReadOptional(r);
        int reconnects = r.ReadInt32();
        bool tamper = r.ReadBoolean();
        int? count = r.ReadStartArray();
        if (count is null or > MaxEvents) throw new HealthFormatException($"A report carries at most {MaxEvents} events.");
        var events = new List<DeviceEvent>(count.Value);
        for (int i = 0; i < count; i++)
        {
            if (r.ReadStartArray() != 3) throw new HealthFormatException("An event is not [kind, time, detail].");
            int kind = r.ReadInt32();
            if (!DeviceEventKinds.IsDefined(kind)) throw new HealthFormatException($"Unknown device event kind {kind}.");
            events.Add(new DeviceEvent((DeviceEventKind)kind, DateTimeOffset.FromUnixTimeMilliseconds(r.ReadInt64()), r.ReadTextString()));
            r.ReadEndArray();
        }
        r.ReadEndArray();
        r.ReadEndArray();
        if (r.BytesRemaining != 0) throw new HealthFormatException("Trailing bytes after the body.");
        var report = new HealthReport
        {
            DeviceId = deviceId, Sequence = sequence, DeviceTime = deviceTime, UptimeSeconds = uptime, AppVersion = app,
            ConfigVersion = config, Battery = battery, CpuDeciCelsius = cpu, DiskFreeMegabytes = disk, MemoryFreeMegabytes = memory,
            Outbox = outbox, ClockOffsetMilliseconds = offset, LinkRoundTripMilliseconds = rtt, Reconnects = reconnects,
            TamperOpen = tamper, Events = events,
        };
        Check(report);
        return report;
    }

    /// <summary>What no real device reads: refused on both ends, so a device never sends what the cloud would refuse.</summary>
    private static void Check(HealthReport r)
    {
        CheckText(r.DeviceId, "device id", allowEmpty: false);
        CheckText(r.AppVersion, "app version", allowEmpty: false);
        CheckText(r.ConfigVersion, "config version", allowEmpty: true);
        if (r.Sequence is 0 or > SubmissionCodec.MaxSequence) throw new HealthFormatException($"Sequence {r.Sequence} is out of range.");
        if (r.UptimeSeconds < 0 || r.UptimeSeconds > 10L * 365 * 86_400) throw new HealthFormatException($"Uptime {r.UptimeSeconds} s is absurd.");
        if (r.Battery is { } b && (b.BusMillivolts is < 0 or > 36_000 || Math.Abs(b.CurrentMilliamps) > 20_000 || b.PowerMilliwatts is < 0 or > 500_000))
            throw new HealthFormatException($"Battery reading {b} is outside what the INA219 measures.");
        if (r.CpuDeciCelsius is < -600 or > 1500) throw new HealthFormatException($"CPU temperature {r.CpuDeciCelsius / 10.0} °C is absurd.");
        if (r.DiskFreeMegabytes < 0 || r.MemoryFreeMegabytes < 0) throw new HealthFormatException("Free space cannot be negative.");
        if (r.Outbox.Forms < 0 || r.Outbox.Pages < 0 || r.Outbox.OldestAgeSeconds < 0) throw new HealthFormatException("Outbox counts cannot be negative.");
        if (r.LinkRoundTripMilliseconds < 0 || r.Reconnects < 0) throw new HealthFormatException("Link figures cannot be negative.");
        if (r.Events.Count > MaxEvents) throw new HealthFormatException($"A report carries at most {MaxEvents} events.");
        foreach (var e in r.Events)
            if (e.Detail.Length > MaxDetailLength) throw new HealthFormatException($"An event's detail is at most {MaxDetailLength} characters.");
    }

    private static void CheckText(string text, string what, bool allowEmpty)
    {
        if ((!allowEmpty && text.Length == 0) || text.Length > MaxTextLength || text.Any(char.IsControl))
            throw new HealthFormatException($"The {what} is not 1..{MaxTextLength} printable characters.");
    }

    private static void WriteOptional(CborWriter w, int? value)
    {
        if (value is { } v) w.WriteInt32(v);
        else w.WriteNull();
    }

    private static int? ReadOptional(CborReader r)
    {
        if (r.PeekState() != CborReaderState.Null) return r.ReadInt32();
        r.ReadNull();
        return null;
    }
}
