using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using nietras.SeparatedValues;

namespace KpuEdge.Simulator.Replay;

/// <summary>What <see cref="ReplayFiles.WriteSynthetic"/> writes.</summary>
public sealed record SyntheticReplayOptions
{
    public int Seed { get; init; } = 1;

    /// <summary>The region whose TPS are written (default: the whole nation).</summary>
    public RegionCode Region { get; init; } = RegionCode.Nasional;

    /// <summary>How many of the region's TPS, spread evenly over it in code order; null: every one.</summary>
    public int? TpsCount { get; init; }

    /// <summary>Rows appended to the results that must each be refused, one refusal kind after another.</summary>
    public int BrokenRows { get; init; }

    /// <summary>
    /// Share of good rows with one derivable field left empty (dpt, suara_sah, pengguna_total or suara_tidak_sah), so
    /// the fill rules are exercised; the loaded numbers are the same.
    /// </summary>
    public double EmptyFieldShare { get; init; } = 0.1;

    public ElectionDefinition Election { get; init; } = ElectionDefinition.Default;
}

/// <summary>A deliberately broken row and the refusal the loader must give it.</summary>
public sealed record SyntheticBrokenRow(long Line, ReplayRefusal Expected, string What);

/// <summary>What was written: counts, the broken rows, and the sums of the good rows (what a loader must find).</summary>
public sealed record SyntheticReplay(int TpsCount, long ResultRows, long GoodRows, IReadOnlyList<SyntheticBrokenRow> BrokenRows, ReplayFileSums ExpectedSums);

/// <summary>Writes replay files; see README.md for the formats.</summary>
public static class ReplayFiles
{
    /// <summary>
    /// Writes a registry and a results file for TPS of <paramref name="tree"/> (the 2024 tree, say), with the tree's
    /// names and <see cref="SyntheticTally"/>'s realistic, rule-abiding numbers (deterministic per seed and TPS), one
    /// row per contest held at each TPS. Broken rows (<see cref="SyntheticReplayOptions.BrokenRows"/>) are appended
    /// at the end of the results, each using a TPS of its own (registered but with no good row, or unregistered for
    /// <see cref="ReplayRefusal.UnknownTps"/>) so that it is refused for its own reason and leaves the good rows' sums alone.
    /// </summary>
    public static SyntheticReplay WriteSynthetic(RegionTree tree, string registryPath, string resultsPath, SyntheticReplayOptions? options = null)
    {
        options ??= new SyntheticReplayOptions();
        var election = options.Election;
        var ballots = election.Ballots(tree);
        var random = new Random(options.Seed);

        // The region's TPS spread evenly; broken rows get TPS of their own among them.
        int inRegion = tree.TpsCountOf(options.Region);
        int goodCount = Math.Min(options.TpsCount ?? inRegion, inRegion);
        var picked = options.TpsCount is null && options.BrokenRows == 0
            ? tree.TpsIn(options.Region).ToList()
            : Spread(inRegion, Math.Min(goodCount + options.BrokenRows, inRegion), i => NthTps(tree, options.Region, i));
        var brokenTps = options.BrokenRows == 0 ? [] : Spread(picked.Count, Math.Min(options.BrokenRows, picked.Count / 2), i => picked[i]);
        var kinds = BrokenKinds(tree, options.Region, goodCount > 0);
        var brokenKind = brokenTps.Select((tps, i) => (tps, kinds[i % kinds.Count])).ToDictionary();

        int maxChoice = MaxChoiceNumber(election);
        var resultColumns = ReplayResults.Columns.Concat(Enumerable.Range(1, maxChoice).Select(n => $"c{n}")).ToArray();
        var sums = new ReplayFileSums();
        var dptOf = new Dictionary<TpsCode, int>();
        var registered = new HashSet<TpsCode>();
        long resultRows = 0, goodRows = 0;
        string[]? firstGoodRow = null;

        using (var registry = ReplayCsv.OpenWriter(registryPath))
        using (var results = ReplayCsv.OpenWriter(resultsPath))
        {
            registry.Header.Add(ReplayRegistry.Columns.ToArray());
            results.Header.Add(resultColumns);
            var broken = new List<SyntheticBrokenRow>();

            foreach (var tps in picked)
            {
                var tallies = SyntheticTally.ForTps(tps, ballots, election, options.Seed);
                if (tallies.Count == 0) continue;
                int dpt = tallies[0].Dpt.Total;
                dptOf[tps] = dpt;
                bool isBroken = brokenKind.TryGetValue(tps, out var kind);
                if (!(isBroken && kind == ReplayRefusal.UnknownTps)) WriteRegistryRow(registry, registered, tree, tps, dpt);
                if (isBroken) continue;

                foreach (var tally in tallies)
                {
                    var fields = Fields(tally, maxChoice);
                    if (random.NextDouble() < options.EmptyFieldShare) fields[2 + random.Next(4)] = "";
                    WriteRow(results, fields);
                    resultRows++;
                    goodRows++;
                    firstGoodRow ??= fields;
                    var ballot = ballots.For(tally.Contest, tps)!;
                    sums.Add(tps, ballot, new ReplayNumbers(tally.Dpt.Total, tally.PenggunaTotal.Total, tally.SuaraSah, tally.SuaraTidakSah,
                        tally.Suara.Select(v => v.Total).ToArray()));
                }
            }

            // The broken rows, at the end so their lines are known.
            foreach (var tps in brokenTps)
            {
                var kind = brokenKind[tps];
                var (fields, what) = Broken(kind, tps, tree, ballots, election, options.Seed, maxChoice, dptOf, firstGoodRow!, brokenKind,
                    jakarta => WriteRegistryRow(registry, registered, tree, jakarta, dptOf[jakarta]));
                WriteRow(results, fields);
                resultRows++;
                broken.Add(new SyntheticBrokenRow(resultRows + 1, kind, what));
            }

            return new SyntheticReplay(registered.Count, resultRows, goodRows, broken, sums);
        }
    }

