using KpuEdge.Core.Anomalies;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Nsoc.Incidents;
using KpuEdge.Nsoc.Rules;
using Microsoft.Extensions.DependencyInjection;

namespace KpuEdge.Nsoc.Tests;

/// <summary>A genuine form whose numbers look wrong becomes an incident on the wall, counted as signed all the same.</summary>
public sealed class AnomalyIncidentTests(NsocCloud nsoc) : IClassFixture<NsocCloud>
{
    [Fact]
    public async Task A_form_giving_every_valid_vote_to_one_pair_is_counted_and_flagged()
    {
        var tps = NsocFixture.Tree.TpsIn(RegionCode.Parse("3273")).Skip(20).First();
        var forms = SyntheticTally.ForTps(tps, NsocFixture.Election.Ballots(NsocFixture.Tree), NsocFixture.Election, seed: 11)
            .Select(t => t.Contest != ContestId.Ppwp ? t : t with
            {
                Suara = t.Suara.Select((c, i) => c with { Total = i == 1 ? t.SuaraSah : 0 }).ToArray(),
            }).ToList();
        Assert.Empty(C1Validator.Validate(forms.Single(f => f.Contest == ContestId.Ppwp))); // a valid form: signed, counted

        var store = nsoc.Cloud.Services.GetRequiredService<IncidentStore>();
        var filed = store.NextChange;
        var election = new KpuEdge.Simulator.SimulatedElection(NsocFixture.Tree, NsocFixture.Election, seed: 11);
        var devices = election.Provision([(tps, (IReadOnlyList<C1Tally>)forms)], nsoc.Pki.Pki);
        nsoc.Cloud.Register(devices[0].Credentials);
        var sent = await election.RunAsync(devices, new KpuEdge.Simulator.SimulationTarget(nsoc.Cloud.BrokerHost, nsoc.Cloud.BrokerPort, nsoc.Pki.LogKey), 1);
        Assert.Equal(sent.FormsSent, sent.Accepted);

        Incident? incident = null;
        for (var deadline = DateTime.UtcNow.AddSeconds(30); incident is null && DateTime.UtcNow < deadline;)
        {
            await filed.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { });
            filed = store.NextChange;
            incident = (await store.ListAsync(false, 100)).FirstOrDefault(i => i.Rule == RuleCodes.NumbersAnomaly && i.Region == tps.Value);
        }
        Assert.NotNull(incident);
        Assert.Equal($"{AnomalyRules.SingleChoiceAllVotes}:{tps.Value}:{ContestId.Ppwp}", incident.Subject);
        Assert.Equal(KpuEdge.Core.Security.SecuritySeverity.Info, incident.Severity);
        Assert.Contains("pilihan nomor 2", incident.Detail);
    }
}
