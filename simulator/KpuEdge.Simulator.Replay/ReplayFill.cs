using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;

namespace KpuEdge.Simulator.Replay;

/// <summary>
/// The numbers one results row gives, as written: null where the field is empty. <see cref="Votes"/>[i] is the
/// <c>c{i+1}</c> column, the votes of ballot number i + 1 (a PPWP pair, a DPD candidate, or a party's total).
/// </summary>
public sealed record ResultRow(
    TpsCode Tps,
    ContestId Contest,
    int? Dpt,
    int? PenggunaTotal,
    int? SuaraSah,
    int? SuaraTidakSah,
    IReadOnlyList<int?> Votes);

/// <summary>
/// A results row completed by the fill rules: every number of the row known. <see cref="Votes"/> follow the ballot's
/// choices in order (<see cref="Ballot.Choices"/>), which is how <see cref="ReplayFileSums"/> adds them up.
/// </summary>
public sealed record ReplayNumbers(int Dpt, int PenggunaTotal, int SuaraSah, int SuaraTidakSah, int[] Votes);

/// <summary>
/// Turns what a results row gives into a whole C.Hasil tally, never changing a given number (see README.md, "Fill
/// rules"). Two steps: <see cref="TryComplete"/> derives the row's own empty fields from the others or refuses,
/// <see cref="ToTally"/> fills the form's fields the file does not carry. <see cref="ReplayResults"/> then runs
/// <see cref="C1Validator"/> on the tally and refuses a row that still breaks a rule.
/// </summary>
public static class ReplayFill
{
    /// <summary>
    /// Completes a row against the TPS's ballot and registered DPT: <c>dpt</c> empty → the registry's; given and
    /// different → refused. Every ballot choice needs its <c>cN</c>; a <c>cN</c> for a number not on the ballot is
    /// refused. <c>suara_sah</c> empty → Σ cN; <c>pengguna_total</c> empty → sah + tidak sah; <c>suara_tidak_sah</c>
    /// empty → pengguna_total − sah; both of the last two empty → refused.
    /// </summary>
    public static bool TryComplete(ResultRow row, Ballot ballot, int registryDpt, out ReplayNumbers numbers, out ReplayRefusal refusal, out string reason)
    {
        (var completed, refusal, reason) = Complete(row, ballot, registryDpt);
        numbers = completed!;
        return completed is not null;
    }

    private static (ReplayNumbers?, ReplayRefusal, string) Complete(ResultRow row, Ballot ballot, int registryDpt)
    {
        static (ReplayNumbers?, ReplayRefusal, string) Refuse(ReplayRefusal why, string text) => (null, why, text);

        if (row.Dpt is { } given && given != registryDpt)
            return Refuse(ReplayRefusal.DptDiffers, $"dpt {given} differs from the registry's {registryDpt}.");
        int dpt = registryDpt;

        for (int i = 0; i < row.Votes.Count; i++)
        {
            if (row.Votes[i] is not null && ballot.Choice(i + 1) is null)
                return Refuse(ReplayRefusal.ExtraChoice, $"c{i + 1} = {row.Votes[i]}, but number {i + 1} is not on the {ballot.Contest.Slug()} ballot here ({Numbers(ballot)}).");
        }
        var votes = new int[ballot.Choices.Count];
        long votesSum = 0;
        for (int i = 0; i < votes.Length; i++)
        {
            int number = ballot.Choices[i].Number;
            if (number > row.Votes.Count || row.Votes[number - 1] is not { } v)
                return Refuse(ReplayRefusal.MissingVotes, $"c{number} is empty: number {number} is on the {ballot.Contest.Slug()} ballot here ({Numbers(ballot)}) and votes are never invented.");
            votes[i] = v;
            votesSum += v;
        }

        int sah = row.SuaraSah ?? (int)Math.Min(votesSum, int.MaxValue);
        int pengguna, tidakSah;
        switch (row.PenggunaTotal, row.SuaraTidakSah)
        {
            case ({ } p, { } t):
                (pengguna, tidakSah) = (p, t);
                break;
            case (null, { } t):
                (pengguna, tidakSah) = (Add(sah, t), t);
                break;
            case ({ } p, null):
                if (p < sah)
                    return Refuse(ReplayRefusal.BrokenRule, $"suara_tidak_sah is empty and cannot be pengguna_total − suara_sah = {p} − {sah} < 0 ({C1Validator.Rules.SuaraTotalIsPengguna}).");
                (pengguna, tidakSah) = (p, p - sah);
                break;
            default:
                return Refuse(ReplayRefusal.MissingField, "pengguna_total and suara_tidak_sah are both empty: one of them is needed.");
        }
        return (new ReplayNumbers(dpt, pengguna, sah, tidakSah, votes), default, "");
    }

