using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace KpuEdge.Crypto.Transparency;

/// <summary>
/// The cloud's signed word that it refused a submission: a signed note (C2SP) by the log key over
/// <code>
/// kpuedge rejection v1
/// {submission hash, hex}
/// {reason code}
/// {time, Unix ms}
/// </code>
/// so that nobody between the cloud and the device (a broker, a PPK station) can make a device give up a form with a
/// made-up refusal. The first line has spaces, so the body can never be read as a checkpoint (whose first line is an
/// origin, which has none).
/// </summary>
public sealed record RejectionStatement(Sha256Hash SubmissionHash, string Reason, DateTimeOffset At)
{
    public const string Header = "kpuedge rejection v1";

    public string Format() =>
        $"{Header}\n{SubmissionHash}\n{Reason}\n{At.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)}\n";

    public static bool TryParse(string body, [NotNullWhen(true)] out RejectionStatement? statement)
    {
        statement = null;
        var lines = body.Split('\n');
        if (lines.Length != 5 || lines[0] != Header || lines[4] != "") return false;
        if (!Sha256Hash.TryParseHex(lines[1], out var hash) || lines[2].Length is 0 or > 64 || lines[2].Any(char.IsWhiteSpace)) return false;
        if (!long.TryParse(lines[3], NumberStyles.None, CultureInfo.InvariantCulture, out long ms)) return false;
        statement = new RejectionStatement(hash, lines[2], DateTimeOffset.FromUnixTimeMilliseconds(ms));
        return true;
    }

    /// <summary>Checks a signed rejection against the log key and the submission it must be about.</summary>
    public static LogVerificationResult Verify(string? note, NoteVerifierKey key, Sha256Hash submissionHash, string? reason)
    {
        if (note is null) return LogVerificationResult.Failure(LogErrors.BadRejection, "The rejection is not signed.");
        if (!SignedNote.TryOpen(note, key, out var opened, out var error))
            return LogVerificationResult.Failure(LogErrors.BadRejection, $"The rejection's signature does not verify with the log key: {error.Message}");
        if (!TryParse(opened.Text, out var statement))
            return LogVerificationResult.Failure(LogErrors.BadRejection, "The signed note is not a rejection statement.");
        if (statement.SubmissionHash != submissionHash)
            return LogVerificationResult.Failure(LogErrors.BadRejection, $"The rejection is of {statement.SubmissionHash}, not of {submissionHash}.");
        if (statement.Reason != reason)
            return LogVerificationResult.Failure(LogErrors.BadRejection, $"The rejection signs reason '{statement.Reason}', the receipt says '{reason}'.");
        return LogVerificationResult.Success($"Refused by the cloud ({statement.Reason}) at {statement.At:u}.");
    }
}
