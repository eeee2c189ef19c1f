using System.Text.Json;
using System.Text.Json.Serialization;
using KpuEdge.Core.Anomalies;
using KpuEdge.Core.Security;

namespace KpuEdge.Nsoc.Rules;

/// <summary>The stable codes of the NSOC's rules: an incident is keyed on one of them and its subject.</summary>
public static class RuleCodes
{
    public const string DeviceSilent = "device_silent";
    public const string BatteryLow = "battery_low";
    public const string OnBattery = "on_battery";
    public const string Tamper = "tamper";
    public const string ClockSkew = "clock_skew";
    public const string DeviceSecurityEvent = "device_security_event";
    public const string CertificateRefusals = "certificate_refusals";
    public const string ChainIntegrity = "chain_integrity";
    public const string ImageHashMismatch = "image_hash_mismatch";
    public const string DhasilMismatch = "dhasil_mismatch";
    public const string PpkStatementRefused = "ppk_statement_refused";
    public const string RegionStalled = "region_stalled";
    public const string IngestBacklog = "ingest_backlog";
    public const string NumbersAnomaly = "numbers_anomaly";
}

/// <summary>A rule's severity and whether it runs at all.</summary>
public record RuleBase
{
    public SecuritySeverity Severity { get; init; } = SecuritySeverity.Warning;
    public bool Enabled { get; init; } = true;
}

public sealed record SilentRule : RuleBase { public int AfterMinutes { get; init; } = 5; }
public sealed record BatteryLowRule : RuleBase { public int BelowMillivolts { get; init; } = 11_600; }
public sealed record OnBatteryRule : RuleBase
{
    public int AfterMinutes { get; init; } = 120;
    /// <summary>A current above this flows out of the battery: the device is not on mains or solar.</summary>
    public int DischargingAboveMilliamps { get; init; } = 50;
}
public sealed record ClockSkewRule : RuleBase { public int BeyondSeconds { get; init; } = 120; }
public sealed record CountRule : RuleBase
{
    public int AtLeast { get; init; } = 20;
    public int WithinMinutes { get; init; } = 10;
}
public sealed record StalledRule : RuleBase
{
    public int AfterMinutes { get; init; } = 30;
    /// <summary>A region is watched once this share of its TPS reported, and until this share did.</summary>
    public double FromPercent { get; init; } = 1;
    public double UntilPercent { get; init; } = 99;
}
public sealed record BacklogRule : RuleBase
{
    public int GrowingForSeconds { get; init; } = 60;
    public long AtLeast { get; init; } = 1000;
}
public sealed record AnomalyRule : RuleBase
{
    public double DptReservePercent { get; init; } = 2.0;
    public int SingleChoiceMinVotes { get; init; } = 20;
    public double PatternShareGap { get; init; } = 0.5;
    public int PatternMinVotes { get; init; } = 100;
    public int PatternMinForms { get; init; } = 30;
    public double TurnoutGap { get; init; } = 0.3;
    public int TurnoutMinDpt { get; init; } = 100;
    public int CorrectionMinVotes { get; init; } = 10;
    public double CorrectionSharePercent { get; init; } = 10.0;
    public int PhotosGraceMinutes { get; init; } = 60;

    public AnomalyThresholds Thresholds => new()
    {
        DptReservePercent = DptReservePercent, SingleChoiceMinVotes = SingleChoiceMinVotes, PatternShareGap = PatternShareGap,
        PatternMinVotes = PatternMinVotes, PatternMinForms = PatternMinForms, TurnoutGap = TurnoutGap, TurnoutMinDpt = TurnoutMinDpt,
        CorrectionMinVotes = CorrectionMinVotes, CorrectionSharePercent = CorrectionSharePercent, PhotosGraceMinutes = PhotosGraceMinutes,
    };
}