    /// <summary>The largest choice number on any ballot of the election: the results header has c1 … c{that}.</summary>
    public static int MaxChoiceNumber(ElectionDefinition election) =>
        new[] { election.PpwpPairs.Max(p => p.Number), election.DpdCandidatesPerProvince, election.Parties.Max(p => p.Number) }.Max();

    private static List<ReplayRefusal> BrokenKinds(RegionTree tree, RegionCode region, bool hasGoodRows)
    {
        List<ReplayRefusal> kinds =
        [
            ReplayRefusal.BrokenRule, ReplayRefusal.DptDiffers, ReplayRefusal.MissingVotes, ReplayRefusal.ExtraChoice,
            ReplayRefusal.UnknownContest, ReplayRefusal.BadTpsCode, ReplayRefusal.UnknownTps,
            ReplayRefusal.Malformed, ReplayRefusal.MissingField,
        ];
        // A duplicate repeats a good row.
        if (hasGoodRows) kinds.Add(ReplayRefusal.DuplicateForm);
        // DPRD Kab/Kota at a Jakarta TPS needs a Jakarta TPS among the region's.
        if (region.Contains(RegionCode.Parse("31")) && tree.TryGet(RegionCode.Parse("31"), out _)) kinds.Add(ReplayRefusal.ContestNotHeld);
        return kinds;
    }

