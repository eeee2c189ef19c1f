using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;

namespace KpuEdge.Vision.Forms;

/// <summary>A number on the form: its key (the same path the validator names, e.g. <c>pengguna_dpt.l</c>) and its printed label.</summary>
public sealed record FieldSpec(string Key, string Label);

/// <summary>
/// The numbers of a contest's C.Hasil form in print order, and the mapping between a <see cref="C1Tally"/> and
/// those numbers. Field keys are the validator's field paths, so a broken rule points at a box on paper.
/// </summary>
public static class TallyFields
{
    private static readonly (string Key, string Label)[] Counts =
    [
        ("dpt", "DPT"), ("pengguna_dpt", "PENGGUNA DPT"), ("pengguna_dptb", "PENGGUNA DPTB"),
        ("pengguna_dpk", "PENGGUNA DPK"), ("pengguna_total", "JML PENGGUNA"), ("disabilitas", "DISABILITAS"),
    ];

    public static IReadOnlyList<FieldSpec> For(Ballot ballot)
    {
        var fields = new List<FieldSpec>();
        foreach (var (key, label) in Counts)
        {
            fields.Add(new($"{key}.l", $"{label} L"));
            fields.Add(new($"{key}.p", $"{label} P"));
            fields.Add(new($"{key}.total", $"{label} JML"));
        }
        fields.Add(new("surat.diterima", "SURAT DITERIMA"));
        fields.Add(new("surat.digunakan", "SURAT DIGUNAKAN"));
        fields.Add(new("surat.rusak", "SURAT RUSAK"));
        fields.Add(new("surat.sisa", "SURAT SISA"));
        foreach (var choice in ballot.Choices)
        {
            string who = ballot.Contest switch
            {
                ContestId.Ppwp => $"PASLON {choice.Number}",
                ContestId.Dpd => $"CALON DPD {choice.Number}",
                _ => $"PARTAI {choice.Number}",
            };
            if (choice.CandidateCount > 0)
            {
                fields.Add(new($"suara[{choice.Number}].partai", $"{who} SUARA PARTAI"));
                for (int c = 1; c <= choice.CandidateCount; c++) fields.Add(new($"suara[{choice.Number}].calon[{c}]", $"{who} CALON {c}"));
            }
            fields.Add(new($"suara[{choice.Number}].total", choice.CandidateCount > 0 ? $"{who} JUMLAH" : who));
        }
        fields.Add(new("suara_sah", "SUARA SAH"));
        fields.Add(new("suara_tidak_sah", "SUARA TIDAK SAH"));
        fields.Add(new("suara_total", "JUMLAH SUARA"));
        return fields;
    }

    public static Dictionary<string, int> ToValues(C1Tally tally)
    {
        var values = new Dictionary<string, int>(StringComparer.Ordinal);
        void Count(string key, GenderCount c)
        {
            values[$"{key}.l"] = c.L;
            values[$"{key}.p"] = c.P;
            values[$"{key}.total"] = c.Total;
        }
        Count("dpt", tally.Dpt);
        Count("pengguna_dpt", tally.PenggunaDpt);
        Count("pengguna_dptb", tally.PenggunaDptb);
        Count("pengguna_dpk", tally.PenggunaDpk);
        Count("pengguna_total", tally.PenggunaTotal);
        Count("disabilitas", tally.Disabilitas);
        values["surat.diterima"] = tally.Surat.Diterima;
        values["surat.digunakan"] = tally.Surat.Digunakan;
        values["surat.rusak"] = tally.Surat.Rusak;
        values["surat.sisa"] = tally.Surat.Sisa;
        foreach (var choice in tally.Suara)
        {
            if (tally.Contest.IsPartyContest())
            {
                values[$"suara[{choice.Number}].partai"] = choice.PartyVotes;
                for (int c = 0; c < choice.CandidateVotes.Length; c++) values[$"suara[{choice.Number}].calon[{c + 1}]"] = choice.CandidateVotes[c];
            }
            values[$"suara[{choice.Number}].total"] = choice.Total;
        }
        values["suara_sah"] = tally.SuaraSah;
        values["suara_tidak_sah"] = tally.SuaraTidakSah;
        values["suara_total"] = tally.SuaraTotal;
        return values;
    }

    /// <summary>Builds the tally a set of read values describes (missing values read as 0).</summary>
    public static C1Tally FromValues(Ballot ballot, TpsCode tps, IReadOnlyDictionary<string, int> values)
    {
        int V(string key) => values.TryGetValue(key, out int v) ? v : 0;
        GenderCount Count(string key) => new(V($"{key}.l"), V($"{key}.p"), V($"{key}.total"));
        var suara = ballot.Choices.Select(choice => choice.CandidateCount > 0
            ? new ChoiceVotes(choice.Number, V($"suara[{choice.Number}].total"), V($"suara[{choice.Number}].partai"),
                Enumerable.Range(1, choice.CandidateCount).Select(c => V($"suara[{choice.Number}].calon[{c}]")).ToArray())
            : new ChoiceVotes(choice.Number, V($"suara[{choice.Number}].total"))).ToArray();
        return new C1Tally
        {
            Contest = ballot.Contest,
            Tps = tps,
            Dpt = Count("dpt"),
            PenggunaDpt = Count("pengguna_dpt"),
            PenggunaDptb = Count("pengguna_dptb"),
            PenggunaDpk = Count("pengguna_dpk"),
            PenggunaTotal = Count("pengguna_total"),
            Disabilitas = Count("disabilitas"),
            Surat = new BallotPapers(V("surat.diterima"), V("surat.digunakan"), V("surat.rusak"), V("surat.sisa")),
            Suara = suara,
            SuaraSah = V("suara_sah"),
            SuaraTidakSah = V("suara_tidak_sah"),
            SuaraTotal = V("suara_total"),
        };
    }
}
