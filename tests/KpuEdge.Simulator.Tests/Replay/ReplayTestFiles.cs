using System.Text;

namespace KpuEdge.Simulator.Tests.Replay;

/// <summary>A temporary folder for one test's replay files, removed afterwards.</summary>
public sealed class ReplayTestFiles : IDisposable
{
    public ReplayTestFiles() => Directory.CreateDirectory(Folder);

    public string Folder { get; } = Path.Combine(Path.GetTempPath(), "kpu-replay-tests", Guid.NewGuid().ToString("N"));

    public string RegistryPath => Path.Combine(Folder, "registry.csv");
    public string ResultsPath => Path.Combine(Folder, "results.csv");

    /// <summary>Writes lines joined by <paramref name="newline"/> (UTF-8, no BOM) and returns the path.</summary>
    public string Write(string name, IEnumerable<string> lines, string newline = "\n")
    {
        string path = Path.Combine(Folder, name);
        File.WriteAllText(path, string.Join(newline, lines) + newline, new UTF8Encoding(false));
        return path;
    }

    public static readonly string RegistryHeader = "tps_code,dpt,province,regency,district,village";

    /// <summary>tps_code,contest,dpt,pengguna_total,suara_sah,suara_tidak_sah,c1 … c24.</summary>
    public static readonly string ResultsHeader = "tps_code,contest,dpt,pengguna_total,suara_sah,suara_tidak_sah," +
                                                  string.Join(',', Enumerable.Range(1, 24).Select(n => $"c{n}"));

    /// <summary>A results row with c1 … c24, the given votes first and the rest empty.</summary>
    public static string Row(string tps, string contest, string dpt, string pengguna, string sah, string tidakSah, params int[] votes) =>
        Row(tps, contest, dpt, pengguna, sah, tidakSah, votes.Select(v => v.ToString()).ToArray());

    public static string Row(string tps, string contest, string dpt, string pengguna, string sah, string tidakSah, string[] votes)
    {
        var cells = new string[24];
        Array.Fill(cells, "");
        votes.CopyTo(cells, 0);
        return $"{tps},{contest},{dpt},{pengguna},{sah},{tidakSah},{string.Join(',', cells)}";
    }

    /// <summary>Votes for the 18 parties of 2024 (numbers 1–17 and 24) as c1 … c24 cells.</summary>
    public static string[] PartyVotes(params int[] eighteen)
    {
        var cells = new string[24];
        Array.Fill(cells, "");
        for (int i = 0; i < 17; i++) cells[i] = eighteen[i].ToString();
        cells[23] = eighteen[17].ToString();
        return cells;
    }

    public void Dispose()
    {
        try { Directory.Delete(Folder, recursive: true); }
        catch (IOException) { }
    }
}
