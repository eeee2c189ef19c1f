using KpuEdge.Nsoc.Rules;

namespace KpuEdge.Nsoc.Fleet;

/// <summary>One verified health report as the fleet keeps it: small, fixed units (see <c>HealthReport</c>).</summary>
/// <param name="Tps">The device's TPS (13 digits) or, for a PPK station, its kecamatan (6): where it sits on the map.</param>
[GenerateSerializer, Immutable, Alias("kpu.nsoc.HealthSample")]
public sealed record HealthSample(
    [property: Id(0)] string DeviceId,
    [property: Id(1)] string Tps,
    [property: Id(2)] bool Station,
    [property: Id(3)] ulong Sequence,
    [property: Id(4)] DateTimeOffset ReceivedAt,
    [property: Id(5)] DateTimeOffset DeviceTime,
    [property: Id(6)] int? BatteryMillivolts,
    [property: Id(7)] int? CurrentMilliamps,
    [property: Id(8)] int? CpuDeciCelsius,
    [property: Id(9)] int OutboxForms,
    [property: Id(10)] int OutboxOldestSeconds,
    [property: Id(11)] int? ClockOffsetMilliseconds,
    [property: Id(12)] int? LinkRoundTripMilliseconds,
    [property: Id(13)] bool TamperOpen,
    [property: Id(14)] string AppVersion);

/// <summary>What a report's sequence number says about it.</summary>
public enum ReportFreshness : byte
{
    /// <summary>The newest report of the device: its state now.</summary>
    Newest = 0,
    /// <summary>Not seen before, but older than the newest (an outbox sends events first): its events count, its readings are history.</summary>
    Older = 1,
    /// <summary>Seen before: sent again after a lost acknowledgement, or replayed.</summary>
    Duplicate = 2,
    /// <summary>Older than the window of sequences remembered (<see cref="FleetGrain.ReplayWindow"/>): refused.</summary>
    Stale = 3,
}

/// <summary>A device breaking a fleet rule now.</summary>
[GenerateSerializer, Immutable, Alias("kpu.nsoc.DeviceCondition")]
public sealed record DeviceCondition([property: Id(0)] string Rule, [property: Id(1)] string DeviceId, [property: Id(2)] string Tps, [property: Id(3)] string Detail);

/// <summary>How a set of devices is doing.</summary>
[GenerateSerializer, Alias("kpu.nsoc.FleetCounts")]
public sealed class FleetCounts
{
    /// <summary>Reported at least once.</summary>
    [Id(0)] public int Seen { get; set; }
    /// <summary>Reported within the silence bound.</summary>
    [Id(1)] public int Online { get; set; }
    /// <summary>Reported before, not within the silence bound.</summary>
    [Id(2)] public int Silent { get; set; }
    [Id(3)] public int TamperOpen { get; set; }
    [Id(4)] public int BatteryLow { get; set; }
    [Id(5)] public int OnBattery { get; set; }
    [Id(6)] public int ClockSkewed { get; set; }
    /// <summary>Forms waiting in the devices' outboxes, by their last reports.</summary>
    [Id(7)] public long OutboxForms { get; set; }

    public void Add(FleetCounts other)
    {
        Seen += other.Seen; Online += other.Online; Silent += other.Silent; TamperOpen += other.TamperOpen;
        BatteryLow += other.BatteryLow; OnBattery += other.OnBattery; ClockSkewed += other.ClockSkewed; OutboxForms += other.OutboxForms;
    }
}

/// <summary>The bounds a device is judged by (from the rules file).</summary>
[GenerateSerializer, Immutable, Alias("kpu.nsoc.FleetBounds")]
public sealed record FleetBounds(
    [property: Id(0)] TimeSpan SilentAfter,
    [property: Id(1)] int BatteryLowMillivolts,
    [property: Id(2)] TimeSpan OnBatteryAfter,
    [property: Id(3)] int DischargingAboveMilliamps,
    [property: Id(4)] TimeSpan ClockSkew)
{
    public static FleetBounds From(NsocRules rules) => new(
        TimeSpan.FromMinutes(rules.DeviceSilent.AfterMinutes), rules.BatteryLow.BelowMillivolts, TimeSpan.FromMinutes(rules.OnBattery.AfterMinutes),
        rules.OnBattery.DischargingAboveMilliamps, TimeSpan.FromSeconds(rules.ClockSkew.BeyondSeconds));
}

/// <summary>One device as the wall lists it.</summary>
[GenerateSerializer, Immutable, Alias("kpu.nsoc.DeviceRow")]
public sealed record DeviceRow(
    [property: Id(0)] string DeviceId, [property: Id(1)] string Tps, [property: Id(2)] bool Station, [property: Id(3)] DateTimeOffset LastSeen,
    [property: Id(4)] int? BatteryMillivolts, [property: Id(5)] int? CurrentMilliamps, [property: Id(6)] bool TamperOpen,
    [property: Id(7)] int? ClockOffsetMilliseconds, [property: Id(8)] int OutboxForms, [property: Id(9)] int OutboxOldestSeconds,
    [property: Id(10)] int? LinkRoundTripMilliseconds, [property: Id(11)] int? CpuDeciCelsius, [property: Id(12)] string AppVersion,
    [property: Id(13)] DateTimeOffset? OnBatterySince, [property: Id(14)] string State);

