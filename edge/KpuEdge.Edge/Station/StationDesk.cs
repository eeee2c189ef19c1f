using System.Collections.Concurrent;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Ppk;
using KpuEdge.Edge.Delivery;
using KpuEdge.Edge.Relay;

namespace KpuEdge.Edge.Station;

/// <summary>One TPS × contest of the kecamatan as the station sees it.</summary>
/// <param name="Form">The device's newest version the station holds (relayed through it), if any.</param>
public sealed record DeskForm(TpsCode Tps, ContestId Contest, OutboxEntry? Form, PpkFormStatus<OutboxEntry> Status)
{
    public SignedSubmission? Signed => Form is null ? null : SignedSubmission.Decode(Form.Wire);

    /// <summary>The numbers counted now: the station's own correction, else the device's.</summary>
    public C1Tally? Counted => Status.Correction?.Tally ?? Signed?.Submission.Tally;
}

/// <summary>Why the station will not sign what was asked (no form, a rule broken): told to the PPK in Bahasa Indonesia.</summary>
public sealed class DeskRefusal(string message, IReadOnlyList<Violation>? violations = null) : Exception(message)
{
    public IReadOnlyList<Violation> Violations { get; } = violations ?? [];
}

/// <summary>
/// The PPK station's work on its kecamatan, whatever the screen: every TPS × contest with where it stands (from the forms
/// the station relayed and its own statements, <see cref="PpkFormStatus"/>), and the statements a PPK makes — verify,
/// record a keberatan, correct at the plenary, sign the D.Hasil — each signed into the station's chain and kept in its
/// outbox until the cloud's receipt (with its proof) is in. Works with the uplink down: nothing here waits for the cloud.
/// </summary>
public sealed class StationDesk(Outbox outbox, StatementSigner signer, RegionTree tree, BallotCatalog ballots, Action wake)
{
    private readonly ConcurrentDictionary<Sha256Hash, SignedPpkStatement> _decoded = new();

    public RegionCode Kecamatan => signer.Kecamatan;
    public string StationId => signer.StationId;
    public string KecamatanName => tree.NameOf(Kecamatan);

    /// <summary>A statement of the outbox, decoded once.</summary>
    public SignedPpkStatement Decode(OutboxEntry entry) => _decoded.GetOrAdd(entry.Hash, _ => SignedPpkStatement.Decode(entry.Wire));

    /// <summary>The station's statements, oldest first, with their delivery state.</summary>
    public IReadOnlyList<(OutboxEntry Entry, SignedPpkStatement Signed)> Statements() => outbox.Statements().Select(e => (e, Decode(e))).ToList();

    /// <summary>Every TPS × contest held in the kecamatan, in code order.</summary>
    public IReadOnlyList<DeskForm> Forms()
    {
        var newest = NewestForms();
        var statements = outbox.Statements();
        var forms = new List<DeskForm>();
        foreach (var tps in tree.TpsIn(Kecamatan))
            foreach (var contest in Contests.All.Where(c => ballots.For(c, tps) is not null))
                forms.Add(Make(tps, contest, newest.GetValueOrDefault((tps, contest)), statements));
        return forms;
    }

    public DeskForm Form(TpsCode tps, ContestId contest)
    {
        if (!Kecamatan.Contains(tps.Region) || !tree.Contains(tps)) throw new DeskRefusal($"TPS {tps} bukan TPS kecamatan {Kecamatan}.");
        if (ballots.For(contest, tps) is null) throw new DeskRefusal($"{contest.Slug()} tidak diselenggarakan di TPS {tps}.");
        return Make(tps, contest, NewestForms().GetValueOrDefault((tps, contest)), outbox.Statements());
    }

    private DeskForm Make(TpsCode tps, ContestId contest, OutboxEntry? form, IReadOnlyList<OutboxEntry> statements) =>
        new(tps, contest, form, PpkFormStatus.Of(tps, contest, form?.Hash, statements, Decode));

    /// <summary>The device's newest version of each TPS × contest the station relayed (a correction signed later wins).</summary>
    private Dictionary<(TpsCode, ContestId), OutboxEntry> NewestForms()
    {
        var newest = new Dictionary<(TpsCode, ContestId), OutboxEntry>();
        foreach (var entry in outbox.All())
        {
            if (!Kecamatan.Contains(entry.Tps.Region)) continue;
            var key = (entry.Tps, entry.Contest);
            if (!newest.TryGetValue(key, out var held) || entry.Sequence > held.Sequence) newest[key] = entry;
        }
        return newest;
    }

