using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;

namespace KpuEdge.Simulator.Replay;

/// <summary>
/// An election loaded from a registry file and a results file: the region tree, the accepted forms, every refused row
/// of both files, and the sums computed straight from the file. What <c>kpu-sim replay</c> sends and checks.
/// </summary>
public sealed class ReplayElection
{
    private ReplayElection(ReplayRegistry registry, ElectionDefinition election, IReadOnlyList<ReplayForm> forms,
        IReadOnlyList<RefusedRow> refused, ReplayFileSums sums, long resultRows, TimeSpan resultsReadTime)
    {
        Registry = registry;
        Election = election;
        Forms = forms;
        Refused = refused;
        FileSums = sums;
        ResultRows = resultRows;
        ResultsReadTime = resultsReadTime;
    }

    public ReplayRegistry Registry { get; }
    public RegionTree Tree => Registry.Tree;
    public ElectionDefinition Election { get; }

    /// <summary>The accepted forms in file order: one filled tally per (TPS, contest), each passing C1Validator.</summary>
    public IReadOnlyList<ReplayForm> Forms { get; }

    /// <summary>Refused rows of the registry, then of the results, each in file order.</summary>
    public IReadOnlyList<RefusedRow> Refused { get; }

    /// <summary>National and per-province totals of the accepted rows, summed straight from the file's numbers.</summary>
    public ReplayFileSums FileSums { get; }

    /// <summary>Data rows of the results file (accepted and refused).</summary>
    public long ResultRows { get; }

    /// <summary>How long reading, filling and validating the results took (for rows/s).</summary>
    public TimeSpan ResultsReadTime { get; }

    /// <summary>
    /// Loads both files; <paramref name="election"/> (default: Pemilu 2024) says which choices each contest's ballot has.
    /// Keeps every accepted form in memory (about 0.5 KB for PPWP, 2 KB for a party contest); for a whole nation's
    /// 4 million forms, stream them with <see cref="ReplayResults.Read(string, ReplayRegistry, ElectionDefinition, ReplayFileSums?)"/> instead.
    /// </summary>
    public static ReplayElection Load(string registryPath, string resultsPath, ElectionDefinition? election = null)
    {
        election ??= ElectionDefinition.Default;
        var registry = ReplayRegistry.Load(registryPath);
        var sums = new ReplayFileSums();
        var forms = new List<ReplayForm>();
        var refused = new List<RefusedRow>(registry.Refused);
        long rows = 0;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        foreach (var outcome in ReplayResults.Read(resultsPath, registry, election, sums))
        {
            rows++;
            if (outcome is ReplayForm form) forms.Add(form);
            else refused.Add((RefusedRow)outcome);
        }
        return new ReplayElection(registry, election, forms, refused, sums, rows, watch.Elapsed);
    }
}