    /// <summary>
    /// The form's fields from a completed row: DPT, users and their kinds split between L and P, disabled voters,
    /// ballot papers; the given numbers go where they belong unchanged. Users up to the DPT count as DPT users,
    /// those beyond it as DPTb (moved-in voters); DPK and disabled voters 0; each count split L = ⌈n/2⌉, P = ⌊n/2⌋.
    /// Ballot papers received = DPT + 2% spare (rounded up, at most 999) or pengguna_total if more; used =
    /// pengguna_total; damaged 0; unused the rest. Party contests: the file gives a party's total, so it is recorded
    /// as the party's own votes and every listed candidate gets 0.
    /// </summary>
    public static C1Tally ToTally(TpsCode tps, Ballot ballot, ReplayNumbers numbers)
    {
        int dpt = numbers.Dpt, pengguna = numbers.PenggunaTotal;
        int fromDpt = Math.Clamp(pengguna, 0, Math.Max(dpt, 0));
        int dptb = pengguna - fromDpt;
        var penggunaDpt = Split(fromDpt);
        var penggunaDptb = Split(dptb);
        int received = Math.Max(Math.Min(dpt + (dpt * 2 + 99) / 100, C1Validator.MaxValue), pengguna);

        var suara = new ChoiceVotes[ballot.Choices.Count];
        for (int i = 0; i < suara.Length; i++)
        {
            var choice = ballot.Choices[i];
            int total = numbers.Votes[i];
            suara[i] = choice.CandidateCount == 0
                ? new ChoiceVotes(choice.Number, total)
                : new ChoiceVotes(choice.Number, total, PartyVotes: total, CandidateVotes: new int[choice.CandidateCount]);
        }

        return new C1Tally
        {
            Contest = ballot.Contest,
            Tps = tps,
            Dpt = Split(dpt),
            PenggunaDpt = penggunaDpt,
            PenggunaDptb = penggunaDptb,
            PenggunaDpk = default,
            PenggunaTotal = GenderCount.Of(penggunaDpt.L + penggunaDptb.L, penggunaDpt.P + penggunaDptb.P),
            Disabilitas = default,
            Surat = new BallotPapers(received, pengguna, 0, received - pengguna),
            Suara = suara,
            SuaraSah = numbers.SuaraSah,
            SuaraTidakSah = numbers.SuaraTidakSah,
            SuaraTotal = Add(numbers.SuaraSah, numbers.SuaraTidakSah),
        };
    }

    /// <summary>Numbers far beyond 999 are refused by the validator's range rule; they must not wrap around first.</summary>
    private static int Add(int a, int b) => (int)Math.Min((long)a + b, int.MaxValue);

    /// <summary>L = ⌈n/2⌉, P = ⌊n/2⌋: a count within another stays within it for each sex too.</summary>
    private static GenderCount Split(int total) => GenderCount.Of(total - total / 2, total / 2);

    private static string Numbers(Ballot ballot)
    {
        var numbers = ballot.Choices.Select(c => c.Number).ToArray();
        bool consecutive = numbers.Select((n, i) => n - i).Distinct().Count() == 1;
        return consecutive ? $"{numbers[0]}–{numbers[^1]}" : string.Join(", ", numbers);
    }
}