    private static (string[] Fields, string What) Broken(ReplayRefusal kind, TpsCode tps, RegionTree tree, BallotCatalog ballots,
        ElectionDefinition election, int seed, int maxChoice, Dictionary<TpsCode, int> dptOf, string[] firstGoodRow,
        Dictionary<TpsCode, ReplayRefusal> brokenTps, Action<TpsCode> register)
    {
        var ppwp = SyntheticTally.ForTps(tps, ballots, election, seed).First(t => t.Contest == ContestId.Ppwp);
        var fields = Fields(ppwp, maxChoice);
        const int C1 = 6; // index of c1 in the fields
        switch (kind)
        {
            case ReplayRefusal.BrokenRule:
                fields[C1] = (ppwp.Suara[0].Total + 1).ToString();
                return (fields, "c1 one more than the votes that sum to suara_sah");
            case ReplayRefusal.DptDiffers:
                fields[2] = (dptOf[tps] + 1).ToString();
                return (fields, "dpt one more than the registry's");
            case ReplayRefusal.MissingVotes:
                fields[C1 + 2] = "";
                return (fields, "c3 (pair 3) empty");
            case ReplayRefusal.ExtraChoice:
                fields[C1 + 3] = "5";
                return (fields, "c4 on a PPWP row (three pairs)");
            case ReplayRefusal.UnknownContest:
                fields[1] = "pilkada";
                return (fields, "contest 'pilkada'");
            case ReplayRefusal.BadTpsCode:
                fields[0] = tps.Value[..11];
                return (fields, "an 11-digit TPS code");
            case ReplayRefusal.UnknownTps:
                return (fields, "a TPS left out of the registry");
            case ReplayRefusal.DuplicateForm:
                return (firstGoodRow, "the first good row again");
            case ReplayRefusal.Malformed:
                fields[3] = $"{ppwp.PenggunaTotal.Total}a";
                return (fields, "pengguna_total with a letter");
            case ReplayRefusal.MissingField:
                fields[3] = fields[5] = "";
                return (fields, "pengguna_total and suara_tidak_sah both empty");
            case ReplayRefusal.ContestNotHeld:
                // A Jakarta TPS that is registered (a good one, or registered now), not one kept out for unknown_tps.
                var jakarta = tree.TpsIn(RegionCode.Parse("31")).First(t => !brokenTps.ContainsKey(t) || t == tps);
                if (dptOf.TryAdd(jakarta, ppwp.Dpt.Total)) register(jakarta);
                fields[0] = jakarta.Value;
                fields[1] = ContestId.DprdKabKota.Slug();
                fields[2] = "";
                return (fields, "DPRD Kab/Kota at a Jakarta TPS");
            default:
                throw new ArgumentOutOfRangeException(nameof(kind));
        }
    }

    private static string[] Fields(C1Tally tally, int maxChoice)
    {
        var fields = new string[6 + maxChoice];
        fields[0] = tally.Tps.Value;
        fields[1] = tally.Contest.Slug();
        fields[2] = tally.Dpt.Total.ToString();
        fields[3] = tally.PenggunaTotal.Total.ToString();
        fields[4] = tally.SuaraSah.ToString();
        fields[5] = tally.SuaraTidakSah.ToString();
        for (int i = 6; i < fields.Length; i++) fields[i] = "";
        foreach (var votes in tally.Suara) fields[5 + votes.Number] = votes.Total.ToString();
        return fields;
    }

    private static void WriteRow(SepWriter writer, string[] fields)
    {
        using var row = writer.NewRow();
        for (int i = 0; i < fields.Length; i++) row[i].Set(fields[i]);
    }

    private static void WriteRegistryRow(SepWriter writer, HashSet<TpsCode> registered, RegionTree tree, TpsCode tps, int dpt)
    {
        if (!registered.Add(tps)) return;
        using var row = writer.NewRow();
        row["tps_code"].Set(tps.Value);
        row["dpt"].Format(dpt);
        row["province"].Set(tree.NameOf(tps.Region.AncestorAt(RegionLevel.Provinsi)));
        row["regency"].Set(tree.NameOf(tps.Region.AncestorAt(RegionLevel.KabKota)));
        row["district"].Set(tree.NameOf(tps.Region.AncestorAt(RegionLevel.Kecamatan)));
        row["village"].Set(tree.NameOf(tps.Desa));
    }

    /// <summary><paramref name="count"/> of <paramref name="total"/> items spread evenly, in their order.</summary>
    private static List<T> Spread<T>(int total, int count, Func<int, T> item)
    {
        var picked = new List<T>(count);
        for (int i = 0; i < count; i++) picked.Add(item((int)((long)i * total / count)));
        return picked;
    }

    /// <summary>The region's TPS number <paramref name="index"/> in code order, found by descending through the counts.</summary>
    private static TpsCode NthTps(RegionTree tree, RegionCode region, int index)
    {
        while (region.Level < RegionLevel.Desa)
        {
            foreach (var child in tree[region].Children)
            {
                int count = tree.TpsCountOf(child);
                if (index < count)
                {
                    region = child;
                    break;
                }
                index -= count;
            }
        }
        return TpsCode.Of(region, tree.TpsNumbers(region)[index]);
    }
}
