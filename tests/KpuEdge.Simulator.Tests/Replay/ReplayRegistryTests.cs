using KpuEdge.Core.Regions;
using KpuEdge.Simulator.Replay;

namespace KpuEdge.Simulator.Tests.Replay;

public class ReplayRegistryTests : IDisposable
{
    private readonly ReplayTestFiles _files = new();

    public void Dispose() => _files.Dispose();

    private ReplayRegistry Load(params string[] rows) =>
        ReplayRegistry.Load(_files.Write("registry.csv", [ReplayTestFiles.RegistryHeader, .. rows]));

    [Fact]
    public void Builds_the_region_tree_from_the_code_prefixes_with_the_names_given_codes_need_not_be_2024s()
    {
        var registry = Load(
            "9501021003001,250,PAPUA TENGAH BARU,KAB CONTOH,DISTRIK SATU,KAMPUNG A",
            "9501021003002,240,PAPUA TENGAH BARU,KAB CONTOH,DISTRIK SATU,KAMPUNG A",
            "9501021004901,12,PAPUA TENGAH BARU,KAB CONTOH,DISTRIK SATU,KAMPUNG B",
            "3273011001001,300,JAWA BARAT,KOTA BANDUNG,SUKASARI,SUKARASA");

        Assert.Empty(registry.Refused);
        Assert.Equal(4, registry.TpsCount);
        var tree = registry.Tree;
        Assert.Equal(4, tree.TpsTotal);
        Assert.Equal(["32", "95"], tree.Nasional.Children.Select(c => c.Value));
        Assert.Equal("PAPUA TENGAH BARU", tree.NameOf(RegionCode.Parse("95")));
        Assert.Equal("KAB CONTOH", tree.NameOf(RegionCode.Parse("9501")));
        Assert.Equal("DISTRIK SATU", tree.NameOf(RegionCode.Parse("950102")));
        Assert.Equal("KAMPUNG B", tree.NameOf(RegionCode.Parse("9501021004")));
        Assert.Equal([1, 2], tree.TpsNumbers(RegionCode.Parse("9501021003")));
        Assert.Equal(3, tree.TpsCountOf(RegionCode.Parse("95")));
        Assert.True(tree.Contains(TpsCode.Parse("9501021004901")));
        Assert.Equal(12, registry.DptOf(TpsCode.Parse("9501021004901")));
        Assert.Equal(300, registry.DptOf(TpsCode.Parse("3273011001001")));
        Assert.False(registry.TryGetDpt(TpsCode.Parse("3273011001002"), out _));
    }

    [Fact]
    public void Reads_RFC_4180_quoting_names_with_commas_and_quotes_and_CRLF_line_ends()
    {
        string path = _files.Write("registry.csv",
        [
            ReplayTestFiles.RegistryHeader,
            "1207281007001,210,SUMATERA UTARA,DELI SERDANG,LUBUK PAKAM,\"LUBUK PAKAM I,II\"",
            "1207281008001,220,\"SUMATERA UTARA\",DELI SERDANG,LUBUK PAKAM,\"KAMPUNG \"\"BARU\"\", HILIR\"",
            "\"1207281008002\",\"230\",SUMATERA UTARA,DELI SERDANG,LUBUK PAKAM,\"KAMPUNG \"\"BARU\"\", HILIR\"",
        ], newline: "\r\n");

        var registry = ReplayRegistry.Load(path);

        Assert.Empty(registry.Refused);
        Assert.Equal(3, registry.TpsCount);
        Assert.Equal("LUBUK PAKAM I,II", registry.Tree.NameOf(RegionCode.Parse("1207281007")));
        Assert.Equal("KAMPUNG \"BARU\", HILIR", registry.Tree.NameOf(RegionCode.Parse("1207281008")));
        Assert.Equal(230, registry.DptOf(TpsCode.Parse("1207281008002")));
    }

    [Fact]
    public void A_name_with_a_line_break_inside_quotes_is_one_field_and_later_lines_keep_their_numbers()
    {
        var registry = Load(
            "1207281007001,210,SUMATERA UTARA,DELI SERDANG,LUBUK PAKAM,\"LUBUK PAKAM\nI,II\"",
            "bad,1,A,B,C,D");

        Assert.Equal("LUBUK PAKAM\nI,II", registry.Tree.NameOf(RegionCode.Parse("1207281007")));
        Assert.Equal(4, Assert.Single(registry.Refused).Line);
    }