/// <summary>
/// The live health of every device of one province, from their reports: the one place a device's report sequence is
/// checked (a replayed or stale report is refused whichever node it reached), and what the wall counts and the rules
/// judge. Memory only, ≈ 200 bytes a device (the whole nation ≈ 170 MB across the cluster): after its node is lost a
/// province starts again from the next reports, a minute later; the history is in InfluxDB.
/// </summary>
[Alias("kpu.nsoc.IFleetGrain")]
public interface IFleetGrain : IGrainWithStringKey
{
    /// <summary>Takes verified reports; answers, for each, whether it was new (<see cref="ReportFreshness"/>).</summary>
    [Alias("Report")]
    Task<ReportFreshness[]> Report(IReadOnlyList<HealthSample> samples);

    /// <summary>Counts per child region of <paramref name="region"/> (a region code of this province, children of <paramref name="childLength"/> digits).</summary>
    [Alias("Breakdown")]
    Task<Dictionary<string, FleetCounts>> Breakdown(string region, int childLength, DateTimeOffset now, FleetBounds bounds);

    /// <summary>Devices breaking a rule now, at most <paramref name="limit"/>.</summary>
    [Alias("Conditions")]
    Task<List<DeviceCondition>> Conditions(DateTimeOffset now, FleetBounds bounds, int limit);

    /// <summary>The devices under <paramref name="region"/> (a kecamatan or finer), at most <paramref name="limit"/>.</summary>
    [Alias("Devices")]
    Task<List<DeviceRow>> Devices(string region, DateTimeOffset now, FleetBounds bounds, int limit);

    [Alias("Device")]
    Task<DeviceRow?> Device(string deviceId, DateTimeOffset now, FleetBounds bounds);
}

public sealed class FleetGrain : Grain, IFleetGrain
{
    private sealed class State
    {
        public required string Tps;
        public bool Station;
        public ulong Sequence;
        /// <summary>Bit i: sequence <c>Sequence - i</c> was received (bit 0 is the newest itself).</summary>
        public UInt128 Seen;
        public DateTimeOffset LastSeen;
        public int? BatteryMillivolts, CurrentMilliamps, CpuDeciCelsius, ClockOffsetMilliseconds, LinkRoundTripMilliseconds;
        public int OutboxForms, OutboxOldestSeconds;
        public bool TamperOpen;
        public string AppVersion = "";
        public DateTimeOffset? OnBatterySince;
    }

