namespace KpuEdge.LinkEmulator;

/// <summary>What the reset model decided for one connection when it was accepted.</summary>
/// <param name="ResetAfterBytes">Reset once the connection has carried this many bytes (both directions); null: never.</param>
/// <param name="ResetAfter">Reset this long after it was accepted; null: never.</param>
internal readonly record struct ConnectionPlan(long? ResetAfterBytes, TimeSpan? ResetAfter)
{
    public static ConnectionPlan For(LinkResets resets, int seed, long connection)
    {
        var random = Randomness.For(seed, connection, Randomness.PlanStream);
        // Every draw is made whatever the settings, so changing one setting does not reshuffle the others.
        double doom = random.NextDouble();
        long afterBytes = random.NextInt64(resets.AfterBytesMin, resets.AfterBytesMax + 1);
        double u = random.NextDouble();

        long? bytes = doom < resets.FractionOfConnections ? afterBytes : null;
        // Exponential lifetime: the same chance of a reset in every connected second.
        TimeSpan? after = resets.MeanTimeBetween is { } mean ? TimeSpan.FromTicks((long)(mean.Ticks * -Math.Log(1 - u))) : null;
        return new ConnectionPlan(bytes, after);
    }
}