    [Fact]
    public void Refuses_each_bad_row_with_its_line_and_reason_and_loads_the_rest()
    {
        var registry = Load(
            "3273011001001,250,JAWA BARAT,KOTA BANDUNG,SUKASARI,SUKARASA",       // 2: good
            "327301100100,250,JAWA BARAT,KOTA BANDUNG,SUKASARI,SUKARASA",        // 3: 12 digits
            "3273011001000,250,JAWA BARAT,KOTA BANDUNG,SUKASARI,SUKARASA",       // 4: TPS number 000
            "3273011001001,250,JAWA BARAT,KOTA BANDUNG,SUKASARI,SUKARASA",       // 5: duplicate of line 2
            "3273011001002,1000,JAWA BARAT,KOTA BANDUNG,SUKASARI,SUKARASA",      // 6: dpt beyond 999
            "3273011001003,-5,JAWA BARAT,KOTA BANDUNG,SUKASARI,SUKARASA",        // 7: negative dpt
            "3273011001004,250,JAWA BARAT,KOTA BANDUNG,SUKASARI,SUKA RASA",      // 8: village named otherwise than on line 2
            "3273011002001,250,JAWA BARAT,BANDUNG,SUKASARI,GEGERKALONG",         // 9: regency named otherwise
            "3273011002002,250,JAWA BARAT,KOTA BANDUNG,SUKASARI,",               // 10: empty village
            "3273011002003,250,JAWA BARAT,KOTA BANDUNG,SUKASARI",                // 11: five fields
            "3273011002004,240,JAWA BARAT,KOTA BANDUNG,SUKASARI,GEGERKALONG");   // 12: good: the village named here first

        Assert.Equal(11, registry.Rows);
        Assert.Equal(["3273011001001", "3273011002004"], registry.Tps.Select(t => t.Tps.Value));
        var refused = registry.Refused.ToDictionary(r => r.Line);
        Assert.Equal([3, 4, 5, 6, 7, 8, 9, 10, 11], refused.Keys.Order());
        Assert.All(refused.Values, r => Assert.Equal(ReplayFile.Registry, r.File));
        Assert.Equal(ReplayRefusal.BadTpsCode, refused[3].Refusal);
        Assert.Contains("'327301100100'", refused[3].Reason);
        Assert.Equal(ReplayRefusal.BadTpsCode, refused[4].Refusal);
        Assert.Equal(ReplayRefusal.DuplicateTps, refused[5].Refusal);
        Assert.Contains("line 2", refused[5].Reason);
        Assert.Equal(ReplayRefusal.Malformed, refused[6].Refusal);
        Assert.Contains("'1000'", refused[6].Reason);
        Assert.Equal(ReplayRefusal.Malformed, refused[7].Refusal);
        Assert.Equal(ReplayRefusal.NameConflict, refused[8].Refusal);
        Assert.Equal("village 3273011001 is 'SUKA RASA' here but 'SUKARASA' on line 2.", refused[8].Reason);
        Assert.Equal(TpsCode.Parse("3273011001004"), refused[8].Tps);
        Assert.Equal(ReplayRefusal.NameConflict, refused[9].Refusal);
        Assert.Contains("regency 3273 is 'BANDUNG' here but 'KOTA BANDUNG' on line 2", refused[9].Reason);
        Assert.Equal(ReplayRefusal.Malformed, refused[10].Refusal);
        Assert.Contains("village of 3273011002 is empty", refused[10].Reason);
        Assert.Equal(ReplayRefusal.Malformed, refused[11].Refusal);
        Assert.Contains("5 fields, the header has 6", refused[11].Reason);
        Assert.Equal("GEGERKALONG", registry.Tree.NameOf(RegionCode.Parse("3273011002")));
        Assert.Equal("registry line 8 TPS 3273011001004: name_conflict — village 3273011001 is 'SUKA RASA' here but 'SUKARASA' on line 2.", refused[8].ToString());
    }

    [Fact]
    public void A_header_without_a_column_or_with_an_unknown_one_fails_the_whole_file()
    {
        var missing = _files.Write("a.csv", ["tps_code,dpt,province,regency,district", "3273011001001,250,A,B,C"]);
        var error = Assert.Throws<InvalidDataException>(() => ReplayRegistry.Load(missing));
        Assert.Contains("lacks column 'village'", error.Message);
        var extra = _files.Write("b.csv", [ReplayTestFiles.RegistryHeader + ",kecamatan_id", "3273011001001,250,A,B,C,D,1"]);
        Assert.Contains("unexpected column 'kecamatan_id'", Assert.Throws<InvalidDataException>(() => ReplayRegistry.Load(extra)).Message);
        var empty = _files.Write("c.csv", []);
        Assert.Throws<InvalidDataException>(() => ReplayRegistry.Load(empty));
    }

    [Fact]
    public void Column_order_and_header_case_are_free()
    {
        var registry = ReplayRegistry.Load(_files.Write("registry.csv",
        [
            "Village,District,Regency,Province,DPT,TPS_CODE",
            "SUKARASA,SUKASARI,KOTA BANDUNG,JAWA BARAT,250,3273011001001",
        ]));
        Assert.Equal(250, registry.DptOf(TpsCode.Parse("3273011001001")));
        Assert.Equal("SUKARASA", registry.Tree.NameOf(RegionCode.Parse("3273011001")));
    }
}