    private readonly Dictionary<string, State> _devices = new(StringComparer.Ordinal);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // The province's fleet lives in memory: keep it for the night rather than letting an idle hour drop it.
        DelayDeactivation(TimeSpan.FromDays(2));
        return Task.CompletedTask;
    }

    /// <summary>How many sequence numbers below its newest a device's report may still arrive (an outbox keeps 60 routine reports and its events).</summary>
    public const int ReplayWindow = 128;

    public Task<ReportFreshness[]> Report(IReadOnlyList<HealthSample> samples)
    {
        var answers = new ReportFreshness[samples.Count];
        for (int i = 0; i < samples.Count; i++)
        {
            var s = samples[i];
            if (!_devices.TryGetValue(s.DeviceId, out var state)) _devices[s.DeviceId] = state = new State { Tps = string.Intern(s.Tps) };
            else if (s.Sequence <= state.Sequence)
            {
                ulong behind = state.Sequence - s.Sequence;
                if (behind >= ReplayWindow) answers[i] = ReportFreshness.Stale;
                else if ((state.Seen >> (int)behind & UInt128.One) != UInt128.Zero) answers[i] = ReportFreshness.Duplicate;
                else
                {
                    state.Seen |= UInt128.One << (int)behind;
                    answers[i] = ReportFreshness.Older;
                }
                continue;
            }
            ulong ahead = s.Sequence - state.Sequence;
            state.Seen = (ahead >= ReplayWindow ? UInt128.Zero : state.Seen << (int)ahead) | UInt128.One;
            answers[i] = ReportFreshness.Newest;
            if (s.ReceivedAt > state.LastSeen) state.LastSeen = s.ReceivedAt;
            state.Sequence = s.Sequence;
            state.Station = s.Station;
            state.BatteryMillivolts = s.BatteryMillivolts;
            state.CurrentMilliamps = s.CurrentMilliamps;
            state.CpuDeciCelsius = s.CpuDeciCelsius;
            state.ClockOffsetMilliseconds = s.ClockOffsetMilliseconds;
            state.LinkRoundTripMilliseconds = s.LinkRoundTripMilliseconds;
            state.OutboxForms = s.OutboxForms;
            state.OutboxOldestSeconds = s.OutboxOldestSeconds;
            state.TamperOpen = s.TamperOpen;
            state.AppVersion = string.Intern(s.AppVersion);
            bool discharging = s.CurrentMilliamps is { } current && current > 0;
            if (!discharging) state.OnBatterySince = null;
            else state.OnBatterySince ??= s.ReceivedAt; // from the first report that showed it
        }
        return Task.FromResult(answers);
    }

    public Task<Dictionary<string, FleetCounts>> Breakdown(string region, int childLength, DateTimeOffset now, FleetBounds bounds)
    {
        var counts = new Dictionary<string, FleetCounts>(StringComparer.Ordinal);
        foreach (var (_, d) in _devices)
        {
            if (!d.Tps.StartsWith(region, StringComparison.Ordinal) || d.Tps.Length < childLength) continue;
            string child = d.Tps[..childLength];
            if (!counts.TryGetValue(child, out var c)) counts[child] = c = new FleetCounts();
            Count(c, d, now, bounds);
        }
        return Task.FromResult(counts);
    }

    private static void Count(FleetCounts c, State d, DateTimeOffset now, FleetBounds bounds)
    {
        c.Seen++;
        if (now - d.LastSeen > bounds.SilentAfter) c.Silent++;
        else c.Online++;
        if (d.TamperOpen) c.TamperOpen++;
        if (d.BatteryMillivolts is { } mv && mv < bounds.BatteryLowMillivolts) c.BatteryLow++;
        if (d.OnBatterySince is not null && d.CurrentMilliamps > bounds.DischargingAboveMilliamps) c.OnBattery++;
        if (d.ClockOffsetMilliseconds is { } offset && Math.Abs(offset) > bounds.ClockSkew.TotalMilliseconds) c.ClockSkewed++;
        c.OutboxForms += d.OutboxForms;
    }

    public Task<List<DeviceCondition>> Conditions(DateTimeOffset now, FleetBounds bounds, int limit)
    {
        var found = new List<DeviceCondition>();
        foreach (var (id, d) in _devices)
        {
            if (found.Count >= limit) break;
            var silentFor = now - d.LastSeen;
            if (silentFor > bounds.SilentAfter)
                found.Add(new(RuleCodes.DeviceSilent, id, d.Tps, $"Tidak melapor sejak {d.LastSeen:HH:mm} UTC ({(int)silentFor.TotalMinutes} menit)."));
            if (d.TamperOpen)
                found.Add(new(RuleCodes.Tamper, id, d.Tps, "Sakelar casing terbuka pada laporan terakhir."));
            if (d.BatteryMillivolts is { } mv && mv < bounds.BatteryLowMillivolts)
                found.Add(new(RuleCodes.BatteryLow, id, d.Tps, $"Tegangan baterai {mv / 1000.0:0.00} V (batas {bounds.BatteryLowMillivolts / 1000.0:0.00} V)."));
            // How long a silent device has been on its battery nobody knows: that rule judges devices still reporting.
            if (silentFor <= bounds.SilentAfter && d.OnBatterySince is { } since && d.CurrentMilliamps > bounds.DischargingAboveMilliamps && now - since > bounds.OnBatteryAfter)
                found.Add(new(RuleCodes.OnBattery, id, d.Tps, $"Memakai baterai sejak {since:HH:mm} UTC ({d.CurrentMilliamps} mA)."));
            if (d.ClockOffsetMilliseconds is { } offset && Math.Abs(offset) > bounds.ClockSkew.TotalMilliseconds)
                found.Add(new(RuleCodes.ClockSkew, id, d.Tps, $"Jam perangkat berselisih {offset / 1000.0:0.#} detik dari jam pusat."));
        }
        return Task.FromResult(found);
    }

    public Task<List<DeviceRow>> Devices(string region, DateTimeOffset now, FleetBounds bounds, int limit) =>
        Task.FromResult(_devices.Where(p => p.Value.Tps.StartsWith(region, StringComparison.Ordinal))
            .OrderBy(p => p.Value.Tps, StringComparer.Ordinal).ThenBy(p => p.Key, StringComparer.Ordinal)
            .Take(limit).Select(p => Row(p.Key, p.Value, now, bounds)).ToList());

    public Task<DeviceRow?> Device(string deviceId, DateTimeOffset now, FleetBounds bounds) =>
        Task.FromResult(_devices.TryGetValue(deviceId, out var d) ? Row(deviceId, d, now, bounds) : null);

    private static DeviceRow Row(string id, State d, DateTimeOffset now, FleetBounds bounds) => new(
        id, d.Tps, d.Station, d.LastSeen, d.BatteryMillivolts, d.CurrentMilliamps, d.TamperOpen, d.ClockOffsetMilliseconds, d.OutboxForms,
        d.OutboxOldestSeconds, d.LinkRoundTripMilliseconds, d.CpuDeciCelsius, d.AppVersion, d.OnBatterySince,
        d.TamperOpen ? "tamper" : now - d.LastSeen > bounds.SilentAfter ? "silent" : "online");
}
