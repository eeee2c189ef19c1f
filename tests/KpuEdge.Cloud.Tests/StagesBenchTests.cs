using KpuEdge.Simulator;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// `kpu-sim bench stages` with tiny counts: every stage runs through its real component and yields a figure, the sums
/// and the election-night model hold together, and the section is written. No timing is asserted: a probe throws when
/// its stage does not do its job (a form refused, not accepted, not delivered, a connection refused).
/// </summary>
public sealed class StagesBenchTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"kpu-stages-{Guid.NewGuid():N}");

    [Fact]
    public async Task Measures_every_stage_of_a_form_and_records_the_nodes_election_night_needs()
    {
        var settings = new StagesBench.Settings
        {
            Forms = 40, Handshakes = 6, Postgres = false, Seed = 5,
            DataDirectory = Path.Combine(_folder, "data"), FleetDirectory = Path.Combine(_folder, "fleet"), Output = Path.Combine(_folder, "benchmarks.md"),
        };

        var report = await StagesBench.MeasureAsync(settings, _ => { }, CancellationToken.None);

        foreach (var measured in new[] { report.MqttIn, report.MqttWithReceipts, report.DecodeVerify, report.Check, report.Validator,
                     report.Log.Appends, report.Log.Proofs, report.Log.Signed, report.Log.Verified, report.GrainsPath, report.Handshakes })
        {
            Assert.True(measured.Count > 0 && measured.PerSecond > 0, $"{measured}");
            Assert.True(measured.Cpu >= TimeSpan.Zero, $"{measured}");
        }
        Assert.Equal(40, report.DecodeVerify.Count);
        Assert.Equal(6, report.Handshakes.Count);
        Assert.Equal(StagesBench.Batches, report.Ledger.Select(r => r.Batch));
        Assert.All(report.Ledger, r => Assert.True(r.Backend == "SQLite" && r.Commits > 0 && r.Forms.PerSecond > 0, $"{r}"));
        Assert.Equal(report.Ledger[0].Forms.Count, report.Ledger[0].Commits); // one form, one commit
        Assert.NotNull(report.PostgresSkipped);
        Assert.True(report.SumMicros > 0 && report.NodeCeiling > 0 && report.HandshakesPerNode > 0);

        // The model: the registry's forms (four contests in Jakarta), a busiest minute within a night's reach.
        Assert.InRange(report.Night.Forms, 4_000_000, 4_100_805);
        Assert.Equal(820_161, report.Night.Devices);
        Assert.InRange(report.Night.PeakMinutePerSecond, report.Night.Forms / (24 * 3600.0), report.Night.Forms / 3600.0);
        Assert.True(report.Night.PeakMinutePerSecond >= report.Night.PeakHourPerSecond);

        StagesBench.Record(report, settings.Output);
        string text = File.ReadAllText(settings.Output);
        Assert.Contains("<!-- bench:stages:start -->", text);
        Assert.Contains("## Capacity by stage", text);
        Assert.Contains("| 7. handshakes |", text);
        Assert.Contains("the whole election in 15 minutes", text);
        Assert.Contains("PostgreSQL: skipped", text);
    }

    public void Dispose()
    {
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }
}