    /// <summary>The page photos of the counted device form (its image hash names them).</summary>
    public IReadOnlyList<byte[]> Pages(DeskForm form) =>
        form.Signed is { Submission.ImageHash: { IsEmpty: false } image } ? outbox.PageImages(image) : [];

    public SignedPpkStatement Verify(TpsCode tps, ContestId contest) =>
        Sign(signer.Verification([Counted(Form(tps, contest))]));

    public SignedPpkStatement Object(TpsCode tps, ContestId contest, string objector, string text)
    {
        if (string.IsNullOrWhiteSpace(objector) || objector.Length > PpkStatementCodec.MaxObjectorLength)
            throw new DeskRefusal($"Sebutkan siapa yang mengajukan keberatan (1–{PpkStatementCodec.MaxObjectorLength} karakter).");
        if (string.IsNullOrWhiteSpace(text) || text.Length > PpkStatementCodec.MaxObjectionLength)
            throw new DeskRefusal($"Tuliskan isi keberatan (1–{PpkStatementCodec.MaxObjectionLength} karakter).");
        return Sign(signer.Objection(Counted(Form(tps, contest)), objector.Trim(), text.Trim()));
    }

    /// <summary>The plenary's correction: never signed without a reason, or while a rule of the form breaks.</summary>
    public SignedPpkStatement Correct(TpsCode tps, ContestId contest, C1Tally tally, string reason)
    {
        if (string.IsNullOrWhiteSpace(reason) || reason.Length > PpkStatementCodec.MaxReasonLength)
            throw new DeskRefusal($"Koreksi wajib disertai alasan (1–{PpkStatementCodec.MaxReasonLength} karakter).");
        if (tally.Tps != tps || tally.Contest != contest) throw new DeskRefusal($"Angka yang dikirim bukan untuk {contest.Slug()} TPS {tps}.");
        var form = Form(tps, contest);
        if (Check(tally) is { Count: > 0 } violations) throw new DeskRefusal("Formulir tidak konsisten; koreksi tidak ditandatangani.", violations);
        return Sign(signer.Correction(Counted(form), reason.Trim(), tally));
    }

    /// <summary>Every rule of the C.Hasil form against the TPS's ballot (messages in Bahasa Indonesia, naming the fields).</summary>
    public IReadOnlyList<Violation> Check(C1Tally tally) => C1Validator.Validate(tally, ballots.For(tally.Contest, tally.Tps));

    /// <summary>What a D.Hasil of <paramref name="contest"/> would sum now: the verified and corrected forms, and those still left out.</summary>
    public (IReadOnlyList<DeskForm> Included, IReadOnlyList<DeskForm> Left, TallySum? Totals) RecapPreview(ContestId contest)
    {
        var forms = Forms().Where(f => f.Contest == contest).ToList();
        var included = forms.Where(f => f.Status.Review is PpkReview.Verified or PpkReview.Corrected).ToList();
        var left = forms.Where(f => f.Status.Review is not (PpkReview.Verified or PpkReview.Corrected)).ToList();
        return (included, left, included.Count == 0 ? null : TallySum.Of(contest, included.Select(f => (ITallyNumbers)f.Counted!)));
    }

    /// <summary>Signs the D.Hasil of <paramref name="contest"/> from the verified and corrected forms.</summary>
    public SignedPpkStatement SignRecap(ContestId contest)
    {
        var (included, _, totals) = RecapPreview(contest);
        if (totals is null) throw new DeskRefusal($"Belum ada formulir {contest.Slug()} yang diverifikasi atau dikoreksi: D.Hasil belum dapat ditandatangani.");
        return Sign(signer.Recap(contest, included.Select(Counted).ToList(), totals));
    }

    private static FormReference Counted(DeskForm form) =>
        form.Status.Counted is { } hash ? new FormReference(form.Tps, form.Contest, hash)
            : throw new DeskRefusal($"Formulir {form.Contest.Slug()} TPS {form.Tps} belum diterima stasiun.");

    private SignedPpkStatement Sign(PpkStatement statement)
    {
        SignedPpkStatement signed;
        try { signed = outbox.SignAndAdd(signer, statement); }
        catch (Device.TallyRejectedException e) { throw new DeskRefusal("Formulir tidak konsisten; koreksi tidak ditandatangani.", e.Violations); }
        catch (ArgumentException e) { throw new DeskRefusal(e.Message); }
        wake();
        return signed;
    }
}