/// <summary>
/// The NSOC's rules as operators tune them (nsoc/rules.json, documented in nsoc/README.md): what raises an alert, at
/// which severity, after how long. Read strictly: an unknown key or a bound out of range stops the start.
/// </summary>
public sealed record NsocRules
{
    public int EvaluateEverySeconds { get; init; } = 5;
    public int FleetEverySeconds { get; init; } = 30;
    /// <summary>The same rule firing again for the same subject within this window counts into its incident, not a new one.</summary>
    public int DedupWindowMinutes { get; init; } = 15;
    public SilentRule DeviceSilent { get; init; } = new();
    public BatteryLowRule BatteryLow { get; init; } = new();
    public OnBatteryRule OnBattery { get; init; } = new() { Severity = SecuritySeverity.Info };
    public RuleBase Tamper { get; init; } = new() { Severity = SecuritySeverity.Critical };
    public ClockSkewRule ClockSkew { get; init; } = new();
    public RuleBase DeviceSecurityEvent { get; init; } = new();
    public CountRule CertificateRefusals { get; init; } = new();
    public RuleBase ChainIntegrity { get; init; } = new() { Severity = SecuritySeverity.Critical };
    public RuleBase ImageHashMismatch { get; init; } = new() { Severity = SecuritySeverity.Critical };
    public RuleBase DhasilMismatch { get; init; } = new() { Severity = SecuritySeverity.Critical };
    public RuleBase PpkStatementRefused { get; init; } = new();
    public StalledRule RegionStalled { get; init; } = new();
    public BacklogRule IngestBacklog { get; init; } = new();
    public AnomalyRule NumbersAnomaly { get; init; } = new() { Severity = SecuritySeverity.Info };

    public TimeSpan EvaluateEvery => TimeSpan.FromSeconds(EvaluateEverySeconds);
    public TimeSpan FleetEvery => TimeSpan.FromSeconds(FleetEverySeconds);
    public TimeSpan DedupWindow => TimeSpan.FromMinutes(DedupWindowMinutes);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        Converters = { new JsonStringEnumConverter<SecuritySeverity>() },
        ReadCommentHandling = JsonCommentHandling.Skip,
    };

    /// <summary>The rules shipped with the NSOC (nsoc/rules.json).</summary>
    public static NsocRules Default()
    {
        using var stream = typeof(NsocRules).Assembly.GetManifestResourceStream("rules.json")
                           ?? throw new InvalidOperationException("The default rules are missing from the assembly.");
        return Parse(new StreamReader(stream).ReadToEnd(), "rules.json (built in)");
    }

    public static NsocRules Load(string path) => Parse(File.ReadAllText(path), path);

    /// <exception cref="InvalidDataException">Not valid JSON, an unknown key, or a bound out of range; the message says which.</exception>
    public static NsocRules Parse(string json, string origin)
    {
        NsocRules? rules;
        try { rules = JsonSerializer.Deserialize<NsocRules>(json, Json); }
        catch (JsonException e) { throw new InvalidDataException($"{origin}: {e.Message}", e); }
        if (rules is null) throw new InvalidDataException($"{origin}: empty.");
        if (rules.Problems() is { Count: > 0 } problems)
            throw new InvalidDataException($"{origin}: " + string.Join(" ", problems));
        return rules;
    }

    public IReadOnlyList<string> Problems()
    {
        var p = new List<string>();
        if (EvaluateEverySeconds is < 1 or > 3600) p.Add("evaluate_every_seconds must be 1–3600.");
        if (FleetEverySeconds is < 1 or > 3600) p.Add("fleet_every_seconds must be 1–3600.");
        if (DedupWindowMinutes is < 1 or > 1440) p.Add("dedup_window_minutes must be 1–1440.");
        if (DeviceSilent.AfterMinutes < 1) p.Add("device_silent.after_minutes must be at least 1.");
        if (BatteryLow.BelowMillivolts is < 1 or > 60_000) p.Add("battery_low.below_millivolts must be 1–60000.");
        if (OnBattery.AfterMinutes < 1) p.Add("on_battery.after_minutes must be at least 1.");
        if (ClockSkew.BeyondSeconds < 1) p.Add("clock_skew.beyond_seconds must be at least 1.");
        if (CertificateRefusals.AtLeast < 1 || CertificateRefusals.WithinMinutes < 1) p.Add("certificate_refusals needs at_least and within_minutes of at least 1.");
        if (RegionStalled.AfterMinutes < 1 || RegionStalled.FromPercent < 0 || RegionStalled.UntilPercent > 100 || RegionStalled.FromPercent >= RegionStalled.UntilPercent)
            p.Add("region_stalled needs after_minutes ≥ 1 and 0 ≤ from_percent < until_percent ≤ 100.");
        if (IngestBacklog.GrowingForSeconds < 1 || IngestBacklog.AtLeast < 1) p.Add("ingest_backlog needs growing_for_seconds and at_least of at least 1.");
        p.AddRange(NumbersAnomaly.Thresholds.Problems().Select(x => "numbers_anomaly." + x));
        return p;
    }
}
