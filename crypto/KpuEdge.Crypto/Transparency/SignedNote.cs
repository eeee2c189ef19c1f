using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;

namespace KpuEdge.Crypto.Transparency;

/// <summary>Why a signed note or a verifier key was refused. <see cref="NoteErrors.Code"/> gives the stable string.</summary>
public enum NoteError
{
    /// <summary>Not a note: control characters, invalid UTF-8, a bad signature line or key name, no text.</summary>
    Malformed,
    /// <summary>Larger than <see cref="SignedNote.MaxNoteBytes"/> or more than <see cref="SignedNote.MaxSignatures"/> signatures.</summary>
    TooLong,
    /// <summary>No blank line followed by signature lines (em dash, space, key name, space, base64).</summary>
    NoSignature,
    /// <summary>A signature's base64 is not canonical standard base64, or is too short to hold a key hash and signature.</summary>
    BadBase64,
    /// <summary>No signature carries the verifier key's name.</summary>
    UnknownKey,
    /// <summary>A signature carries the key's name but another key hash: signed by another key of that name.</summary>
    WrongKeyHash,
    /// <summary>A signature by the verifier key (name and key hash match) does not verify.</summary>
    BadSignature,
}

public static class NoteErrors
{
    public static string Code(this NoteError error) => error switch
    {
        NoteError.Malformed => "malformed_note",
        NoteError.TooLong => "note_too_long",
        NoteError.NoSignature => "no_signature",
        NoteError.BadBase64 => "bad_base64",
        NoteError.UnknownKey => "unknown_key",
        NoteError.WrongKeyHash => "wrong_key_hash",
        NoteError.BadSignature => "bad_signature",
        _ => throw new ArgumentOutOfRangeException(nameof(error)),
    };
}

public sealed class NoteFormatException(NoteError error, string message) : FormatException(message)
{
    public NoteError Error { get; } = error;
    public string Code => Error.Code();
}

/// <summary>One signature line of a note: key name, key hash (the first 4 bytes) and the signature proper.</summary>
public sealed record NoteSignature(string KeyName, uint KeyHash, byte[] Signature)
{
    /// <summary>The signature line as it appears in the note, newline included.</summary>
    public string ToLine()
    {
        var raw = new byte[4 + Signature.Length];
        BinaryPrimitives.WriteUInt32BigEndian(raw, KeyHash);
        Signature.CopyTo(raw, 4);
        return $"{SignedNote.SignaturePrefix}{KeyName} {Convert.ToBase64String(raw)}\n";
    }
}

/// <summary>
/// The Ed25519 verifier key of a note signer in the <c>golang.org/x/mod/sumdb/note</c> text form
/// <c>&lt;name&gt;+&lt;8 hex key hash&gt;+&lt;base64(0x01 ‖ 32-byte public key)&gt;</c>, the form a log publishes its key in.
/// </summary>
public sealed class NoteVerifierKey
{
    /// <summary>C2SP signed-note signature type of Ed25519.</summary>
    public const byte Ed25519Type = 0x01;

    private readonly DevicePublicKey _key;

    private NoteVerifierKey(string name, DevicePublicKey key)
    {
        Name = name;
        _key = key;
        KeyHash = ComputeKeyHash(name, key.Encoded);
    }

    public string Name { get; }
    public uint KeyHash { get; }
    public byte[] PublicKey => _key.Encoded;

    public static NoteVerifierKey Create(string name, DevicePublicKey key)
    {
        if (!SignedNote.IsValidKeyName(name)) throw new ArgumentException($"'{name}' is not a note key name (non-empty, no spaces, no '+').", nameof(name));
        return new NoteVerifierKey(name, key);
    }

    public static NoteVerifierKey Create(string name, DeviceKey key) => Create(name, key.PublicKey);

    /// <summary>Key hash = the first 4 bytes (big-endian) of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key) (C2SP signed-note).</summary>
    public static uint ComputeKeyHash(string name, ReadOnlySpan<byte> publicKey)
    {
        byte[] nameBytes = Encoding.UTF8.GetBytes(name);
        var buffer = new byte[nameBytes.Length + 2 + publicKey.Length];
        nameBytes.CopyTo(buffer, 0);
        buffer[nameBytes.Length] = (byte)'\n';
        buffer[nameBytes.Length + 1] = Ed25519Type;
        publicKey.CopyTo(buffer.AsSpan(nameBytes.Length + 2));
        return BinaryPrimitives.ReadUInt32BigEndian(SHA256.HashData(buffer));
    }

    public string Format()
    {
        var typed = new byte[1 + PublicKey.Length];
        typed[0] = Ed25519Type;
        PublicKey.CopyTo(typed, 1);
        return $"{Name}+{KeyHash:x8}+{Convert.ToBase64String(typed)}";
    }

