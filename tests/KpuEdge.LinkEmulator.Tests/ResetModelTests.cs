namespace KpuEdge.LinkEmulator.Tests;

public sealed class ResetModelTests
{
    private static readonly LinkResets Bad = LinkProfileSet.LoadDefault()["vsat-3t-bad"].Resets;

    [Fact]
    public void About_the_configured_share_of_connections_is_doomed_each_within_the_byte_range()
    {
        var plans = Enumerable.Range(1, 5_000).Select(n => ConnectionPlan.For(Bad, 1, n)).ToList();
        var doomed = plans.Where(p => p.ResetAfterBytes is not null).ToList();

        Assert.InRange(doomed.Count / 5_000.0, Bad.FractionOfConnections - 0.02, Bad.FractionOfConnections + 0.02);
        Assert.All(doomed, p => Assert.InRange(p.ResetAfterBytes!.Value, Bad.AfterBytesMin, Bad.AfterBytesMax));
    }

    [Fact]
    public void Lifetimes_average_the_mean_time_between_resets()
    {
        var mean = Bad.MeanTimeBetween!.Value;
        double average = Enumerable.Range(1, 5_000).Average(n => ConnectionPlan.For(Bad, 1, n).ResetAfter!.Value.TotalSeconds);
        Assert.InRange(average, mean.TotalSeconds * 0.93, mean.TotalSeconds * 1.07);
    }

    [Fact]
    public void A_seed_and_connection_number_fix_the_fate_and_another_seed_changes_it()
    {
        var first = Enumerable.Range(1, 200).Select(n => ConnectionPlan.For(Bad, 17, n)).ToList();
        var again = Enumerable.Range(1, 200).Select(n => ConnectionPlan.For(Bad, 17, n)).ToList();
        var other = Enumerable.Range(1, 200).Select(n => ConnectionPlan.For(Bad, 18, n)).ToList();

        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
    }

    [Fact]
    public void Without_resets_configured_no_connection_is_doomed()
    {
        Assert.All(Enumerable.Range(1, 100), n => Assert.Equal(new ConnectionPlan(null, null), ConnectionPlan.For(LinkResets.None, 1, n)));
    }
}
