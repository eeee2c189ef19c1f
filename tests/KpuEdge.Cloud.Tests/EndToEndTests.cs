using System.Text.Json;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Simulator;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// An election in 2,000 real TPS across four provinces, through real MQTT connections, the Orleans silo and the
/// SQLite ledger: the published recap must equal the sum of what the devices signed at every level, and a
/// restart of the cloud must rebuild exactly the same recap from the ledger.
/// </summary>
public sealed class EndToEndTests(CloudFixture fixture) : IClassFixture<CloudFixture>
{
    private const int Seed = 2024;

    [Fact]
    public async Task The_recap_equals_the_sum_of_signed_forms_at_every_level_and_survives_a_restart()
    {
        var simulation = new SimulatedElection(CloudFixture.Tree, CloudFixture.Election, Seed);
        var tps = simulation.PickTps(2000, ["11", "31", "51", "94"]);
        var devices = simulation.Provision(tps, fixture.Pki.Pki);
        await fixture.Cloud.RegisterAsync(devices.Select(d => d.Credentials));

        // Every receipt's inclusion proof is verified by its device against the log key.
        var target = new SimulationTarget(fixture.Cloud.BrokerHost, fixture.Cloud.BrokerPort, fixture.Pki.LogKey);
        var report = await simulation.RunAsync(devices, target, concurrency: 64);
        await fixture.Cloud.Recap.SettleAsync();

        int forms = devices.Sum(d => d.Tallies.Count);
        Assert.Equal(forms, report.FormsSent);
        Assert.Equal(0, report.Failed);
        Assert.Empty(report.Rejected);
        Assert.Equal(forms, report.AcceptedTallies.Count);
        var accepted = report.AcceptedTallies.ToArray();
        await AssertExactEverywhereAsync(accepted, tps);

        // Jakarta has no DPRD Kab/Kota: its TPS send four forms, and the contest's progress excludes them.
        Assert.All(devices.Where(d => d.Identity.Tps.Value.StartsWith("31")), d => Assert.Equal(4, d.Tallies.Count));

        long logSize = fixture.Cloud.Log.Size;
        var rootBefore = fixture.Cloud.Log.Latest.Root;
        await fixture.RestartAsync();
        await AssertExactEverywhereAsync(accepted, tps);
        // The log was rebuilt from the ledger: same entries, same root.
        Assert.Equal(logSize, fixture.Cloud.Log.Size);
        Assert.Equal(rootBefore, fixture.Cloud.Log.Latest.Root);
    }

    private async Task AssertExactEverywhereAsync(IReadOnlyCollection<C1Tally> accepted, IReadOnlyList<TpsCode> tps)
    {
        var regions = new List<RegionCode> { RegionCode.Nasional };
        foreach (var level in new[] { RegionLevel.Provinsi, RegionLevel.KabKota, RegionLevel.Kecamatan })
            regions.AddRange(tps.Select(t => t.Region.AncestorAt(level)).Distinct());
        // Every desa and TPS would be thousands of requests; a deterministic sample of each covers the lowest levels.
        regions.AddRange(tps.Select(t => t.Desa).Distinct().Where((_, i) => i % 25 == 0));
        regions.AddRange(tps.Where((_, i) => i % 100 == 0).Select(t => t.Region));

        var problems = new List<string>();
        foreach (var contest in Contests.All)
        foreach (var region in regions)
        {
            if (region.Level == RegionLevel.Tps) problems.AddRange(await CompareTpsAsync(accepted, contest, region));
            else problems.AddRange(await RecapCheck.CompareAsync(fixture.Http, accepted, contest, region));
        }
        Assert.Empty(problems);
    }

    private async Task<IEnumerable<string>> CompareTpsAsync(IReadOnlyCollection<C1Tally> accepted, ContestId contest, RegionCode tps)
    {
        var tally = accepted.SingleOrDefault(t => t.Contest == contest && t.Tps.Region == tps);
        using var doc = JsonDocument.Parse(await fixture.Http.GetStringAsync($"api/v1/results/{contest.Slug()}/{tps}"));
        var root = doc.RootElement;
        if (tally is null) return root.GetProperty("submission").ValueKind == JsonValueKind.Null ? [] : [$"{tps} {contest.Slug()}: unexpected submission"];
        var problems = new List<string>();
        if (root.GetProperty("administrasi").GetProperty("suara_sah").GetInt64() != tally.SuaraSah) problems.Add($"{tps} {contest.Slug()}: suara_sah");
        if (root.GetProperty("submission").GetProperty("signature").GetString() != "verified") problems.Add($"{tps} {contest.Slug()}: signature");
        return problems;
    }
}