    public override string ToString() => Format();

    /// <summary>Parses the text form; the key hash must match the name and key, so a mangled key never parses.</summary>
    public static NoteVerifierKey Parse(string text) =>
        TryParse(text, out var key, out string? error) ? key : throw new NoteFormatException(NoteError.Malformed, $"Not a verifier key: {error}.");

    public static bool TryParse(string? text, [NotNullWhen(true)] out NoteVerifierKey? key, [NotNullWhen(false)] out string? error)
    {
        key = null;
        text = text?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            error = "empty";
            return false;
        }
        // The name cannot contain '+', so the text splits into exactly three parts.
        var parts = text.Split('+');
        if (parts.Length < 3)
        {
            error = "expected <name>+<key hash>+<base64 key>";
            return false;
        }
        // Standard base64 may itself contain '+': everything after the second '+' is the key.
        string name = parts[0], hashText = parts[1], keyText = string.Join('+', parts.Skip(2));
        if (!SignedNote.IsValidKeyName(name))
        {
            error = $"bad key name '{name}'";
            return false;
        }
        if (hashText.Length != 8 || !hashText.All(Uri.IsHexDigit) || hashText.Any(char.IsUpper)
            || !uint.TryParse(hashText, System.Globalization.NumberStyles.HexNumber, null, out uint hash))
        {
            error = "the key hash is not 8 lower-case hex digits";
            return false;
        }
        if (!SignedNote.TryDecodeBase64(keyText, out var typed))
        {
            error = "the key is not canonical base64";
            return false;
        }
        if (typed.Length == 0 || typed[0] != Ed25519Type)
        {
            error = "not an Ed25519 key (type 0x01)";
            return false;
        }
        if (typed.Length != 33)
        {
            error = $"an Ed25519 key is 32 bytes, not {typed.Length - 1}";
            return false;
        }
        uint expected = ComputeKeyHash(name, typed.AsSpan(1));
        if (expected != hash)
        {
            error = $"the key hash {hashText} does not match the name and key ({expected:x8})";
            return false;
        }
        try
        {
            key = new NoteVerifierKey(name, new DevicePublicKey(typed.AsSpan(1)));
        }
        catch (ArgumentException e)
        {
            error = $"not an Ed25519 public key ({e.Message})";
            return false;
        }
        error = null;
        return true;
    }

    /// <summary>
    /// Whether <paramref name="signature"/> is this key's over <paramref name="text"/>. A log's checkpoint is checked by
    /// everyone who gets a receipt or a proof with it, again and again (a PPK station relays a hundred TPS's receipts of
    /// the same checkpoint): the last few (text, signature) pairs that verified are remembered by their SHA-256 (length-prefixed), so
    /// the same bytes are not verified twice. Only a success is remembered; a different byte anywhere misses.
    /// </summary>
    internal bool Verify(byte[] text, byte[] signature)
    {
        var digest = new byte[SHA256.HashSizeInBytes];
        using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
        {
            Span<byte> length = stackalloc byte[4];
            BinaryPrimitives.WriteInt32BigEndian(length, text.Length);
            hash.AppendData(length);
            hash.AppendData(text);
            hash.AppendData(signature);
            hash.GetHashAndReset(digest);
        }
        int slot = (int)(BinaryPrimitives.ReadUInt32LittleEndian(digest) % (uint)_verified.Length);
        if (Volatile.Read(ref _verified[slot]) is { } seen && seen.AsSpan().SequenceEqual(digest)) return true;
        if (!_key.Verify(text, 0, text.Length, signature)) return false;
        Volatile.Write(ref _verified[slot], digest);
        return true;
    }

    // Digests of (text ‖ signature) pairs that verified, one per slot; a slot's array is replaced whole, never changed.
    private readonly byte[]?[] _verified = new byte[]?[64];
}

/// <summary>Signs notes with an Ed25519 key under a key name (for the log: its origin).</summary>
public sealed class NoteSigner
{
    private readonly DeviceKey _key;

    public NoteSigner(string name, DeviceKey key)
    {
        VerifierKey = NoteVerifierKey.Create(name, key);
        _key = key;
    }

    public string Name => VerifierKey.Name;
    public uint KeyHash => VerifierKey.KeyHash;
    public NoteVerifierKey VerifierKey { get; }

    public NoteSignature Sign(string text) => new(Name, KeyHash, _key.Sign(SignedNote.Utf8.GetBytes(text)));
}

