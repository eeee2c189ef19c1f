using KpuEdge.Core.Regions;

namespace KpuEdge.Core.Tests;

public class RegionTreeBuilderTests
{
    private static RegionTreeBuilder SmallTree() => new RegionTreeBuilder()
        .AddRegion(RegionCode.Parse("32"), "JAWA BARAT")
        .AddRegion(RegionCode.Parse("3273"), "KOTA BANDUNG")
        .AddRegion(RegionCode.Parse("327301"), "SUKASARI")
        .AddRegion(RegionCode.Parse("3273011001"), "SUKARASA")
        .AddRegion(RegionCode.Parse("3273011002"), "GEGERKALONG");

    [Fact]
    public void Builds_a_tree_of_named_regions_and_TPS_codes_in_any_order()
    {
        var tree = SmallTree()
            .AddTps(TpsCode.Parse("3273011002001"))
            .AddTps(TpsCode.Parse("3273011001002"))
            .AddTps(TpsCode.Parse("3273011001001"))
            .AddTps(TpsCode.Parse("3273011001901"))
            .Build();

        Assert.Equal(4, tree.TpsTotal);
        Assert.Equal("INDONESIA", tree.Nasional.Name);
        Assert.Equal([RegionCode.Parse("32")], tree.Nasional.Children);
        Assert.Equal("GEGERKALONG", tree.NameOf(RegionCode.Parse("3273011002")));
        Assert.Equal([1, 2, 901], tree.TpsNumbers(RegionCode.Parse("3273011001")));
        Assert.Equal(["3273011001", "3273011002"], tree[RegionCode.Parse("327301")].Children.Select(c => c.Value));
        Assert.Equal(3, tree.TpsCountOf(RegionCode.Parse("3273011001")));
        Assert.Equal(4, tree.TpsCountOf(RegionCode.Parse("32")));
        Assert.True(tree.Contains(TpsCode.Parse("3273011001901")));
        Assert.Equal(1, tree.Count(RegionLevel.Provinsi));
    }

    [Fact]
    public void Refuses_a_region_without_its_parent()
    {
        var builder = new RegionTreeBuilder().AddRegion(RegionCode.Parse("32"), "JAWA BARAT").AddRegion(RegionCode.Parse("327301"), "SUKASARI");
        var error = Assert.Throws<InvalidDataException>(() => builder.Build());
        Assert.Contains("327301 has no parent 3273", error.Message);
    }

    [Fact]
    public void Refuses_a_region_added_twice_a_TPS_added_twice_and_a_TPS_of_an_unknown_desa()
    {
        Assert.Throws<InvalidDataException>(() => SmallTree().AddRegion(RegionCode.Parse("3273"), "BANDUNG"));
        var twice = SmallTree().AddTps(TpsCode.Parse("3273011001001")).AddTps(TpsCode.Parse("3273011001001"));
        Assert.Contains("3273011001001 is added twice", Assert.Throws<InvalidDataException>(() => twice.Build()).Message);
        var orphan = SmallTree().AddTps(TpsCode.Parse("3273011003001"));
        Assert.Contains("unknown desa 3273011003", Assert.Throws<InvalidDataException>(() => orphan.Build()).Message);
    }

    [Fact]
    public void Takes_only_provinsi_to_desa_codes_as_regions()
    {
        Assert.Throws<ArgumentException>(() => new RegionTreeBuilder().AddRegion(RegionCode.Nasional, "X"));
        Assert.Throws<ArgumentException>(() => new RegionTreeBuilder().AddRegion(RegionCode.Parse("3273011001001"), "X"));
        Assert.Throws<InvalidDataException>(() => new RegionTreeBuilder().AddRegion(RegionCode.Parse("32"), " "));
    }
}
