using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Ppk;

namespace KpuEdge.Cloud.Ppk;

/// <summary>Where a TPS's form of one contest stands with its PPK.</summary>
public enum PpkReview
{
    /// <summary>No form has arrived.</summary>
    NotReceived,
    /// <summary>A form is counted; the PPK has said nothing about that version yet.</summary>
    Received,
    /// <summary>The PPK verified the version counted now.</summary>
    Verified,
    /// <summary>A keberatan was recorded after the PPK's last verification or correction.</summary>
    Objection,
    /// <summary>The counted version is the PPK's correction.</summary>
    Corrected,
}

/// <summary>
/// A TPS's form of one contest as the record shows it to the public and to the PPK: the version counted (the newest
/// PPK correction, else the device's newest version) and what the PPK stated about it, derived from the statements in
/// log order. A verification counts only for the version it names: a newer device version needs verifying again.
/// </summary>
public sealed record PpkFormStatus(TpsCode Tps, ContestId Contest, PpkReview Review, Sha256Hash? Counted, bool CountedByPpk,
    IReadOnlyList<StoredStatement> Statements)
{
    public static PpkFormStatus Of(TpsCode tps, ContestId contest, Sha256Hash? deviceVersion, IEnumerable<StoredStatement> statements)
    {
        var mine = statements.Where(s => s.Kind != PpkStatementKind.KecamatanRecap
                                         && s.Signed.Statement.Forms.Any(f => f.Tps == tps && f.Contest == contest))
            .OrderBy(s => s.LogIndex).ToList();
        var correction = mine.LastOrDefault(s => s.Kind == PpkStatementKind.Correction);
        Sha256Hash? counted = correction?.Hash ?? deviceVersion;
        var review = counted is null ? PpkReview.NotReceived : correction is not null ? PpkReview.Corrected : PpkReview.Received;
        foreach (var s in mine.Where(s => correction is null || s.LogIndex > correction.LogIndex))
        {
            review = s.Kind switch
            {
                PpkStatementKind.Verification when s.Signed.Statement.Forms.Any(f => f.Tps == tps && f.Contest == contest && f.Hash == counted) => PpkReview.Verified,
                PpkStatementKind.Objection => PpkReview.Objection,
                _ => review,
            };
        }
        return new PpkFormStatus(tps, contest, review, counted, correction is not null, mine);
    }

    public static string Text(PpkReview review) => review switch
    {
        PpkReview.NotReceived => "not_received",
        PpkReview.Received => "received",
        PpkReview.Verified => "verified",
        PpkReview.Objection => "objection",
        _ => "corrected",
    };
}