/// <summary>
/// A C2SP signed note (c2sp.org/signed-note, as golang.org/x/mod/sumdb/note): a text ending in a newline, a blank
/// line, then one line per signature, <c>— &lt;key name&gt; &lt;base64(4-byte key hash ‖ signature)&gt;</c>. Only Ed25519
/// (signature type 0x01). The text means nothing until a trusted key's signature over it verified: use
/// <see cref="Open(string, NoteVerifierKey)"/>; <see cref="Parse(string)"/> checks the syntax only.
/// </summary>
public sealed class SignedNote
{
    /// <summary>A checkpoint note is ~200 bytes; the cap keeps a hostile server from making a client parse megabytes.</summary>
    public const int MaxNoteBytes = 16 * 1024;
    /// <summary>The spec asks verifiers to accept at least 16; Go's implementation stops at 100.</summary>
    public const int MaxSignatures = 100;
    /// <summary>U+2014 em dash and a space.</summary>
    public const string SignaturePrefix = "\u2014 ";

    internal static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private SignedNote(string text, IReadOnlyList<NoteSignature> signatures)
    {
        Text = text;
        Signatures = signatures;
    }

    /// <summary>The signed text, final newline included, without the blank line.</summary>
    public string Text { get; }
    public IReadOnlyList<NoteSignature> Signatures { get; }

    /// <summary>Signs <paramref name="text"/> (which must end in a newline) and returns the whole note.</summary>
    public static string Sign(string text, NoteSigner signer)
    {
        CheckText(text);
        string note = text + "\n" + signer.Sign(text).ToLine();
        if (Utf8.GetByteCount(note) > MaxNoteBytes) throw new ArgumentException($"A note is at most {MaxNoteBytes} bytes.", nameof(text));
        return note;
    }

    /// <summary>Parses and verifies: returns the note when <paramref name="key"/>'s signature verifies; otherwise throws <see cref="NoteFormatException"/>.</summary>
    public static SignedNote Open(string note, NoteVerifierKey key)
    {
        var parsed = Parse(note);
        parsed.Verify(key);
        return parsed;
    }

    public static bool TryOpen(string note, NoteVerifierKey key, [NotNullWhen(true)] out SignedNote? opened, [NotNullWhen(false)] out NoteFormatException? error)
    {
        try
        {
            opened = Open(note, key);
            error = null;
            return true;
        }
        catch (NoteFormatException e)
        {
            opened = null;
            error = e;
            return false;
        }
    }

    /// <summary>
    /// Checks the signatures against <paramref name="key"/> (C2SP rules): signatures of other keys are ignored, every
    /// signature of this key (same name and key hash) must verify, and at least one must be there.
    /// </summary>
    public void Verify(NoteVerifierKey key)
    {
        byte[] text = Utf8.GetBytes(Text);
        bool verified = false;
        foreach (var signature in Signatures)
        {
            if (signature.KeyName != key.Name || signature.KeyHash != key.KeyHash) continue;
            if (!key.Verify(text, signature.Signature))
                throw new NoteFormatException(NoteError.BadSignature, $"The signature of {key.Name}+{key.KeyHash:x8} does not verify.");
            verified = true;
        }
        if (verified) return;
        if (Signatures.Any(s => s.KeyName == key.Name))
            throw new NoteFormatException(NoteError.WrongKeyHash,
                $"Signed by a key named {key.Name} with key hash {string.Join(", ", Signatures.Where(s => s.KeyName == key.Name).Select(s => s.KeyHash.ToString("x8")))}, not {key.KeyHash:x8}.");
        throw new NoteFormatException(NoteError.UnknownKey,
            $"No signature by {key.Name}; signed by {string.Join(", ", Signatures.Select(s => $"{s.KeyName}+{s.KeyHash:x8}"))}.");
    }

    public static SignedNote Parse(ReadOnlySpan<byte> utf8)
    {
        if (utf8.Length > MaxNoteBytes) throw new NoteFormatException(NoteError.TooLong, $"The note is {utf8.Length} bytes; at most {MaxNoteBytes}.");
        string note;
        try
        {
            note = Utf8.GetString(utf8);
        }
        catch (DecoderFallbackException)
        {
            throw new NoteFormatException(NoteError.Malformed, "The note is not valid UTF-8.");
        }
        return Parse(note);
    }

