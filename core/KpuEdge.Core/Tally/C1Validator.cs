using KpuEdge.Core.Elections;

namespace KpuEdge.Core.Tally;

/// <summary>A broken consistency rule, naming the field a human must look at.</summary>
/// <param name="Field">Path of the field, e.g. <c>pengguna_total.l</c> or <c>suara[3].total</c>.</param>
/// <param name="Rule">Stable rule code for logs and receipts, e.g. <c>votes_sum_equals_suara_sah</c>.</param>
/// <param name="Message">What is wrong, in Bahasa Indonesia for the KPPS/PPK operator.</param>
public sealed record Violation(string Field, string Rule, string Message)
{
    public override string ToString() => $"{Field}: {Rule} — {Message}";
}

/// <summary>
/// The one implementation of the C.Hasil consistency rules, used by the TPS device, the PPK station and
/// the cloud alike. A form that breaks any rule is never signed as read nor counted.
/// </summary>
public static class C1Validator
{
    public const int MaxValue = 999;

    public static class Rules
    {
        public const string Range = "value_range";
        public const string TotalIsLPlusP = "total_equals_l_plus_p";
        public const string PenggunaTotalIsSum = "pengguna_total_equals_dpt_dptb_dpk";
        public const string PenggunaDptWithinDpt = "pengguna_dpt_within_dpt";
        public const string PenggunaWithinReceived = "pengguna_total_within_ballots_received";
        public const string DisabilitasWithinPengguna = "disabilitas_within_pengguna_total";
        public const string BallotsBalance = "ballots_received_equals_used_damaged_unused";
        public const string SuaraTotalIsSahPlusTidakSah = "suara_total_equals_sah_plus_tidak_sah";
        public const string SuaraTotalIsPengguna = "suara_total_equals_pengguna_total";
        public const string SuaraTotalIsBallotsUsed = "suara_total_equals_ballots_used";
        public const string VotesSumIsSah = "votes_sum_equals_suara_sah";
        public const string PartyTotalIsSum = "party_total_equals_party_plus_candidates";
        public const string BallotStructure = "ballot_structure";
    }

    /// <summary>Checks every rule; with a <paramref name="ballot"/>, also that the choices are those of that ballot.</summary>
    public static IReadOnlyList<Violation> Validate(C1Tally tally, Ballot? ballot = null)
    {
        var v = new List<Violation>();

        var counts = new (string Name, GenderCount Count)[]
        {
            ("dpt", tally.Dpt), ("pengguna_dpt", tally.PenggunaDpt), ("pengguna_dptb", tally.PenggunaDptb),
            ("pengguna_dpk", tally.PenggunaDpk), ("pengguna_total", tally.PenggunaTotal), ("disabilitas", tally.Disabilitas),
        };
        foreach (var (name, c) in counts)
        {
            Range(v, $"{name}.l", c.L);
            Range(v, $"{name}.p", c.P);
            Range(v, $"{name}.total", c.Total);
            if (c.Total != c.L + c.P)
                v.Add(new($"{name}.total", Rules.TotalIsLPlusP, $"Jumlah {name} ({c.Total}) harus sama dengan L + P ({c.L} + {c.P} = {c.L + c.P})."));
        }

        CheckPenggunaSum(v, "l", tally.PenggunaTotal.L, tally.PenggunaDpt.L, tally.PenggunaDptb.L, tally.PenggunaDpk.L);
        CheckPenggunaSum(v, "p", tally.PenggunaTotal.P, tally.PenggunaDpt.P, tally.PenggunaDptb.P, tally.PenggunaDpk.P);
        CheckPenggunaSum(v, "total", tally.PenggunaTotal.Total, tally.PenggunaDpt.Total, tally.PenggunaDptb.Total, tally.PenggunaDpk.Total);

        if (tally.PenggunaDpt.L > tally.Dpt.L)
            v.Add(new("pengguna_dpt.l", Rules.PenggunaDptWithinDpt, $"Pengguna hak pilih DPT laki-laki ({tally.PenggunaDpt.L}) melebihi DPT laki-laki ({tally.Dpt.L})."));
        if (tally.PenggunaDpt.P > tally.Dpt.P)
            v.Add(new("pengguna_dpt.p", Rules.PenggunaDptWithinDpt, $"Pengguna hak pilih DPT perempuan ({tally.PenggunaDpt.P}) melebihi DPT perempuan ({tally.Dpt.P})."));
        if (tally.PenggunaDpt.Total > tally.Dpt.Total)
            v.Add(new("pengguna_dpt.total", Rules.PenggunaDptWithinDpt, $"Jumlah pengguna hak pilih DPT ({tally.PenggunaDpt.Total}) melebihi jumlah DPT ({tally.Dpt.Total})."));

        if (tally.Disabilitas.Total > tally.PenggunaTotal.Total)
            v.Add(new("disabilitas.total", Rules.DisabilitasWithinPengguna, $"Pemilih disabilitas ({tally.Disabilitas.Total}) melebihi jumlah pengguna hak pilih ({tally.PenggunaTotal.Total})."));

        var s = tally.Surat;
        Range(v, "surat.diterima", s.Diterima);
        Range(v, "surat.digunakan", s.Digunakan);
        Range(v, "surat.rusak", s.Rusak);
        Range(v, "surat.sisa", s.Sisa);
        if (tally.PenggunaTotal.Total > s.Diterima)
            v.Add(new("pengguna_total.total", Rules.PenggunaWithinReceived, $"Jumlah pengguna hak pilih ({tally.PenggunaTotal.Total}) melebihi surat suara yang diterima ({s.Diterima})."));
        if (s.Diterima != s.Digunakan + s.Rusak + s.Sisa)
            v.Add(new("surat.diterima", Rules.BallotsBalance, $"Surat suara diterima ({s.Diterima}) harus sama dengan digunakan + rusak + sisa ({s.Digunakan} + {s.Rusak} + {s.Sisa} = {s.Digunakan + s.Rusak + s.Sisa})."));

        Range(v, "suara_sah", tally.SuaraSah);
        Range(v, "suara_tidak_sah", tally.SuaraTidakSah);
        Range(v, "suara_total", tally.SuaraTotal);
        if (tally.SuaraTotal != tally.SuaraSah + tally.SuaraTidakSah)
            v.Add(new("suara_total", Rules.SuaraTotalIsSahPlusTidakSah, $"Jumlah suara ({tally.SuaraTotal}) harus sama dengan suara sah + tidak sah ({tally.SuaraSah} + {tally.SuaraTidakSah} = {tally.SuaraSah + tally.SuaraTidakSah})."));
        if (tally.SuaraTotal != tally.PenggunaTotal.Total)
            v.Add(new("suara_total", Rules.SuaraTotalIsPengguna, $"Jumlah suara ({tally.SuaraTotal}) harus sama dengan jumlah pengguna hak pilih ({tally.PenggunaTotal.Total})."));
        if (tally.SuaraTotal != s.Digunakan)
            v.Add(new("suara_total", Rules.SuaraTotalIsBallotsUsed, $"Jumlah suara ({tally.SuaraTotal}) harus sama dengan surat suara yang digunakan ({s.Digunakan})."));

        long votesSum = 0;
        for (int i = 0; i < tally.Suara.Count; i++)
        {
            var choice = tally.Suara[i];
            string field = $"suara[{choice.Number}]";
            Range(v, $"{field}.total", choice.Total);
            votesSum += choice.Total;
            if (tally.Contest.IsPartyContest())
            {
                Range(v, $"{field}.partai", choice.PartyVotes);
                long partySum = choice.PartyVotes;
                for (int c = 0; c < choice.CandidateVotes.Length; c++)
                {
                    Range(v, $"{field}.calon[{c + 1}]", choice.CandidateVotes[c]);
                    partySum += choice.CandidateVotes[c];
                }
                if (partySum != choice.Total)
                    v.Add(new($"{field}.total", Rules.PartyTotalIsSum, $"Jumlah suara partai nomor {choice.Number} ({choice.Total}) harus sama dengan suara partai + suara calon ({partySum})."));
            }
            else if (choice.PartyVotes != 0 || choice.CandidateVotes.Length != 0)
            {
                v.Add(new(field, Rules.BallotStructure, $"Pilihan nomor {choice.Number} tidak memiliki suara partai atau calon pada kontestasi ini."));
            }
        }
        if (votesSum != tally.SuaraSah)
            v.Add(new("suara_sah", Rules.VotesSumIsSah, $"Jumlah suara semua pilihan ({votesSum}) harus sama dengan suara sah ({tally.SuaraSah})."));

        if (ballot is not null) CheckBallot(v, tally, ballot);
        return v;
    }

