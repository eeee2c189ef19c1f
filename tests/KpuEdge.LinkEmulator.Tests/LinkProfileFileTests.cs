namespace KpuEdge.LinkEmulator.Tests;

public sealed class LinkProfileFileTests
{
    private static readonly string SourceFile = Path.Combine(AppContext.BaseDirectory, "link-profiles.json");

    [Fact]
    public void The_shipped_file_loads_with_every_profile_valid()
    {
        var set = LinkProfileSet.LoadDefault();

        Assert.Superset(new HashSet<string> { "fibre", "4g", "vsat-3t", "vsat-3t-bad" }, set.Profiles.Select(p => p.Name).ToHashSet());
        Assert.All(set.Profiles, p => p.Validate());
        Assert.All(set.Profiles, p => Assert.False(string.IsNullOrWhiteSpace(p.Description)));
    }

    [Fact]
    public void The_profiles_say_what_the_links_are()
    {
        var set = LinkProfileSet.LoadDefault();

        var fibre = set["fibre"];
        Assert.Null(fibre.UpBytesPerSecond);
        Assert.Null(fibre.DownBytesPerSecond);
        Assert.True(fibre.Latency <= TimeSpan.FromMilliseconds(5));

        var mobile = set["4g"];
        Assert.Equal(5_000_000 / 8, mobile.UpBytesPerSecond);
        Assert.Equal(20_000_000 / 8, mobile.DownBytesPerSecond);

        var vsat = set["vsat-3t"];
        Assert.True(2 * vsat.Latency >= TimeSpan.FromMilliseconds(600), "a geostationary round trip is 600 ms or more");
        Assert.Equal(TimeSpan.FromMilliseconds(50), vsat.Jitter);
        Assert.Equal(32_000 / 8, vsat.UpBytesPerSecond);
        Assert.Equal(64_000 / 8, vsat.DownBytesPerSecond);

        var bad = set["vsat-3t-bad"];
        Assert.Equal(0.2, bad.Resets.FractionOfConnections);
        Assert.NotEmpty(bad.Outages);
        Assert.True(bad.IsDown(bad.Outages[0].Start, out var end));
        Assert.Equal(bad.Outages[0].End, end);
        Assert.False(bad.IsDown(bad.Outages[0].End, out _));
    }

    [Fact]
    public void The_file_on_disk_loads_the_same_as_the_embedded_one()
    {
        var fromDisk = LinkProfileSet.Load(SourceFile);
        var embedded = LinkProfileSet.LoadDefault();

        Assert.Equal(embedded.Profiles.Select(p => p with { Outages = [] }), fromDisk.Profiles.Select(p => p with { Outages = [] }));
        Assert.Equal(embedded.Profiles.SelectMany(p => p.Outages), fromDisk.Profiles.SelectMany(p => p.Outages));
        Assert.Equal(embedded.Regions.Rules.Count, fromDisk.Regions.Rules.Count);
    }

    [Theory]
    [InlineData("""{ "profiles": [ { "name": "a", "latency_ms": 10, "jitter_ms": 20 } ], "regions": { "default": "a" } }""", "jitter exceeds the latency")]
    [InlineData("""{ "profiles": [ { "name": "a", "latency": 10 } ], "regions": { "default": "a" } }""", "latency")]
    [InlineData("""{ "profiles": [ { "name": "a", "up_kbit_s": 0 } ], "regions": { "default": "a" } }""", "up rate")]
    [InlineData("""{ "profiles": [ { "name": "a" }, { "name": "a" } ], "regions": { "default": "a" } }""", "defined twice")]
    [InlineData("""{ "profiles": [ { "name": "a" } ], "regions": { "default": "b" } }""", "'b' is not defined")]
    [InlineData("""{ "profiles": [ { "name": "a" } ], "regions": { "default": "a", "rules": [ { "regions": ["91"], "profiles": { "vsat": 1 } } ] } }""", "'vsat' is not defined")]
    [InlineData("""{ "profiles": [ { "name": "a" } ], "regions": { "default": "a", "rules": [ { "regions": ["9x"], "profiles": { "a": 1 } } ] } }""", "not a region code")]
    [InlineData("""{ "profiles": [ { "name": "a" } ], "regions": { "default": "a", "rules": [ { "regions": ["91"], "profiles": { "a": 0 } } ] } }""", "must be positive")]
    [InlineData("""{ "profiles": [ { "name": "a", "resets": { "fraction_of_connections": 1.5 } } ], "regions": { "default": "a" } }""", "within 0..1")]
    [InlineData("""{ "profiles": [ { "name": "a", "resets": { "after_bytes": [10] } } ], "regions": { "default": "a" } }""", "[min, max]")]
    [InlineData("""{ "profiles": [ { "name": "a", "outages": [ { "start_s": 10, "end_s": 30 }, { "start_s": 20, "end_s": 40 } ] } ], "regions": { "default": "a" } }""", "overlaps")]
    [InlineData("""{ "profiles": [ { "name": "a", "outages": [ { "start_s": 10, "end_s": 10 } ] } ], "regions": { "default": "a" } }""", "does not end after it starts")]
    [InlineData("""{ "profiles": [ { "name": "a" } ] }""", "regions")]
    public void A_file_that_makes_no_sense_is_refused_saying_why(string json, string why)
    {
        var e = Assert.Throws<InvalidDataException>(() => LinkProfileSet.Parse(json));
        Assert.Contains(why, e.Message);
    }

    [Fact]
    public void An_unknown_profile_name_lists_the_known_ones()
    {
        var e = Assert.Throws<KeyNotFoundException>(() => LinkProfileSet.LoadDefault()["vsat"]);
        Assert.Contains("vsat-3t", e.Message);
    }
}
