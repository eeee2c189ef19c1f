using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;

namespace KpuEdge.Crypto.Ppk;

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
/// A TPS's form of one contest as the record shows it — to the public (the cloud) and to the PPK (its station): the
/// version counted (the newest PPK correction, else the device's newest version) and what the PPK stated about it,
/// derived from the statements in log order. A verification counts only for the version it names: a newer device
/// version needs verifying again. <typeparamref name="T"/> is however the caller keeps a statement (stored by the cloud,
/// in the station's outbox).
/// </summary>
public sealed record PpkFormStatus<T>(TpsCode Tps, ContestId Contest, PpkReview Review, Sha256Hash? Counted, PpkCorrection? Correction,
    IReadOnlyList<T> Statements)
{
    public bool CountedByPpk => Correction is not null;
}

public static class PpkFormStatus
{
    /// <param name="deviceVersion">The hash of the device's newest version (null when none arrived).</param>
    /// <param name="statements">Statements in log (or signing) order; those about other forms are skipped.</param>
    public static PpkFormStatus<T> Of<T>(TpsCode tps, ContestId contest, Sha256Hash? deviceVersion, IEnumerable<T> statements, Func<T, SignedPpkStatement> signed)
    {
        var mine = statements.Where(s => signed(s).Statement is not KecamatanRecap && signed(s).Statement.Forms.Any(f => f.Tps == tps && f.Contest == contest)).ToList();
        int corrected = mine.FindLastIndex(s => signed(s).Statement is PpkCorrection);
        var correction = corrected < 0 ? null : (PpkCorrection)signed(mine[corrected]).Statement;
        Sha256Hash? counted = corrected < 0 ? deviceVersion : signed(mine[corrected]).Hash;
        var review = counted is null ? PpkReview.NotReceived : correction is not null ? PpkReview.Corrected : PpkReview.Received;
        foreach (var s in mine.Skip(corrected + 1))
        {
            review = signed(s).Statement switch
            {
                PpkVerification v when v.Verified.Any(f => f.Tps == tps && f.Contest == contest && f.Hash == counted) => PpkReview.Verified,
                PpkObjection => PpkReview.Objection,
                _ => review,
            };
        }
        return new PpkFormStatus<T>(tps, contest, review, counted, correction, mine);
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
