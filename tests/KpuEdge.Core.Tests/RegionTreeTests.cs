using KpuEdge.Core.Regions;

namespace KpuEdge.Core.Tests;

public class RegionTreeTests
{
    private static readonly RegionTree Tree = RegionTree.LoadEmbedded();

    [Theory]
    [InlineData(RegionLevel.Nasional, 1)]
    [InlineData(RegionLevel.Provinsi, 38)]
    [InlineData(RegionLevel.KabKota, 514)]
    [InlineData(RegionLevel.Kecamatan, 7_277)]
    [InlineData(RegionLevel.Desa, 83_731)]
    [InlineData(RegionLevel.Tps, 820_161)]
    public void Holds_the_2024_counts_of_every_level(RegionLevel level, int expected)
    {
        Assert.Equal(expected, Tree.Count(level));
    }

    [Fact]
    public void Counts_820161_TPS_in_all()
    {
        Assert.Equal(820_161, Tree.TpsTotal);
        Assert.Equal(820_161, Tree.Nasional.TpsCount);
        Assert.Equal(820_161, Tree.TpsCountOf(RegionCode.Nasional));
        Assert.Equal(38, Tree.Nasional.Children.Count);
    }

    [Fact]
    public void Is_loaded_once_and_shared()
    {
        Assert.Same(Tree, RegionTree.LoadEmbedded());
    }

    [Fact]
    public void Knows_Jawa_Barat_and_Kota_Bandung_with_parent_and_children()
    {
        var jabar = Tree[RegionCode.Parse("32")];
        Assert.Equal("JAWA BARAT", jabar.Name);
        Assert.Equal(RegionLevel.Provinsi, jabar.Level);
        Assert.Equal(27, jabar.Children.Count);
        Assert.Contains(RegionCode.Parse("3273"), jabar.Children);
        Assert.All(jabar.Children, c => Assert.Equal(jabar.Code, c.Parent));
        Assert.Contains(jabar.Code, Tree.Nasional.Children);

        var bandung = Tree[RegionCode.Parse("3273")];
        Assert.Equal("KOTA BANDUNG", bandung.Name);
        Assert.Equal(jabar.Code, bandung.Code.Parent);
        Assert.Equal(30, bandung.Children.Count);
        Assert.Equal(RegionCode.Parse("327301"), bandung.Children[0]);
        Assert.Equal("SUKASARI", Tree.NameOf(RegionCode.Parse("327301")));
        Assert.Equal("SUKARASA", Tree.NameOf(RegionCode.Parse("3273011001")));
        Assert.Equal(7_424, bandung.TpsCount);
    }

    [Fact]
    public void Children_are_in_code_order()
    {
        var children = Tree[RegionCode.Parse("32")].Children;
        Assert.Equal(children.Order(), children);
    }

    [Fact]
    public void Knows_a_desa_with_TPS_numbered_from_901()
    {
        var desa = RegionCode.Parse("1101082007"); // PASAR: tps_numbers 1-2;901-901
        Assert.Equal("PASAR", Tree.NameOf(desa));
        Assert.Equal([1, 2, 901], Tree.TpsNumbers(desa));
        Assert.Equal(3, Tree.TpsCountOf(desa));
        Assert.True(Tree.Contains(TpsCode.Parse("1101082007901")));
        Assert.True(Tree.Contains(TpsCode.Parse("1101082007002")));
        Assert.False(Tree.Contains(TpsCode.Parse("1101082007003")));
        Assert.False(Tree.Contains(TpsCode.Parse("1101082007902")));
        Assert.Equal(1, Tree.TpsCountOf(RegionCode.Parse("1101082007901")));
        Assert.Equal(0, Tree.TpsCountOf(RegionCode.Parse("1101082007903")));
        Assert.Equal("TPS 901", Tree.NameOf(RegionCode.Parse("1101082007901")));
    }

    [Fact]
    public void Contains_only_TPS_that_exist()
    {
        Assert.True(Tree.Contains(TpsCode.Parse("3273011001001")));
        Assert.True(Tree.Contains(TpsCode.Parse("3273011001041")));
        Assert.False(Tree.Contains(TpsCode.Parse("3273011001042")));
        Assert.False(Tree.Contains(TpsCode.Parse("3273019999001"))); // no such desa
        Assert.False(Tree.Contains(TpsCode.Parse("9901011001001"))); // overseas: not in the tree
    }

    [Fact]
    public void Loads_a_quoted_name_with_a_comma()
    {
        var desa = Tree[RegionCode.Parse("1207281007")];
        Assert.Equal("LUBUK PAKAM I,II", desa.Name);
        Assert.Equal(RegionLevel.Desa, desa.Level);
        Assert.Equal("LUBUK PAKAM", Tree.NameOf(desa.Code.Parent));
        Assert.Equal(22, Tree.TpsCountOf(desa.Code));
        Assert.Equal("LUBUK PAKAM III", Tree.NameOf(RegionCode.Parse("1207281008")));
    }

    [Fact]
    public void TpsIn_and_TpsCountOf_agree_for_a_kecamatan()
    {
        var sukasari = RegionCode.Parse("327301");
        var tps = Tree.TpsIn(sukasari).ToList();
        Assert.Equal(232, tps.Count);
        Assert.Equal(Tree.TpsCountOf(sukasari), tps.Count);
        Assert.Equal(tps.Order(), tps);
        Assert.Equal(tps.Count, tps.Distinct().Count());
        Assert.All(tps, t => Assert.True(sukasari.Contains(t.Region) && Tree.Contains(t)));
        Assert.Equal(TpsCode.Parse("3273011001001"), tps[0]);
    }

    [Fact]
    public void TpsIn_and_TpsCountOf_agree_for_every_kecamatan_of_a_province()
    {
        foreach (var kab in Tree[RegionCode.Parse("31")].Children)
        foreach (var kec in Tree[kab].Children)
        {
            Assert.Equal(Tree.TpsCountOf(kec), Tree.TpsIn(kec).Count());
        }
    }

    [Fact]
    public void TpsCounts_of_children_add_up_to_the_parent()
    {
        foreach (var prov in Tree.Nasional.Children)
        {
            Assert.Equal(Tree.TpsCountOf(prov), Tree[prov].Children.Sum(Tree.TpsCountOf));
        }
        Assert.Equal(Tree.TpsTotal, Tree.Nasional.Children.Sum(Tree.TpsCountOf));
    }

    [Fact]
    public void ChildrenOf_a_desa_are_its_TPS()
    {
        var desa = RegionCode.Parse("1101082007");
        Assert.Equal(["1101082007001", "1101082007002", "1101082007901"], Tree.ChildrenOf(desa).Select(c => c.Value));
        Assert.Empty(Tree.ChildrenOf(RegionCode.Parse("3273019999")));
    }

    [Fact]
    public void An_unknown_region_is_reported()
    {
        var unknown = RegionCode.Parse("3299");
        Assert.False(Tree.TryGet(unknown, out _));
        Assert.Throws<KeyNotFoundException>(() => Tree[unknown]);
        Assert.Equal(0, Tree.TpsCountOf(unknown));
        Assert.Empty(Tree.TpsIn(unknown));
    }
}
