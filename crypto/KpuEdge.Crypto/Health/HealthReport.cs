namespace KpuEdge.Crypto.Health;

/// <summary>What a device noticed about its own security, reported with its next health record (or at once).</summary>
public enum DeviceEventKind
{
    /// <summary>The case-open switch opened: someone opened the device.</summary>
    TamperOpened = 1,
    TamperClosed = 2,
    /// <summary>A configuration bundle did not verify and was not applied.</summary>
    ConfigRefused = 3,
    /// <summary>A receipt's inclusion proof or checkpoint signature failed: the form is kept and sent again.</summary>
    ReceiptProofFailed = 4,
    /// <summary>The device clock moved by more than the bound between two readings.</summary>
    ClockJump = 5,
    /// <summary>The broker refused the device's TLS connection again and again.</summary>
    TlsRefused = 6,
}

public static class DeviceEventKinds
{
    /// <summary>The name in telemetry, events and rules (<c>tamper_opened</c>, …).</summary>
    public static string Name(this DeviceEventKind kind) => kind switch
    {
        DeviceEventKind.TamperOpened => "tamper_opened",
        DeviceEventKind.TamperClosed => "tamper_closed",
        DeviceEventKind.ConfigRefused => "config_refused",
        DeviceEventKind.ReceiptProofFailed => "receipt_proof_failed",
        DeviceEventKind.ClockJump => "clock_jump",
        DeviceEventKind.TlsRefused => "tls_refused",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a device event."),
    };

    public static bool IsDefined(int value) => value is >= 1 and <= 6;
}

/// <summary>One device-side security event; <paramref name="Detail"/> is short text for the operator.</summary>
public sealed record DeviceEvent(DeviceEventKind Kind, DateTimeOffset At, string Detail);

/// <summary>The battery as the INA219 on the power bus reads it (current is negative while charging).</summary>
public readonly record struct BatteryReading(int BusMillivolts, int CurrentMilliamps, int PowerMilliwatts);

/// <summary>What is waiting in the device's outbox to be delivered.</summary>
public readonly record struct OutboxReading(int Forms, int Pages, int OldestAgeSeconds);

/// <summary>
/// One health record of a TPS device or PPK station: power, temperature, storage, what waits to be sent, how its clock
/// and link look from the cloud's receipts, and the tamper switch. Small integers in fixed units, because it crosses
/// VSAT every minute from every device.
/// </summary>
public sealed record HealthReport
{
    public const int FormatVersion = 1;

    public required string DeviceId { get; init; }
    /// <summary>Counts the device's reports up from 1, across restarts: a replayed report is recognised.</summary>
    public required ulong Sequence { get; init; }
    /// <summary>The device's clock when it made the report.</summary>
    public required DateTimeOffset DeviceTime { get; init; }
    public required long UptimeSeconds { get; init; }
    public required string AppVersion { get; init; }
    /// <summary>The version of the signed configuration bundle in force; empty before one was applied.</summary>
    public required string ConfigVersion { get; init; }
    /// <summary>Null without a power monitor (a PC, <c>--hardware none</c>).</summary>
    public BatteryReading? Battery { get; init; }
    /// <summary>CPU temperature in tenths of a degree Celsius; null where the board does not say.</summary>
    public int? CpuDeciCelsius { get; init; }
    public required int DiskFreeMegabytes { get; init; }
    public required int MemoryFreeMegabytes { get; init; }
    public required OutboxReading Outbox { get; init; }
    /// <summary>Cloud time minus device time, from the last receipt; null before the first.</summary>
    public int? ClockOffsetMilliseconds { get; init; }
    /// <summary>Publish → receipt time of the last form or image, the link as the device lives it.</summary>
    public int? LinkRoundTripMilliseconds { get; init; }
    /// <summary>Reconnects since the previous report.</summary>
    public required int Reconnects { get; init; }
    /// <summary>The case-open switch as read when the report was made.</summary>
    public required bool TamperOpen { get; init; }
    public IReadOnlyList<DeviceEvent> Events { get; init; } = [];
}
