using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;

namespace KpuEdge.Crypto.Ppk;

/// <summary>What a PPK station states about the forms of its kecamatan.</summary>
public enum PpkStatementKind
{
    /// <summary>The station checked these forms' numbers against their paper forms (and photos) and found them right.</summary>
    Verification = 1,
    /// <summary>A keberatan (from a saksi or the Panwascam) against a form, recorded with its text.</summary>
    Objection = 2,
    /// <summary>A new version of a TPS's form made at the plenary, replacing the device's; the recap counts it.</summary>
    Correction = 3,
    /// <summary>The D.Hasil: the kecamatan's recap of one contest from the forms it names.</summary>
    KecamatanRecap = 4,
}

/// <summary>A statement kind's stable text, as the public API, the station's screen and the log's readers write it.</summary>
public static class PpkStatementKinds
{
    public static string Text(this PpkStatementKind kind) => kind switch
    {
        PpkStatementKind.Verification => "verification",
        PpkStatementKind.Objection => "objection",
        PpkStatementKind.Correction => "correction",
        _ => "dhasil",
    };
}

/// <summary>A form a statement is about: its TPS, its contest, and the hash of the exact signed version meant.</summary>
public readonly record struct FormReference(TpsCode Tps, ContestId Contest, Sha256Hash Hash)
{
    public override string ToString() => $"{Contest.Slug()} of TPS {Tps}";
}

/// <summary>
/// A statement a PPK station signs with its own key about forms of its kecamatan. The station's statements form one
/// chain (<see cref="Sequence"/>, <see cref="PreviousHash"/>), judged by the cloud as a device's forms are: a station
/// cannot quietly take a statement back or send two different ones under one number.
/// </summary>
public abstract record PpkStatement
{
    /// <summary>The only encoding version this build reads and writes.</summary>
    public const int FormatVersion = 1;

    public required string ElectionId { get; init; }
    /// <summary>The station's id: its certificate's common name.</summary>
    public required string StationId { get; init; }
    /// <summary>The station's kecamatan: its certificate's assignment; every form named lies in it.</summary>
    public required RegionCode Kecamatan { get; init; }
    /// <summary>Per-station counter, from 1, increasing with every statement the station signs.</summary>
    public required ulong Sequence { get; init; }
    /// <summary>Hash of the station's previous statement (empty for the first).</summary>
    public Sha256Hash PreviousHash { get; init; }
    /// <summary>The station's clock when it signed (milliseconds precision); informative.</summary>
    public required DateTimeOffset StationTime { get; init; }

    public abstract PpkStatementKind Kind { get; }

    /// <summary>Every form the statement names.</summary>
    public abstract IReadOnlyList<FormReference> Forms { get; }
}

/// <summary>The station verified these forms: their signed numbers match the paper forms it holds.</summary>
public sealed record PpkVerification : PpkStatement
{
    public override PpkStatementKind Kind => PpkStatementKind.Verification;
    public required IReadOnlyList<FormReference> Verified { get; init; }
    public override IReadOnlyList<FormReference> Forms => Verified;
}

/// <summary>A keberatan against a form: who raised it and what it says. The numbers stay until corrected.</summary>
public sealed record PpkObjection : PpkStatement
{
    public override PpkStatementKind Kind => PpkStatementKind.Objection;
    public required FormReference Form { get; init; }
    /// <summary>Who raised it, as the minutes name them ("Saksi Partai X", "Panwascam").</summary>
    public required string Objector { get; init; }
    public required string Text { get; init; }
    public override IReadOnlyList<FormReference> Forms => [Form];
}

/// <summary>
/// The plenary's correction of a TPS's form: the PPK's numbers replace the version <see cref="Replaces"/> names (which
/// stays in the record and the log); the recap counts the PPK's from then on.
/// </summary>
public sealed record PpkCorrection : PpkStatement
{
    public override PpkStatementKind Kind => PpkStatementKind.Correction;
    public required FormReference Replaces { get; init; }
    public required string Reason { get; init; }
    /// <summary>The corrected numbers, for the same TPS and contest as <see cref="Replaces"/>.</summary>
    public required C1Tally Tally { get; init; }
    public override IReadOnlyList<FormReference> Forms => [Replaces];
}

/// <summary>
/// The D.Hasil of one contest: the kecamatan's sum of the forms it names (each TPS's counted version), signed by its PPK.
/// </summary>
public sealed record KecamatanRecap : PpkStatement
{
    public override PpkStatementKind Kind => PpkStatementKind.KecamatanRecap;
    public required ContestId Contest { get; init; }
    /// <summary>The forms summed, one per TPS, all of <see cref="Contest"/>.</summary>
    public required IReadOnlyList<FormReference> Summed { get; init; }
    public required TallySum Totals { get; init; }
    public override IReadOnlyList<FormReference> Forms => Summed;
}
