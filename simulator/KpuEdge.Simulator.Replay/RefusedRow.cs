using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;

namespace KpuEdge.Simulator.Replay;

/// <summary>Which of the two replay files a row came from.</summary>
public enum ReplayFile
{
    Registry,
    Results,
}

/// <summary>Why a row of a replay file was refused. Every refused row is listed, never fixed.</summary>
public enum ReplayRefusal
{
    /// <summary>The row has the wrong number of fields, or a number field holds something that is not a whole number.</summary>
    Malformed,
    /// <summary>The TPS code is not 13 digits with non-zero segments (PP RR DD VVVV TTT).</summary>
    BadTpsCode,
    /// <summary>Registry: the TPS has a row already.</summary>
    DuplicateTps,
    /// <summary>Registry: a province, regency, district or village name disagrees with an earlier row for the same code.</summary>
    NameConflict,
    /// <summary>Results: the TPS is not in the registry (or its registry row was refused).</summary>
    UnknownTps,
    /// <summary>Results: the contest is none of the accepted spellings.</summary>
    UnknownContest,
    /// <summary>Results: the contest is not held at that TPS (DPRD Kab/Kota in DKI Jakarta).</summary>
    ContestNotHeld,
    /// <summary>Results: an earlier row has the same TPS and contest.</summary>
    DuplicateForm,
    /// <summary>Results: the row's <c>dpt</c> differs from the registry's for that TPS.</summary>
    DptDiffers,
    /// <summary>Results: a choice on the TPS's ballot has no votes (its <c>cN</c> is empty or absent). Votes are never invented.</summary>
    MissingVotes,
    /// <summary>Results: votes for a choice number that is not on the TPS's ballot.</summary>
    ExtraChoice,
    /// <summary>Results: a number the form needs is empty and cannot be derived from the others.</summary>
    MissingField,
    /// <summary>Results: the filled form breaks a rule of the C.Hasil (<see cref="C1Validator"/>); the violations say which.</summary>
    BrokenRule,
}

public static class ReplayRefusals
{
    /// <summary>A stable snake_case code for logs and listings.</summary>
    public static string Code(this ReplayRefusal refusal) => refusal switch
    {
        ReplayRefusal.Malformed => "malformed_row",
        ReplayRefusal.BadTpsCode => "bad_tps_code",
        ReplayRefusal.DuplicateTps => "duplicate_tps",
        ReplayRefusal.NameConflict => "name_conflict",
        ReplayRefusal.UnknownTps => "unknown_tps",
        ReplayRefusal.UnknownContest => "unknown_contest",
        ReplayRefusal.ContestNotHeld => "contest_not_held_at_tps",
        ReplayRefusal.DuplicateForm => "duplicate_form",
        ReplayRefusal.DptDiffers => "dpt_differs_from_registry",
        ReplayRefusal.MissingVotes => "missing_votes",
        ReplayRefusal.ExtraChoice => "choice_not_on_ballot",
        ReplayRefusal.MissingField => "missing_field",
        ReplayRefusal.BrokenRule => "broken_rule",
        _ => throw new ArgumentOutOfRangeException(nameof(refusal)),
    };
}

/// <summary>What one data row of a results file became: an accepted form or a refused row.</summary>
/// <param name="Line">The row's first line in its file (the header is line 1).</param>
public abstract record ReplayOutcome(long Line);

/// <summary>An accepted row: the filled C.Hasil tally of one contest at one TPS, which passes <see cref="C1Validator"/>.</summary>
public sealed record ReplayForm(long Line, C1Tally Tally) : ReplayOutcome(Line)
{
    public TpsCode Tps => Tally.Tps;
    public ContestId Contest => Tally.Contest;
}

/// <summary>A refused row, listed with its reason.</summary>
/// <param name="Tps">The row's TPS, when its code could be read.</param>
/// <param name="Contest">The row's contest, when it could be read (results only).</param>
/// <param name="Reason">What is wrong, in English, quoting the offending text or numbers.</param>
public sealed record RefusedRow(ReplayFile File, long Line, TpsCode? Tps, ContestId? Contest, ReplayRefusal Refusal, string Reason)
    : ReplayOutcome(Line)
{
    /// <summary>For <see cref="ReplayRefusal.BrokenRule"/>: every rule the filled form breaks.</summary>
    public IReadOnlyList<Violation> Violations { get; init; } = [];

    public override string ToString()
    {
        string where = File == ReplayFile.Registry ? "registry" : "results";
        string tps = Tps is { } t ? $" TPS {t}" : "";
        string contest = Contest is { } c ? $" {c.Slug()}" : "";
        return $"{where} line {Line}{tps}{contest}: {Refusal.Code()} — {Reason}";
    }
}
