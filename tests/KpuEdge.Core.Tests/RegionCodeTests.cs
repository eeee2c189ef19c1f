using KpuEdge.Core.Regions;

namespace KpuEdge.Core.Tests;

public class RegionCodeTests
{
    [Theory]
    [InlineData("32", RegionLevel.Provinsi)]
    [InlineData("3273", RegionLevel.KabKota)]
    [InlineData("327301", RegionLevel.Kecamatan)]
    [InlineData("3273011001", RegionLevel.Desa)]
    [InlineData("3273011001003", RegionLevel.Tps)]
    [InlineData("1101082007901", RegionLevel.Tps)]
    [InlineData("99", RegionLevel.Provinsi)]
    public void Parses_a_valid_code_at_each_level(string text, RegionLevel level)
    {
        Assert.True(RegionCode.TryParse(text, out var code));
        Assert.Equal(level, code.Level);
        Assert.Equal(text, code.Value);
        Assert.Equal(text, code.ToString());
        Assert.Equal(text.Length, RegionCode.CodeLength(level));
        Assert.Equal(code, RegionCode.Parse(text));
    }

    [Theory]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("nasional")]
    [InlineData("NASIONAL")]
    public void Parses_the_national_root(string text)
    {
        var code = RegionCode.Parse(text);
        Assert.True(code.IsNasional);
        Assert.Equal(RegionLevel.Nasional, code.Level);
        Assert.Equal(RegionCode.Nasional, code);
        Assert.Equal("", code.Value);
        Assert.Equal("0", code.ToString());
    }

    [Theory]
    [InlineData("3")] // wrong lengths
    [InlineData("327")]
    [InlineData("32730")]
    [InlineData("3273011")]
    [InlineData("32730110")]
    [InlineData("327301100")]
    [InlineData("32730110010")]
    [InlineData("327301100100")]
    [InlineData("32730110010031")]
    [InlineData("3a")] // letters and other characters
    [InlineData("32730110O1")]
    [InlineData("327301100A003")]
    [InlineData("-1")]
    [InlineData(" 32")]
    [InlineData("32 ")]
    [InlineData("+3273")]
    [InlineData("3２")] // full-width digit
    [InlineData("٣٢")] // Arabic-Indic digits
    [InlineData("01")] // leading zero province
    [InlineData("0101")]
    [InlineData("00")]
    [InlineData("3200")] // all-zero segments
    [InlineData("327300")]
    [InlineData("3273010000")]
    [InlineData("3273011001000")] // TPS number 000
    [InlineData("0000000000000")]
    [InlineData("nasionalx")]
    public void Rejects_a_malformed_code(string text)
    {
        Assert.False(RegionCode.TryParse(text, out var code));
        Assert.Equal(default, code);
        Assert.Throws<FormatException>(() => RegionCode.Parse(text));
    }

    [Fact]
    public void Rejects_null()
    {
        Assert.False(RegionCode.TryParse(null, out _));
        Assert.False(TpsCode.TryParse(null, out _));
        Assert.Throws<FormatException>(() => RegionCode.Parse(null!));
        Assert.Throws<FormatException>(() => TpsCode.Parse(null!));
    }

    [Fact]
    public void Parent_walks_up_to_the_national_root_which_is_its_own_parent()
    {
        var code = RegionCode.Parse("3273011001003");
        var chain = new List<string>();
        for (int i = 0; i < 6; i++)
        {
            code = code.Parent;
            chain.Add(code.ToString());
        }
        Assert.Equal(["3273011001", "327301", "3273", "32", "0", "0"], chain);
    }

    [Fact]
    public void AncestorAt_cuts_the_code_to_the_level()
    {
        var tps = RegionCode.Parse("3273011001003");
        Assert.Equal(RegionCode.Parse("32"), tps.AncestorAt(RegionLevel.Provinsi));
        Assert.Equal(RegionCode.Parse("3273"), tps.AncestorAt(RegionLevel.KabKota));
        Assert.Equal(RegionCode.Parse("327301"), tps.AncestorAt(RegionLevel.Kecamatan));
        Assert.Equal(RegionCode.Parse("3273011001"), tps.AncestorAt(RegionLevel.Desa));
        Assert.Equal(tps, tps.AncestorAt(RegionLevel.Tps));
        Assert.Equal(RegionCode.Nasional, tps.AncestorAt(RegionLevel.Nasional));
    }

    [Fact]
    public void AncestorAt_a_lower_level_throws()
    {
        var kab = RegionCode.Parse("3273");
        Assert.Throws<ArgumentOutOfRangeException>(() => kab.AncestorAt(RegionLevel.Kecamatan));
        Assert.Throws<ArgumentOutOfRangeException>(() => RegionCode.Nasional.AncestorAt(RegionLevel.Provinsi));
    }

    [Theory]
    [InlineData("0", "3273011001003", true)]
    [InlineData("0", "0", true)]
    [InlineData("32", "3273011001003", true)]
    [InlineData("32", "32", true)]
    [InlineData("3273", "327301", true)]
    [InlineData("327301", "3273011001", true)]
    [InlineData("3273011001", "3273011001003", true)]
    [InlineData("3273011001003", "3273011001003", true)]
    [InlineData("3273011001003", "3273011001004", false)]
    [InlineData("32", "33", false)]
    [InlineData("32", "3374", false)]
    [InlineData("3273", "3274011001003", false)]
    [InlineData("3273011001", "3273011002001", false)]
    [InlineData("3273011001003", "3273011001", false)] // a child does not contain its parent
    [InlineData("3273", "32", false)]
    [InlineData("32", "0", false)]
    public void Contains_holds_for_the_region_itself_and_everything_inside(string outer, string inner, bool expected)
    {
        Assert.Equal(expected, RegionCode.Parse(outer).Contains(RegionCode.Parse(inner)));
    }

    [Fact]
    public void Codes_order_by_their_digits()
    {
        var codes = new[] { "3273011001003", "32", "11", "3273", "0", "3201" }.Select(RegionCode.Parse).Order().Select(c => c.ToString());
        Assert.Equal(["0", "11", "32", "3201", "3273", "3273011001003"], codes);
    }

    [Fact]
    public void TpsCode_parses_13_digits_into_desa_and_number()
    {
        var tps = TpsCode.Parse("3273011001003");
        Assert.Equal("3273011001003", tps.Value);
        Assert.Equal(RegionLevel.Tps, tps.Region.Level);
        Assert.Equal(RegionCode.Parse("3273011001"), tps.Desa);
        Assert.Equal(3, tps.Number);
        Assert.Equal("3273011001003", tps.ToString());
        Assert.Equal(901, TpsCode.Parse("1101082007901").Number);
    }

    [Theory]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("32")]
    [InlineData("3273")]
    [InlineData("327301")]
    [InlineData("3273011001")]
    [InlineData("3273011001000")]
    [InlineData("327301100100A")]
    [InlineData("32730110010031")]
    public void TpsCode_rejects_anything_but_a_TPS_code(string text)
    {
        Assert.False(TpsCode.TryParse(text, out _));
        Assert.Throws<FormatException>(() => TpsCode.Parse(text));
    }

    [Fact]
    public void TpsCode_Of_builds_the_code_from_a_desa_and_a_number()
    {
        var desa = RegionCode.Parse("3273011001");
        Assert.Equal(TpsCode.Parse("3273011001001"), TpsCode.Of(desa, 1));
        Assert.Equal(TpsCode.Parse("3273011001042"), TpsCode.Of(desa, 42));
        Assert.Equal(TpsCode.Parse("3273011001999"), TpsCode.Of(desa, 999));
        Assert.Throws<ArgumentOutOfRangeException>(() => TpsCode.Of(desa, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => TpsCode.Of(desa, 1000));
        Assert.Throws<ArgumentException>(() => TpsCode.Of(RegionCode.Parse("327301"), 1));
    }

    [Fact]
    public void TpsCodes_compare_by_value()
    {
        Assert.Equal(TpsCode.Parse("3273011001003"), TpsCode.Parse("3273011001003"));
        Assert.NotEqual(TpsCode.Parse("3273011001003"), TpsCode.Parse("3273011001004"));
        Assert.True(TpsCode.Parse("3273011001003").CompareTo(TpsCode.Parse("3273011001004")) < 0);
    }
}
