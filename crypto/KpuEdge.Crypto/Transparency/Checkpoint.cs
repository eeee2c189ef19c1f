using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace KpuEdge.Crypto.Transparency;

/// <summary>
/// A log's tree head as a C2SP tlog-checkpoint note body: <c>&lt;origin&gt;\n&lt;tree size&gt;\n&lt;base64 root hash&gt;\n</c>.
/// The origin names the log (and is its signing key's name); this log writes no extension lines and accepts none.
/// </summary>
public sealed record Checkpoint(string Origin, long Size, byte[] RootHash)
{
    /// <summary>A body is three short lines; anything much longer is not one of ours.</summary>
    public const int MaxBodyLength = 1024;

    public string Origin { get; } = SignedNote.IsValidKeyName(Origin) ? Origin
        : throw new ArgumentException($"'{Origin}' is not a log origin (non-empty, no spaces, no '+').", nameof(Origin));

    public long Size { get; } = Size >= 0 ? Size : throw new ArgumentOutOfRangeException(nameof(Size), "A tree size is not negative.");

    public byte[] RootHash { get; } = RootHash.Length == Sha256Hash.Size ? RootHash.ToArray()
        : throw new ArgumentException($"A root hash is {Sha256Hash.Size} bytes.", nameof(RootHash));

    /// <summary>The log origin KPU uses for an election's log.</summary>
    public static string DefaultOrigin(string electionId) => $"kpu.go.id/kpuedge/{electionId}";

    /// <summary>The note text: origin, size in decimal, standard base64 root, each ending in a newline.</summary>
    public string Format() => $"{Origin}\n{Size.ToString(CultureInfo.InvariantCulture)}\n{Convert.ToBase64String(RootHash)}\n";

    public override string ToString() => Format();

    public static Checkpoint Parse(string body) =>
        TryParse(body, out var checkpoint, out string? error) ? checkpoint : throw new FormatException($"Not a checkpoint: {error}.");

    /// <summary>Strict: exactly three lines, a size without leading zeros, a canonical base64 root of 32 bytes.</summary>
    public static bool TryParse(string? body, [NotNullWhen(true)] out Checkpoint? checkpoint, [NotNullWhen(false)] out string? error)
    {
        checkpoint = null;
        if (string.IsNullOrEmpty(body) || body.Length > MaxBodyLength)
        {
            error = body is null or "" ? "empty" : $"longer than {MaxBodyLength} characters";
            return false;
        }
        if (!body.EndsWith('\n'))
        {
            error = "the text does not end in a newline";
            return false;
        }
        var lines = body[..^1].Split('\n');
        if (lines.Length < 3)
        {
            error = "fewer than three lines (origin, size, root hash)";
            return false;
        }
        if (lines.Length > 3)
        {
            error = "extension lines after the root hash (this log writes none)";
            return false;
        }
        string origin = lines[0], sizeText = lines[1], rootText = lines[2];
        if (!SignedNote.IsValidKeyName(origin))
        {
            error = $"'{origin}' is not an origin (non-empty, no spaces, no '+')";
            return false;
        }
        if (sizeText.Length == 0 || sizeText.Length > 19 || !sizeText.All(char.IsAsciiDigit) || (sizeText.Length > 1 && sizeText[0] == '0')
            || !long.TryParse(sizeText, NumberStyles.None, CultureInfo.InvariantCulture, out long size))
        {
            error = $"'{sizeText}' is not a tree size (decimal, no leading zeros)";
            return false;
        }
        if (!SignedNote.TryDecodeBase64(rootText, out var root) || root.Length != Sha256Hash.Size)
        {
            error = $"'{rootText}' is not a base64 SHA-256 root hash";
            return false;
        }
        checkpoint = new Checkpoint(origin, size, root);
        error = null;
        return true;
    }

    public bool Equals(Checkpoint? other) =>
        other is not null && Origin == other.Origin && Size == other.Size && RootHash.AsSpan().SequenceEqual(other.RootHash);

    public override int GetHashCode() => HashCode.Combine(Origin, Size, BitConverter.ToInt32(RootHash, 0));
}