    /// <summary>Parses the syntax only; no signature is checked (see <see cref="Open(string, NoteVerifierKey)"/>).</summary>
    public static SignedNote Parse(string note)
    {
        // A cheap bound first: UTF-8 never takes fewer bytes than UTF-16 code units.
        if (note.Length > MaxNoteBytes || ByteCount(note) > MaxNoteBytes)
            throw new NoteFormatException(NoteError.TooLong, $"The note is longer than {MaxNoteBytes} bytes.");
        if (ByteCount(note) < 0) throw new NoteFormatException(NoteError.Malformed, "The note is not valid Unicode (a lone surrogate).");
        if (note.Any(c => c < 0x20 && c != '\n'))
            throw new NoteFormatException(NoteError.Malformed, "The note contains a control character other than newline (a carriage return?).");
        int split = note.LastIndexOf("\n\n", StringComparison.Ordinal);
        if (split < 0)
            throw new NoteFormatException(NoteError.NoSignature, "No signature: a note is its text, a blank line, then '— <key name> <signature>' lines.");
        string text = note[..(split + 1)], block = note[(split + 2)..];
        if (block.Length == 0)
            throw new NoteFormatException(NoteError.NoSignature, "No signature line after the blank line.");
        if (!block.EndsWith('\n'))
            throw new NoteFormatException(NoteError.Malformed, "The note does not end in a newline.");

        var lines = block[..^1].Split('\n');
        if (lines.Length > MaxSignatures)
            throw new NoteFormatException(NoteError.TooLong, $"{lines.Length} signatures; at most {MaxSignatures}.");
        var signatures = new List<NoteSignature>(lines.Length);
        foreach (string line in lines)
        {
            if (!line.StartsWith(SignaturePrefix, StringComparison.Ordinal))
                throw new NoteFormatException(NoteError.Malformed, $"Signature line '{Shorten(line)}' does not start with an em dash (U+2014) and a space.");
            string rest = line[SignaturePrefix.Length..];
            int space = rest.IndexOf(' ');
            if (space < 0) throw new NoteFormatException(NoteError.Malformed, $"Signature line '{Shorten(line)}' has no key name and signature.");
            string name = rest[..space], base64 = rest[(space + 1)..];
            if (!IsValidKeyName(name)) throw new NoteFormatException(NoteError.Malformed, $"'{Shorten(name)}' is not a key name.");
            if (base64.Contains(' ')) throw new NoteFormatException(NoteError.Malformed, $"Signature line '{Shorten(line)}' has more than a key name and a signature.");
            if (!TryDecodeBase64(base64, out var raw))
                throw new NoteFormatException(NoteError.BadBase64, $"The signature of {name} is not canonical standard base64.");
            if (raw.Length < 5) throw new NoteFormatException(NoteError.BadBase64, $"The signature of {name} is {raw.Length} bytes: no room for a key hash and a signature.");
            signatures.Add(new NoteSignature(name, BinaryPrimitives.ReadUInt32BigEndian(raw), raw[4..]));
        }
        return new SignedNote(text, signatures);
    }

    public static bool TryParse(string note, [NotNullWhen(true)] out SignedNote? parsed, [NotNullWhen(false)] out NoteFormatException? error)
    {
        try
        {
            parsed = Parse(note);
            error = null;
            return true;
        }
        catch (NoteFormatException e)
        {
            parsed = null;
            error = e;
            return false;
        }
    }

    /// <summary>The note as text: the text, a blank line, the signature lines.</summary>
    public override string ToString() => Text + "\n" + string.Concat(Signatures.Select(s => s.ToLine()));

    /// <summary>C2SP: non-empty, no Unicode space, no '+'.</summary>
    public static bool IsValidKeyName(string? name) =>
        !string.IsNullOrEmpty(name) && !name.Any(c => char.IsWhiteSpace(c) || c == '+' || c < 0x20) && ByteCount(name) >= 0;

    private static void CheckText(string text)
    {
        if (text.Length == 0 || !text.EndsWith('\n')) throw new ArgumentException("A note's text ends in a newline.", nameof(text));
        if (text.Any(c => c < 0x20 && c != '\n')) throw new ArgumentException("A note's text has no control character other than newline.", nameof(text));
        if (ByteCount(text) < 0) throw new ArgumentException("A note's text is valid Unicode.", nameof(text));
    }

    /// <summary>UTF-8 byte count, or -1 for text that has no UTF-8 form (a lone surrogate).</summary>
    private static int ByteCount(string text)
    {
        try
        {
            return Utf8.GetByteCount(text);
        }
        catch (EncoderFallbackException)
        {
            return -1;
        }
    }

    /// <summary>Standard base64 (RFC 4648 §4) in its one canonical form: padded, no whitespace, zero spare bits.</summary>
    internal static bool TryDecodeBase64(string text, out byte[] bytes)
    {
        bytes = [];
        if (text.Length == 0 || text.Length % 4 != 0) return false;
        foreach (char c in text)
            if (!(c is >= 'A' and <= 'Z' or >= 'a' and <= 'z' or >= '0' and <= '9' or '+' or '/' or '=')) return false;
        try
        {
            bytes = Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            return false;
        }
        return Convert.ToBase64String(bytes) == text;
    }

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "…";
}
