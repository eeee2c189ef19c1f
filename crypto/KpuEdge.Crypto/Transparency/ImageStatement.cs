using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace KpuEdge.Crypto.Transparency;

/// <summary>
/// The cloud's signed word about one page of a form image: that it is stored (checked against its hash), or why it was
/// refused. A signed note (C2SP) by the log key over
/// <code>
/// kpuedge image v1
/// {form image hash, hex}
/// {page, 0-based}
/// {page hash, hex}
/// {"stored" or a refusal reason}
/// {time, Unix ms}
/// </code>
/// A device gives a page up only on such a statement, as it gives a form up only on a verified receipt: nobody between
/// the cloud and the device (a broker, a PPK station) can make it drop a photo the cloud does not hold.
/// </summary>
public sealed record ImageStatement(Sha256Hash ImageHash, int Page, Sha256Hash PageHash, string Outcome, DateTimeOffset At)
{
    public const string Header = "kpuedge image v1";
    public const string Stored = "stored";

    public string Format() =>
        $"{Header}\n{ImageHash}\n{Page.ToString(CultureInfo.InvariantCulture)}\n{PageHash}\n{Outcome}\n{At.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)}\n";

    public static bool TryParse(string body, [NotNullWhen(true)] out ImageStatement? statement)
    {
        statement = null;
        var lines = body.Split('\n');
        if (lines.Length != 7 || lines[0] != Header || lines[6] != "") return false;
        if (!Sha256Hash.TryParseHex(lines[1], out var image) || !Sha256Hash.TryParseHex(lines[3], out var page)) return false;
        if (!int.TryParse(lines[2], NumberStyles.None, CultureInfo.InvariantCulture, out int index)) return false;
        if (lines[4].Length is 0 or > 64 || lines[4].Any(char.IsWhiteSpace)) return false;
        if (!long.TryParse(lines[5], NumberStyles.None, CultureInfo.InvariantCulture, out long ms)) return false;
        statement = new ImageStatement(image, index, page, lines[4], DateTimeOffset.FromUnixTimeMilliseconds(ms));
        return true;
    }

    /// <summary>
    /// Checks a signed image statement against the log key and the page it must be about (image, page number and the
    /// page's own hash); <paramref name="outcome"/> is what the unsigned answer claims ("stored" or a reason).
    /// </summary>
    public static LogVerificationResult Verify(string? note, NoteVerifierKey key, Sha256Hash imageHash, int page, Sha256Hash pageHash, string outcome)
    {
        if (note is null) return LogVerificationResult.Failure(LogErrors.BadImageStatement, "The answer about the page is not signed.");
        if (!SignedNote.TryOpen(note, key, out var opened, out var error))
            return LogVerificationResult.Failure(LogErrors.BadImageStatement, $"The page statement's signature does not verify with the log key: {error.Message}");
        if (!TryParse(opened.Text, out var statement))
            return LogVerificationResult.Failure(LogErrors.BadImageStatement, "The signed note is not an image statement.");
        if (statement.ImageHash != imageHash || statement.Page != page || statement.PageHash != pageHash)
            return LogVerificationResult.Failure(LogErrors.BadImageStatement,
                $"The statement is about page {statement.Page + 1} of {statement.ImageHash} ({statement.PageHash}), not page {page + 1} of {imageHash} ({pageHash}).");
        if (statement.Outcome != outcome)
            return LogVerificationResult.Failure(LogErrors.BadImageStatement, $"The statement signs '{statement.Outcome}', the answer says '{outcome}'.");
        return LogVerificationResult.Success(outcome == Stored
            ? $"Page {page + 1} stored by the cloud at {statement.At:u}."
            : $"Page {page + 1} refused by the cloud ({outcome}) at {statement.At:u}.");
    }
}
