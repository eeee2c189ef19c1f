namespace KpuEdge.Core.Benchmarks;

/// <summary>
/// docs/benchmarks.md holds one section per benchmark command between markers; each command rewrites its own
/// section and leaves the others as they are.
/// </summary>
public static class BenchmarkFile
{
    public static void WriteSection(string path, string key, string markdown)
    {
        string start = $"<!-- bench:{key}:start -->", end = $"<!-- bench:{key}:end -->";
        string section = $"{start}\n{markdown.TrimEnd()}\n{end}";
        string text = File.Exists(path)
            ? File.ReadAllText(path)
            : "# Benchmarks\n\nMeasured figures, written by the benchmark commands (`./kpu bench`, `kpu-edge bench-read`).\n";
        int s = text.IndexOf(start, StringComparison.Ordinal), e = text.IndexOf(end, StringComparison.Ordinal);
        text = s >= 0 && e > s ? text[..s] + section + text[(e + end.Length)..] : text.TrimEnd() + "\n\n" + section + "\n";
        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        File.WriteAllText(path, text);
    }
}
