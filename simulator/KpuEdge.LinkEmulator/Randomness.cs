namespace KpuEdge.LinkEmulator;

/// <summary>
/// Independent seeded streams per (seed, connection number, use), so a connection's fate does not depend on how
/// many random numbers another connection or direction happened to draw.
/// </summary>
internal static class Randomness
{
    public const int PlanStream = 0;

    public static int StreamFor(LinkDirection direction) => 1 + (int)direction;

    public static Random For(int seed, long connection, int stream)
    {
        // SplitMix64's finaliser spreads nearby inputs (connection 1, 2, 3 ...) over the whole seed space.
        ulong x = unchecked(((ulong)(uint)seed << 32) ^ ((ulong)connection * 0x9E3779B97F4A7C15UL) ^ ((ulong)stream * 0xD1B54A32D192ED03UL));
        x = unchecked((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL);
        x = unchecked((x ^ (x >> 27)) * 0x94D049BB133111EBUL);
        x ^= x >> 31;
        return new Random(unchecked((int)(x ^ (x >> 32))));
    }
}
