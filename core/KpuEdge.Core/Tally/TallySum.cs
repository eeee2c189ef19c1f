using KpuEdge.Core.Elections;

namespace KpuEdge.Core.Tally;

/// <summary>
/// The sum of several TPS's forms of one contest, field by field: what a D.Hasil (the kecamatan's recap, signed by its
/// PPK) states, and what the cloud sums from the same forms to check it. Choices are matched by number, candidates by
/// their place on the list.
/// </summary>
public sealed record TallySum : ITallyNumbers
{
    public required ContestId Contest { get; init; }
    /// <summary>How many forms were summed.</summary>
    public required int Forms { get; init; }
    public required GenderCount Dpt { get; init; }
    public required GenderCount PenggunaDpt { get; init; }
    public required GenderCount PenggunaDptb { get; init; }
    public required GenderCount PenggunaDpk { get; init; }
    public required GenderCount PenggunaTotal { get; init; }
    public required GenderCount Disabilitas { get; init; }
    public required BallotPapers Surat { get; init; }
    public required IReadOnlyList<ChoiceVotes> Suara { get; init; }
    public required int SuaraSah { get; init; }
    public required int SuaraTidakSah { get; init; }
    public required int SuaraTotal { get; init; }

    /// <summary>Sums <paramref name="forms"/>, every one of <paramref name="contest"/> (checked); sums that overflow throw.</summary>
    public static TallySum Of(ContestId contest, IEnumerable<ITallyNumbers> forms)
    {
        var counts = new GenderCount[6];
        var surat = new BallotPapers();
        var choices = new SortedDictionary<int, (int Total, int Party, int[] Candidates)>();
        int n = 0, sah = 0, tidakSah = 0, total = 0;
        checked
        {
            foreach (var t in forms)
            {
                if (t.Contest != contest) throw new ArgumentException($"A {t.Contest.Slug()} form in a sum of {contest.Slug()}.", nameof(forms));
                n++;
                GenderCount[] these = [t.Dpt, t.PenggunaDpt, t.PenggunaDptb, t.PenggunaDpk, t.PenggunaTotal, t.Disabilitas];
                for (int i = 0; i < counts.Length; i++)
                    counts[i] = new GenderCount(counts[i].L + these[i].L, counts[i].P + these[i].P, counts[i].Total + these[i].Total);
                surat = new BallotPapers(surat.Diterima + t.Surat.Diterima, surat.Digunakan + t.Surat.Digunakan,
                    surat.Rusak + t.Surat.Rusak, surat.Sisa + t.Surat.Sisa);
                foreach (var choice in t.Suara)
                {
                    var (sum, party, candidates) = choices.GetValueOrDefault(choice.Number, (0, 0, []));
                    if (candidates.Length < choice.CandidateVotes.Length) Array.Resize(ref candidates, choice.CandidateVotes.Length);
                    for (int c = 0; c < choice.CandidateVotes.Length; c++) candidates[c] += choice.CandidateVotes[c];
                    choices[choice.Number] = (sum + choice.Total, party + choice.PartyVotes, candidates);
                }
                sah += t.SuaraSah;
                tidakSah += t.SuaraTidakSah;
                total += t.SuaraTotal;
            }
        }
        return new TallySum
        {
            Contest = contest,
            Forms = n,
            Dpt = counts[0],
            PenggunaDpt = counts[1],
            PenggunaDptb = counts[2],
            PenggunaDpk = counts[3],
            PenggunaTotal = counts[4],
            Disabilitas = counts[5],
            Surat = surat,
            Suara = choices.Select(c => new ChoiceVotes(c.Key, c.Value.Total, c.Value.Party, c.Value.Candidates)).ToList(),
            SuaraSah = sah,
            SuaraTidakSah = tidakSah,
            SuaraTotal = total,
        };
    }

    /// <summary>
    /// The fields where <paramref name="other"/> differs from this sum, named as the form names them
    /// ("suara_sah", "suara.3", "suara.3.caleg.2", "pengguna_total.l"); empty when every number agrees.
    /// </summary>
    public IReadOnlyList<string> Differences(ITallyNumbers other)
    {
        var differences = new List<string>();
        if (other.Contest != Contest) differences.Add("contest");
        void Compare(string name, GenderCount a, GenderCount b)
        {
            if (a.L != b.L) differences.Add(name + ".l");
            if (a.P != b.P) differences.Add(name + ".p");
            if (a.Total != b.Total) differences.Add(name + ".jumlah");
        }
        Compare("dpt", Dpt, other.Dpt);
        Compare("pengguna_dpt", PenggunaDpt, other.PenggunaDpt);
        Compare("pengguna_dptb", PenggunaDptb, other.PenggunaDptb);
        Compare("pengguna_dpk", PenggunaDpk, other.PenggunaDpk);
        Compare("pengguna_total", PenggunaTotal, other.PenggunaTotal);
        Compare("disabilitas", Disabilitas, other.Disabilitas);
        if (Surat != other.Surat) differences.Add("surat_suara");
        var theirs = other.Suara.ToDictionary(c => c.Number);
        foreach (var mine in Suara)
        {
            if (!theirs.Remove(mine.Number, out var their)) { if (mine.Total != 0 || mine.PartyVotes != 0 || mine.CandidateVotes.Any(v => v != 0)) differences.Add($"suara.{mine.Number}"); continue; }
            if (mine.Total != their.Total) differences.Add($"suara.{mine.Number}");
            if (mine.PartyVotes != their.PartyVotes) differences.Add($"suara.{mine.Number}.partai");
            int candidates = Math.Max(mine.CandidateVotes.Length, their.CandidateVotes.Length);
            for (int c = 0; c < candidates; c++)
                if (mine.CandidateVotes.ElementAtOrDefault(c) != their.CandidateVotes.ElementAtOrDefault(c)) differences.Add($"suara.{mine.Number}.caleg.{c + 1}");
        }
        foreach (var extra in theirs.Values)
            if (extra.Total != 0 || extra.PartyVotes != 0 || extra.CandidateVotes.Any(v => v != 0)) differences.Add($"suara.{extra.Number}");
        if (SuaraSah != other.SuaraSah) differences.Add("suara_sah");
        if (SuaraTidakSah != other.SuaraTidakSah) differences.Add("suara_tidak_sah");
        if (SuaraTotal != other.SuaraTotal) differences.Add("suara_total");
        return differences;
    }
}