/// <summary>
/// A checkpoint as published: the whole signed note and its parsed body. Parsing checks syntax only; whose signature
/// it carries is checked against a verifier key the reader trusts (<see cref="Open"/>, <see cref="LogVerification"/>).
/// </summary>
public sealed class SignedCheckpoint
{
    private SignedCheckpoint(string note, SignedNote parsed, Checkpoint checkpoint)
    {
        Note = note;
        Parsed = parsed;
        Checkpoint = checkpoint;
    }

    /// <summary>The note text exactly as received (body, blank line, signature lines).</summary>
    public string Note { get; }
    public SignedNote Parsed { get; }
    public Checkpoint Checkpoint { get; }

    /// <summary>Parses note and body; throws <see cref="NoteFormatException"/> (note) or <see cref="FormatException"/> (body). The signature is not checked.</summary>
    public static SignedCheckpoint Parse(string note)
    {
        var parsed = SignedNote.Parse(note);
        return new SignedCheckpoint(note, parsed, Checkpoint.Parse(parsed.Text));
    }

    public static bool TryParse(string? note, [NotNullWhen(true)] out SignedCheckpoint? checkpoint, [NotNullWhen(false)] out string? error)
    {
        checkpoint = null;
        if (note is null)
        {
            error = "no checkpoint";
            return false;
        }
        if (!SignedNote.TryParse(note, out var parsed, out var noteError))
        {
            error = noteError.Message;
            return false;
        }
        if (!Checkpoint.TryParse(parsed.Text, out var body, out error)) return false;
        checkpoint = new SignedCheckpoint(note, parsed, body);
        return true;
    }

    /// <summary>Parses and verifies: the log key's signature, and that the origin is the key's name. Throws <see cref="FormatException"/>.</summary>
    public static SignedCheckpoint Open(string note, NoteVerifierKey logKey)
    {
        var checkpoint = Parse(note);
        checkpoint.Parsed.Verify(logKey);
        if (checkpoint.Checkpoint.Origin != logKey.Name)
            throw new FormatException($"The checkpoint is of log '{checkpoint.Checkpoint.Origin}', not '{logKey.Name}'.");
        return checkpoint;
    }

    public override string ToString() => Note;
}

/// <summary>Signs the log's checkpoints with the log key; the key's name is the log's origin.</summary>
public sealed class CheckpointSigner
{
    private readonly NoteSigner _signer;

    public CheckpointSigner(DeviceKey logKey, string origin)
    {
        if (!SignedNote.IsValidKeyName(origin)) throw new ArgumentException($"'{origin}' is not a log origin (non-empty, no spaces, no '+').", nameof(origin));
        _signer = new NoteSigner(origin, logKey);
    }

    public string Origin => _signer.Name;

    /// <summary>What verifiers must be given (out of band: never fetched from the log they check).</summary>
    public NoteVerifierKey VerifierKey => _signer.VerifierKey;

    /// <summary>The signed note of the tree of <paramref name="size"/> leaves with root <paramref name="rootHash"/>.</summary>
    public string Sign(long size, ReadOnlySpan<byte> rootHash) => SignedNote.Sign(new Checkpoint(Origin, size, rootHash.ToArray()).Format(), _signer);

    public string Sign(Checkpoint checkpoint)
    {
        if (checkpoint.Origin != Origin) throw new ArgumentException($"The checkpoint is of '{checkpoint.Origin}', this signer signs '{Origin}'.", nameof(checkpoint));
        return SignedNote.Sign(checkpoint.Format(), _signer);
    }

    /// <summary>The cloud's signed refusal of a submission (<see cref="RejectionStatement"/>), by the same key.</summary>
    public string Sign(RejectionStatement rejection) => SignedNote.Sign(rejection.Format(), _signer);

    /// <summary>The cloud's signed word that a page image is stored or refused (<see cref="ImageStatement"/>), by the same key.</summary>
    public string Sign(ImageStatement statement) => SignedNote.Sign(statement.Format(), _signer);

    /// <summary>The checkpoint of the first <paramref name="size"/> leaves of <paramref name="tree"/>.</summary>
    public string Sign(MerkleTree tree, long size) => Sign(size, tree.Root(size));
}