    public static bool IsValid(C1Tally tally, Ballot? ballot = null) => Validate(tally, ballot).Count == 0;

    private static void CheckBallot(List<Violation> v, C1Tally tally, Ballot ballot)
    {
        if (ballot.Contest != tally.Contest)
        {
            v.Add(new("contest", Rules.BallotStructure, $"Formulir untuk {tally.Contest.Slug()} diperiksa dengan surat suara {ballot.Contest.Slug()}."));
            return;
        }
        var seen = new HashSet<int>();
        foreach (var choice in tally.Suara)
        {
            var expected = ballot.Choice(choice.Number);
            if (expected is null)
                v.Add(new($"suara[{choice.Number}]", Rules.BallotStructure, $"Nomor pilihan {choice.Number} tidak ada pada surat suara."));
            else if (!seen.Add(choice.Number))
                v.Add(new($"suara[{choice.Number}]", Rules.BallotStructure, $"Nomor pilihan {choice.Number} tercatat lebih dari sekali."));
            else if (choice.CandidateVotes.Length != expected.CandidateCount)
                v.Add(new($"suara[{choice.Number}].calon", Rules.BallotStructure, $"Partai nomor {choice.Number} mencantumkan {expected.CandidateCount} calon di dapil {ballot.Dapil}, formulir memuat {choice.CandidateVotes.Length}."));
        }
        foreach (var expected in ballot.Choices)
        {
            if (!seen.Contains(expected.Number) && tally.Suara.All(c => c.Number != expected.Number))
                v.Add(new($"suara[{expected.Number}]", Rules.BallotStructure, $"Suara untuk pilihan nomor {expected.Number} tidak diisi."));
        }
    }

    private static void CheckPenggunaSum(List<Violation> v, string part, int total, int dpt, int dptb, int dpk)
    {
        if (total != dpt + dptb + dpk)
            v.Add(new($"pengguna_total.{part}", Rules.PenggunaTotalIsSum, $"Jumlah pengguna hak pilih ({part.ToUpperInvariant()}) {total} harus sama dengan DPT + DPTb + DPK ({dpt} + {dptb} + {dpk} = {dpt + dptb + dpk})."));
    }

    private static void Range(List<Violation> v, string field, int value)
    {
        if (value is < 0 or > MaxValue)
            v.Add(new(field, Rules.Range, $"Nilai {field} ({value}) harus bilangan bulat 0–{MaxValue}."));
    }
}
