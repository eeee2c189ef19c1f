using KpuEdge.Core.Security;
using KpuEdge.Nsoc.Rules;

namespace KpuEdge.Nsoc.Tests;

public sealed class RulesFileTests
{
    [Fact]
    public void The_shipped_rules_file_reads_and_holds_together()
    {
        var rules = NsocRules.Default();
        Assert.Empty(rules.Problems());
        Assert.Equal(5, rules.DeviceSilent.AfterMinutes);
        Assert.Equal(SecuritySeverity.Critical, rules.Tamper.Severity);
        Assert.Equal(SecuritySeverity.Critical, rules.ChainIntegrity.Severity);
        Assert.Equal(2.0, rules.NumbersAnomaly.DptReservePercent);
        // The repository's copy is the one documented and embedded.
        string repository = Path.Combine(AppContext.BaseDirectory, "../../../../../nsoc/rules.json");
        Assert.Equal(NsocRules.Load(repository), rules);
    }

    [Fact]
    public void A_misspelled_key_stops_the_start_with_its_name()
    {
        var e = Assert.Throws<InvalidDataException>(() => NsocRules.Parse("""{ "device_silent": { "after_minuts": 3 } }""", "test.json"));
        Assert.Contains("after_minuts", e.Message);
        Assert.StartsWith("test.json", e.Message);
    }

    [Theory]
    [InlineData("""{ "device_silent": { "after_minutes": 0 } }""", "device_silent.after_minutes")]
    [InlineData("""{ "region_stalled": { "from_percent": 50, "until_percent": 10 } }""", "region_stalled")]
    [InlineData("""{ "numbers_anomaly": { "pattern_share_gap": 2 } }""", "pattern_share_gap")]
    [InlineData("""{ "evaluate_every_seconds": 0 }""", "evaluate_every_seconds")]
    [InlineData("""{ "tamper": { "severity": "loud" } }""", "")]
    [InlineData("""not json""", "")]
    public void Out_of_range_or_unreadable_rules_are_refused(string json, string names)
    {
        var e = Assert.Throws<InvalidDataException>(() => NsocRules.Parse(json, "rules.json"));
        Assert.Contains(names, e.Message);
    }
}
