using KpuEdge.Core.Regions;

namespace KpuEdge.LinkEmulator.Tests;

public sealed class RegionAssignmentTests
{
    private static readonly LinkProfileSet Set = LinkProfileSet.LoadDefault();

    // A TPS in Papua (91), Jakarta (31) and Aceh (11, no rule): codes shaped like real ones.
    private static readonly RegionCode Papua = RegionCode.Parse("9101010001001");
    private static readonly RegionCode Jakarta = RegionCode.Parse("3171010001001");
    private static readonly RegionCode Aceh = RegionCode.Parse("1101010001001");

    [Fact]
    public void A_device_keeps_its_profile_for_the_same_seed()
    {
        for (int i = 0; i < 200; i++)
        {
            string id = $"dev-{i}";
            Assert.Equal(Set.Regions.ProfileFor(Papua, id, 5), Set.Regions.ProfileFor(Papua, id, 5));
        }
    }

    [Fact]
    public void Another_seed_reshuffles_some_devices()
    {
        var ids = Enumerable.Range(0, 200).Select(i => $"dev-{i}").ToList();
        Assert.NotEqual(ids.Select(id => Set.Regions.ProfileFor(Papua, id, 1)), ids.Select(id => Set.Regions.ProfileFor(Papua, id, 2)));
    }

    [Fact]
    public void Papua_is_mostly_vsat_in_the_proportions_of_the_file()
    {
        var rule = Set.Regions.Rules.First(r => r.Matches(Papua));
        double total = rule.Profiles.Sum(p => p.Weight);
        const int devices = 20_000;
        var counts = Enumerable.Range(0, devices)
            .Select(i => Set.Regions.ProfileFor(Papua, $"dev-9101010001{i:D5}", 3))
            .CountBy(name => name)
            .ToDictionary(kv => kv.Key, kv => kv.Value);

        foreach (var p in rule.Profiles)
        {
            Assert.InRange(counts.GetValueOrDefault(p.Profile) / (double)devices, p.Weight / total - 0.015, p.Weight / total + 0.015);
        }
        Assert.True(counts.Where(kv => kv.Key.StartsWith("vsat", StringComparison.Ordinal)).Sum(kv => kv.Value) > devices / 2);
    }

    [Fact]
    public void Every_Papua_and_Maluku_province_has_a_rule_with_vsat()
    {
        foreach (var province in new[] { "91", "92", "93", "94", "95", "96", "81", "82" })
        {
            var rule = Set.Regions.Rules.FirstOrDefault(r => r.Matches(RegionCode.Parse(province)));
            Assert.NotNull(rule);
            Assert.Contains(rule.Profiles, p => p.Profile.StartsWith("vsat", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Jakarta_never_gets_vsat_and_a_province_without_a_rule_gets_the_default()
    {
        Assert.All(Enumerable.Range(0, 500), i => Assert.DoesNotContain("vsat", Set.Regions.ProfileFor(Jakarta, $"dev-{i}")));
        Assert.All(Enumerable.Range(0, 50), i => Assert.Equal(Set.Regions.DefaultProfile, Set.Regions.ProfileFor(Aceh, $"dev-{i}")));
        Assert.Equal(Set.Regions.DefaultProfile, Set.ProfileFor(Aceh, "dev-x").Name);
    }

    [Fact]
    public void The_first_matching_rule_wins_and_prefixes_match_whole_segments()
    {
        var assignment = new RegionAssignment("slow", [
            new RegionRule([RegionCode.Parse("9101")], [new WeightedProfile("fast", 1)]),
            new RegionRule([RegionCode.Parse("91")], [new WeightedProfile("slow", 1)]),
        ]);

        Assert.Equal("fast", assignment.ProfileFor(RegionCode.Parse("9101010001001"), "d"));
        Assert.Equal("slow", assignment.ProfileFor(RegionCode.Parse("9102010001001"), "d"));
        Assert.Equal("slow", assignment.ProfileFor(RegionCode.Parse("9201010001001"), "d"));
    }
}
