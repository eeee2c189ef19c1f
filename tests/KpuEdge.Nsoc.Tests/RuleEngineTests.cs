using KpuEdge.Core.Regions;
using KpuEdge.Core.Security;
using KpuEdge.Nsoc.Fleet;
using KpuEdge.Nsoc.Incidents;
using KpuEdge.Nsoc.Rules;
using Microsoft.Extensions.Time.Testing;

namespace KpuEdge.Nsoc.Tests;

/// <summary>The rules on a recorded night of telemetry, with a fake clock: each fires when its bound is crossed, not before.</summary>
public sealed class RuleEngineTests
{
    private static readonly NsocRules Rules = NsocRules.Default();
    private static readonly FleetBounds Bounds = FleetBounds.From(Rules);
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2024, 2, 14, 7, 0, 0, TimeSpan.Zero));

    /// <summary>
    /// Minute, device, battery mV, current mA (positive: from the battery), case open, clock offset ms — as three devices
    /// of a Jayapura kecamatan reported them: "steady" the whole time, "fading" draining until it falls silent after
    /// minute 10, "solar" on battery from the start (its panel in the rain).
    /// </summary>
    private const string RecordedNight = """
        0,steady,12600,-200,0,150
        0,fading,11900,320,0,90
        0,solar,12400,180,0,-40
        5,steady,12610,-210,0,140
        5,fading,11750,330,0,95
        5,solar,12350,185,0,-35
        10,steady,12600,-190,0,150
        10,fading,11580,340,0,100
        10,solar,12290,190,0,-30
        60,steady,12590,-200,0,160
        60,solar,12000,200,0,-20
        119,steady,12600,-200,0,150
        119,solar,11950,210,0,-25
        121,steady,12600,-200,1,170000
        121,solar,11940,210,0,-20
        """;

    private async Task<FleetGrain> PlayAsync(FleetGrain fleet, int untilMinute, Dictionary<string, ulong> sequences)
    {
        var start = new DateTimeOffset(2024, 2, 14, 7, 0, 0, TimeSpan.Zero);
        foreach (var line in RecordedNight.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var f = line.Split(',');
            int minute = int.Parse(f[0]);
            if (minute > untilMinute || start.AddMinutes(minute) <= _played) continue;
            var at = start.AddMinutes(minute);
            if (at > _clock.GetUtcNow()) _clock.SetUtcNow(at);
            ulong sequence = sequences[f[1]] = sequences.GetValueOrDefault(f[1]) + 1;
            await fleet.Report([new HealthSample(f[1], "9171040001004", false, sequence, at, at, int.Parse(f[2]), int.Parse(f[3]), 450, 0, 0,
                int.Parse(f[5]), 600, f[4] == "1", "1.0")]);
        }
        _played = start.AddMinutes(untilMinute);
        return fleet;
    }

    private DateTimeOffset _played = DateTimeOffset.MinValue;

    private async Task<List<Alert>> AlertsAtAsync(FleetGrain fleet, RuleEngine engine, int minute, Dictionary<string, ulong> sequences)
    {
        await PlayAsync(fleet, minute, sequences);
        _clock.SetUtcNow(new DateTimeOffset(2024, 2, 14, 7, 0, 0, TimeSpan.Zero).AddMinutes(minute));
        var now = _clock.GetUtcNow();
        return engine.FromConditions(await fleet.Conditions(now, Bounds, 100), now).ToList();
    }

    [Fact]
    public async Task A_recorded_night_raises_each_fleet_rule_when_its_bound_is_crossed()
    {
        var fleet = new FleetGrain();
        var engine = new RuleEngine(Rules, NsocFixture.Tree);
        var sequences = new Dictionary<string, ulong>();

        var at10 = await AlertsAtAsync(fleet, engine, 10, sequences);
        Assert.Equal([("fading", RuleCodes.BatteryLow)], at10.Select(a => (a.Subject, a.Rule)));   // 11.58 V < 11.6 V
        Assert.All(at10, a => Assert.Equal(SecuritySeverity.Warning, a.Severity));

        var at15 = await AlertsAtAsync(fleet, engine, 15, sequences);
        Assert.DoesNotContain(at15, a => a.Rule == RuleCodes.DeviceSilent);                        // 5 min: not yet
        var at16 = await AlertsAtAsync(fleet, engine, 16, sequences);
        Assert.Contains(at16, a => a.Rule == RuleCodes.DeviceSilent && a.Subject == "fading");      // silent after 5 min

        var at119 = await AlertsAtAsync(fleet, engine, 119, sequences);
        Assert.DoesNotContain(at119, a => a.Rule == RuleCodes.OnBattery);                           // 119 min on battery
        var at121 = await AlertsAtAsync(fleet, engine, 121, sequences);
        var onBattery = Assert.Single(at121, a => a.Rule == RuleCodes.OnBattery);
        Assert.Equal("solar", onBattery.Subject);
        Assert.Equal(SecuritySeverity.Info, onBattery.Severity);
        Assert.Contains(at121, a => a.Rule == RuleCodes.Tamper && a.Subject == "steady" && a.Severity == SecuritySeverity.Critical);
        Assert.Contains(at121, a => a.Rule == RuleCodes.ClockSkew && a.Subject == "steady");        // 170 s > 120 s
        Assert.DoesNotContain(at121, a => a.Rule == RuleCodes.ClockSkew && a.Subject != "steady");
    }

    [Fact]
    public void Certificate_refusals_from_one_address_raise_an_alert_at_the_rules_count_within_its_window()
    {
        var engine = new RuleEngine(Rules, NsocFixture.Tree);
        var t = _clock.GetUtcNow();
        SecurityEvent Refusal(DateTimeOffset at, string source, int repeats = 0) => new()
        {
            Ts = at, Kind = SecurityEventKinds.CertificateRefused, Severity = SecuritySeverity.Warning, Source = SecurityEventSources.Broker, Detail = "unknown_issuer",
            Evidence = repeats == 0 ? new Dictionary<string, string> { ["source"] = source }
                : new Dictionary<string, string> { ["source"] = source, ["repeats_since_last_report"] = repeats.ToString() },
        };
        // 19 from one address (each from another port) within ten minutes: not yet; the 20th: an alert keyed on the address.
        for (int i = 0; i < 19; i++) Assert.Null(engine.FromEvent(Refusal(t.AddSeconds(i * 20), $"10.8.0.5:{40000 + i}")));
        var alert = engine.FromEvent(Refusal(t.AddSeconds(19 * 20), "10.8.0.5:41999"));
        Assert.Equal(RuleCodes.CertificateRefusals, alert!.Rule);
        Assert.Equal("10.8.0.5", alert.Subject);
        // Spread beyond the window they do not add up; a throttled report counts its repeats.
        Assert.Null(engine.FromEvent(Refusal(t.AddHours(1), "10.8.0.6:1")));
        Assert.Null(engine.FromEvent(Refusal(t.AddHours(2), "10.8.0.6:2")));
        Assert.NotNull(engine.FromEvent(Refusal(t.AddHours(2).AddSeconds(1), "10.8.0.6:3", repeats: 30)));
    }

    [Fact]
    public void A_D_Hasil_that_differs_from_its_forms_is_a_critical_alert_per_kecamatan_and_contest_and_a_refused_statement_a_warning()
    {
        var engine = new RuleEngine(Rules, NsocFixture.Tree);
        SecurityEvent Mismatch(string contest) => new()
        {
            Ts = _clock.GetUtcNow(), Kind = SecurityEventKinds.DhasilMismatch, Severity = SecuritySeverity.Critical, Source = SecurityEventSources.Ingest,
            DeviceId = "ppk-917101", Subject = "917101", Detail = "differs in suara_sah",
            Evidence = new Dictionary<string, string> { ["contest"] = contest, ["differences"] = "suara_sah" },
        };
        var ppwp = engine.FromEvent(Mismatch("ppwp"))!;
        Assert.Equal((RuleCodes.DhasilMismatch, SecuritySeverity.Critical, "917101:ppwp", "917101"), (ppwp.Rule, ppwp.Severity, ppwp.Subject, ppwp.Region));
        Assert.Contains("D.Hasil kecamatan 917101 (ppwp)", ppwp.Title);
        Assert.Equal("917101:dpr", engine.FromEvent(Mismatch("dpr"))!.Subject);
        var refused = engine.FromEvent(new SecurityEvent
        {
            Ts = _clock.GetUtcNow(), Kind = SecurityEventKinds.PpkStatementRefused, Severity = SecuritySeverity.Critical, Source = SecurityEventSources.Ingest,
            DeviceId = "ppk-917102", Subject = "917101", Detail = "another kecamatan's certificate",
            Evidence = new Dictionary<string, string> { ["reason"] = "station_not_assigned" },
        })!;
        Assert.Equal((RuleCodes.PpkStatementRefused, SecuritySeverity.Warning, "ppk-917102:station_not_assigned"), (refused.Rule, refused.Severity, refused.Subject));
    }

    [Fact]
    public void A_province_whose_count_stops_moving_is_stalled_after_the_rules_minutes_and_a_growing_backlog_is_flagged()
    {
        var engine = new RuleEngine(Rules, NsocFixture.Tree);
        var t0 = _clock.GetUtcNow();
        var papua = (int)(NsocFixture.Tree.TpsCountOf(RegionCode.Parse("91")) * 0.4);
        var progress = new Dictionary<string, long> { ["91"] = papua, ["32"] = 10 };
        Assert.Empty(engine.JudgeProgress(progress, t0));
        Assert.Empty(engine.JudgeProgress(progress, t0.AddMinutes(29)));
        var stalled = engine.JudgeProgress(progress, t0.AddMinutes(30)).ToList();
        Assert.Equal(["91"], stalled.Select(a => a.Subject)); // Jawa Barat's 10 TPS are below the 1 % it starts watching at
        progress["91"] = papua + 1;
        Assert.Empty(engine.JudgeProgress(progress, t0.AddMinutes(31)));

        NodeStats Node(int seconds, long backlog) => new("n1", t0.AddSeconds(seconds), 0, 0, backlog, 100, 1, 0, 0, 0, 0, false);
        engine.Node(Node(0, 500));
        engine.Node(Node(30, 1_500));
        Assert.Empty(engine.JudgeNodes(t0.AddSeconds(30)));
        engine.Node(Node(60, 2_500));
        Assert.Equal(["n1"], engine.JudgeNodes(t0.AddSeconds(60)).Select(a => a.Subject));
        engine.Node(Node(90, 2_000)); // draining again
        Assert.Empty(engine.JudgeNodes(t0.AddSeconds(90)));
    }

    [Fact]
    public void Chain_events_are_critical_and_image_refusals_only_for_a_hash_mismatch()
    {
        var engine = new RuleEngine(Rules, NsocFixture.Tree);
        SecurityEvent Event(string kind, params (string, string)[] evidence) => new()
        {
            Ts = _clock.GetUtcNow(), Kind = kind, Severity = SecuritySeverity.Critical, Source = SecurityEventSources.Ingest, DeviceId = "dev-1",
            Tps = "9171040001004", Detail = "d", Evidence = evidence.ToDictionary(e => e.Item1, e => e.Item2),
        };
        var fork = engine.FromEvent(Event(SecurityEventKinds.ChainFork));
        Assert.Equal((RuleCodes.ChainIntegrity, SecuritySeverity.Critical, "chain_fork:dev-1"), (fork!.Rule, fork.Severity, fork.Subject));
        Assert.NotNull(engine.FromEvent(Event(SecurityEventKinds.ImageRefused, ("reason", "hash_mismatch"))));
        Assert.Null(engine.FromEvent(Event(SecurityEventKinds.ImageRefused, ("reason", "unknown_image"))));
        Assert.Null(engine.FromEvent(Event(SecurityEventKinds.ChainGap)));
        Assert.Equal(RuleCodes.Tamper, engine.FromEvent(Event(DeviceEventKindsInLedger.Tamper))!.Rule);
    }
}
