using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;

namespace KpuEdge.Core.Tally;

/// <summary>
/// Realistic, rule-abiding C.Hasil numbers for a TPS (DPT up to 300, 70–90% turnout, a few DPTb/DPK
/// voters, 1–5% invalid ballots). Deterministic per (seed, TPS): the simulator and tests use it.
/// </summary>
public static class SyntheticTally
{
    // Rough national shares: PPWP 2024 and the larger parties, so totals look like an election.
    private static readonly double[] PairWeights = [25, 58, 17];

    /// <summary>The tallies of every contest held at <paramref name="tps"/>; voter numbers are shared, votes differ.</summary>
    public static IReadOnlyList<C1Tally> ForTps(TpsCode tps, BallotCatalog ballots, ElectionDefinition election, int seed)
    {
        var random = new Random(StableHash(tps.Value) ^ seed);
        int dptL = random.Next(70, 151), dptP = random.Next(70, 151);
        int useL = (int)(dptL * (0.70 + random.NextDouble() * 0.20));
        int useP = (int)(dptP * (0.70 + random.NextDouble() * 0.20));
        var dptb = GenderCount.Of(random.Next(0, 4), random.Next(0, 4));
        var dpk = GenderCount.Of(random.Next(0, 3), random.Next(0, 3));
        var penggunaDpt = GenderCount.Of(useL, useP);
        var pengguna = GenderCount.Of(useL + dptb.L + dpk.L, useP + dptb.P + dpk.P);
        var disabilitas = GenderCount.Of(random.Next(0, 3), random.Next(0, 3));
        int dptTotal = dptL + dptP;
        int received = dptTotal + (int)Math.Ceiling(dptTotal * 0.02);

        var tallies = new List<C1Tally>();
        foreach (var contest in election.ContestsAt(tps))
        {
            var ballot = ballots.For(contest, tps);
            if (ballot is null) continue;
            int rusak = random.Next(0, 3);
            int used = pengguna.Total;
            int tidakSah = (int)(used * (0.01 + random.NextDouble() * 0.04));
            int sah = used - tidakSah;
            tallies.Add(new C1Tally
            {
                Contest = contest,
                Tps = tps,
                Dpt = GenderCount.Of(dptL, dptP),
                PenggunaDpt = penggunaDpt,
                PenggunaDptb = dptb,
                PenggunaDpk = dpk,
                PenggunaTotal = pengguna,
                Disabilitas = disabilitas,
                Surat = new BallotPapers(received, used, rusak, received - used - rusak),
                Suara = Votes(random, ballot, sah),
                SuaraSah = sah,
                SuaraTidakSah = tidakSah,
                SuaraTotal = used,
            });
        }
        return tallies;
    }

    private static ChoiceVotes[] Votes(Random random, Ballot ballot, int sah)
    {
        int n = ballot.Choices.Count;
        var weights = new double[n];
        for (int i = 0; i < n; i++)
        {
            double baseWeight = ballot.Contest == ContestId.Ppwp && i < PairWeights.Length ? PairWeights[i] : 10.0 / (1 + i % 7);
            weights[i] = baseWeight * (0.5 + random.NextDouble());
        }
        var totals = Split(random, sah, weights);
        var votes = new ChoiceVotes[n];
        for (int i = 0; i < n; i++)
        {
            var choice = ballot.Choices[i];
            if (choice.CandidateCount == 0)
            {
                votes[i] = new ChoiceVotes(choice.Number, totals[i]);
                continue;
            }
            // About a third of party ballots are marked on the party alone, the rest on a candidate.
            int partyOnly = (int)(totals[i] * (0.2 + random.NextDouble() * 0.2));
            var candidateWeights = Enumerable.Range(0, choice.CandidateCount).Select(c => (0.05 + random.NextDouble()) / (1 + c)).ToArray();
            var candidates = Split(random, totals[i] - partyOnly, candidateWeights);
            votes[i] = new ChoiceVotes(choice.Number, totals[i], partyOnly, candidates);
        }
        return votes;
    }

    /// <summary>Splits <paramref name="amount"/> into whole parts proportional to the weights, summing exactly.</summary>
    private static int[] Split(Random random, int amount, double[] weights)
    {
        double sum = weights.Sum();
        var parts = new int[weights.Length];
        int given = 0;
        for (int i = 0; i < weights.Length; i++)
        {
            parts[i] = (int)Math.Floor(amount * weights[i] / sum);
            given += parts[i];
        }
        for (int rest = amount - given; rest > 0; rest--) parts[random.Next(parts.Length)]++;
        return parts;
    }

    private static int StableHash(string text)
    {
        // string.GetHashCode is randomised per process; the simulator must be reproducible.
        unchecked
        {
            int hash = (int)2166136261;
            foreach (char c in text) hash = (hash ^ c) * 16777619;
            return hash;
        }
    }
}
