namespace KpuEdge.Simulator;

/// <summary>The simulator's one percentile: nearest rank over an already sorted sample (0 for none).</summary>
public static class Percentiles
{
    public static double Of(double[] sorted, double q) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(sorted.Length * q))];
}
