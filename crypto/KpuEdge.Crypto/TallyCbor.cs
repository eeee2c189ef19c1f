using System.Formats.Cbor;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;

namespace KpuEdge.Crypto;

/// <summary>
/// The one CBOR layout of a form's numbers, in a TPS's signed form and in a kecamatan's D.Hasil alike:
/// <code>
/// tally  = [ dpt, pengguna_dpt, pengguna_dptb, pengguna_dpk, pengguna_total, disabilitas,   ; each [l, p, total]
///            [diterima, digunakan, rusak, sisa], [choice...], sah, tidak_sah, total ]
/// choice = [ number, total ]                                   ; PPWP, DPD
///        / [ number, total, party_votes, [candidate_votes...] ] ; DPR, DPRD
/// </code>
/// The contest is not in it: the message around it names the contest, and the choices' shape follows it.
/// </summary>
internal static class TallyCbor
{
    public const int MaxChoices = 64;
    public const int MaxCandidates = 64;

    /// <summary>The numbers as read, before they are given a TPS (a form) or a count of forms (a sum).</summary>
    public sealed record Numbers(
        ContestId Contest, GenderCount[] Counts, BallotPapers Surat, ChoiceVotes[] Suara, int SuaraSah, int SuaraTidakSah, int SuaraTotal)
    {
        public C1Tally ToTally(TpsCode tps) => new()
        {
            Contest = Contest,
            Tps = tps,
            Dpt = Counts[0],
            PenggunaDpt = Counts[1],
            PenggunaDptb = Counts[2],
            PenggunaDpk = Counts[3],
            PenggunaTotal = Counts[4],
            Disabilitas = Counts[5],
            Surat = Surat,
            Suara = Suara,
            SuaraSah = SuaraSah,
            SuaraTidakSah = SuaraTidakSah,
            SuaraTotal = SuaraTotal,
        };

        public TallySum ToSum(int forms) => new()
        {
            Contest = Contest,
            Forms = forms,
            Dpt = Counts[0],
            PenggunaDpt = Counts[1],
            PenggunaDptb = Counts[2],
            PenggunaDpk = Counts[3],
            PenggunaTotal = Counts[4],
            Disabilitas = Counts[5],
            Surat = Surat,
            Suara = Suara,
            SuaraSah = SuaraSah,
            SuaraTidakSah = SuaraTidakSah,
            SuaraTotal = SuaraTotal,
        };
    }

    public static void Write(CborWriter w, ITallyNumbers t)
    {
        w.WriteStartArray(11);
        foreach (var count in new[] { t.Dpt, t.PenggunaDpt, t.PenggunaDptb, t.PenggunaDpk, t.PenggunaTotal, t.Disabilitas })
        {
            w.WriteStartArray(3);
            w.WriteInt32(count.L);
            w.WriteInt32(count.P);
            w.WriteInt32(count.Total);
            w.WriteEndArray();
        }
        w.WriteStartArray(4);
        w.WriteInt32(t.Surat.Diterima);
        w.WriteInt32(t.Surat.Digunakan);
        w.WriteInt32(t.Surat.Rusak);
        w.WriteInt32(t.Surat.Sisa);
        w.WriteEndArray();
        bool party = t.Contest.IsPartyContest();
        w.WriteStartArray(t.Suara.Count);
        foreach (var choice in t.Suara)
        {
            w.WriteStartArray(party ? 4 : 2);
            w.WriteInt32(choice.Number);
            w.WriteInt32(choice.Total);
            if (party)
            {
                w.WriteInt32(choice.PartyVotes);
                w.WriteStartArray(choice.CandidateVotes.Length);
                foreach (int votes in choice.CandidateVotes) w.WriteInt32(votes);
                w.WriteEndArray();
            }
            else if (choice.PartyVotes != 0 || choice.CandidateVotes.Length != 0)
            {
                throw new ArgumentException($"Choice {choice.Number} of {t.Contest.Slug()} cannot carry party or candidate votes.");
            }
            w.WriteEndArray();
        }
        w.WriteEndArray();
        w.WriteInt32(t.SuaraSah);
        w.WriteInt32(t.SuaraTidakSah);
        w.WriteInt32(t.SuaraTotal);
        w.WriteEndArray();
    }

    /// <summary>Reads the numbers of <paramref name="contest"/>; a wrong shape is <paramref name="malformed"/>'s exception.</summary>
    public static Numbers Read(CborReader r, ContestId contest, Func<string, Exception> malformed)
    {
        if (r.ReadStartArray() != 11) throw malformed("tally has the wrong number of fields");
        var counts = new GenderCount[6];
        for (int i = 0; i < counts.Length; i++)
        {
            if (r.ReadStartArray() != 3) throw malformed("a voter count is not [l, p, total]");
            counts[i] = new GenderCount(r.ReadInt32(), r.ReadInt32(), r.ReadInt32());
            r.ReadEndArray();
        }
        if (r.ReadStartArray() != 4) throw malformed("ballot papers are not [diterima, digunakan, rusak, sisa]");
        var surat = new BallotPapers(r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32());
        r.ReadEndArray();
        int choices = r.ReadStartArray() ?? throw malformed("indefinite vote list");
        if (choices > MaxChoices) throw malformed($"{choices} choices; at most {MaxChoices}");
        bool party = contest.IsPartyContest();
        var suara = new ChoiceVotes[choices];
        for (int i = 0; i < choices; i++)
        {
            if (r.ReadStartArray() != (party ? 4 : 2)) throw malformed($"choice {i} has the wrong shape for {contest.Slug()}");
            int number = r.ReadInt32(), total = r.ReadInt32();
            if (party)
            {
                int partyVotes = r.ReadInt32();
                int candidates = r.ReadStartArray() ?? throw malformed("indefinite candidate list");
                if (candidates > MaxCandidates) throw malformed($"{candidates} candidates; at most {MaxCandidates}");
                var votes = new int[candidates];
                for (int c = 0; c < candidates; c++) votes[c] = r.ReadInt32();
                r.ReadEndArray();
                suara[i] = new ChoiceVotes(number, total, partyVotes, votes);
            }
            else
            {
                suara[i] = new ChoiceVotes(number, total);
            }
            r.ReadEndArray();
        }
        r.ReadEndArray();
        var numbers = new Numbers(contest, counts, surat, suara, r.ReadInt32(), r.ReadInt32(), r.ReadInt32());
        r.ReadEndArray();
        return numbers;
    }
}
