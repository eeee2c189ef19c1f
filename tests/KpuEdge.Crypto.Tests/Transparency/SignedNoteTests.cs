using KpuEdge.Crypto.Transparency;

namespace KpuEdge.Crypto.Tests.Transparency;

/// <summary>
/// C2SP signed notes against the test vectors of golang.org/x/mod/sumdb/note (note_test.go: the PeterNeumann and
/// EnochRoot keys, texts and signatures), and every refusal.
/// </summary>
public sealed class SignedNoteTests
{
    // From note_test.go: Peter's private key is "PRIVATE+KEY+PeterNeumann+c74f20a3+" + base64(0x01 ‖ seed).
    private static readonly DeviceKey PeterKey = DeviceKey.FromPrivateBytes(Convert.FromBase64String("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz").AsSpan(1));
    private const string PeterVerifierKey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    private const string EnochVerifierKey = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    private const string Text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    private const string PeterSig = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    private const string EnochSig = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    private static readonly NoteVerifierKey Peter = NoteVerifierKey.Parse(PeterVerifierKey);
    private static readonly NoteVerifierKey Enoch = NoteVerifierKey.Parse(EnochVerifierKey);

    private static NoteError Refusal(string note, NoteVerifierKey key) =>
        Assert.Throws<NoteFormatException>(() => SignedNote.Open(note, key)).Error;

    [Fact]
    public void Signs_the_Go_test_note_byte_for_byte()
    {
        var signer = new NoteSigner("PeterNeumann", PeterKey);

        Assert.Equal(Text + "\n" + PeterSig, SignedNote.Sign(Text, signer));
        Assert.Equal(PeterVerifierKey, signer.VerifierKey.Format());
        Assert.Equal(0xc74f20a3u, signer.KeyHash);
    }

    [Fact]
    public void Parses_formats_and_derives_the_Go_verifier_keys()
    {
        Assert.Equal(PeterVerifierKey, Peter.Format());
        Assert.Equal("PeterNeumann", Peter.Name);
        Assert.Equal(0xc74f20a3u, Peter.KeyHash);
        Assert.Equal(PeterKey.PublicKey.Encoded, Peter.PublicKey);
        Assert.Equal(PeterVerifierKey, NoteVerifierKey.Create("PeterNeumann", PeterKey).Format());
        Assert.Equal(0xaf0cfe78u, Enoch.KeyHash);
        Assert.Equal(EnochVerifierKey, NoteVerifierKey.Create("EnochRoot", new DevicePublicKey(Enoch.PublicKey)).ToString());
    }

    [Fact]
    public void Refuses_every_mangling_of_a_verifier_key()
    {
        // As note_test.go TestNewVerifier: every proper substring and every single-character change.
        for (int i = 0; i <= PeterVerifierKey.Length; i++)
        for (int j = i + 1; j <= PeterVerifierKey.Length; j++)
        {
            if (i == 0 && j == PeterVerifierKey.Length) continue;
            Assert.False(NoteVerifierKey.TryParse(PeterVerifierKey[i..j], out _, out _), PeterVerifierKey[i..j]);
        }
        var chars = PeterVerifierKey.ToCharArray();
        for (int i = 0; i < chars.Length; i++)
        {
            chars[i]++;
            Assert.False(NoteVerifierKey.TryParse(new string(chars), out _, out _), new string(chars));
            chars[i]--;
        }
        // A wrong-length key and an unknown algorithm, each with its key hash adjusted (note_test.go).
        Assert.False(NoteVerifierKey.TryParse("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==", out _, out _));
        Assert.False(NoteVerifierKey.TryParse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", out _, out _));
        Assert.Throws<NoteFormatException>(() => NoteVerifierKey.Parse("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"));
        Assert.Throws<ArgumentException>(() => NoteVerifierKey.Create("Peter Neumann", PeterKey));
        Assert.Throws<ArgumentException>(() => NoteVerifierKey.Create("a+b", PeterKey));
    }

    [Fact]
    public void Opens_a_note_signed_by_the_key_and_ignores_signatures_of_other_keys()
    {
        string note = Text + "\n" + PeterSig + EnochSig;

        var byPeter = SignedNote.Open(note, Peter);
        Assert.Equal(Text, byPeter.Text);
        Assert.Equal(2, byPeter.Signatures.Count);
        Assert.Equal(("PeterNeumann", 0xc74f20a3u), (byPeter.Signatures[0].KeyName, byPeter.Signatures[0].KeyHash));
        Assert.Equal(Text, SignedNote.Open(note, Enoch).Text);
        Assert.Equal(note, byPeter.ToString());
        Assert.Equal(Text, SignedNote.Parse(System.Text.Encoding.UTF8.GetBytes(note)).Text);
    }

    [Fact]
    public void Round_trips_a_note_signed_with_a_fresh_key()
    {
        var signer = new NoteSigner("kpu.go.id/kpuedge/test", DeviceKey.Deterministic("note", 7));
        string text = "line one\n\nline three after a blank line\n";
        string note = SignedNote.Sign(text, signer);

        Assert.Equal(text, SignedNote.Open(note, signer.VerifierKey).Text);
        Assert.Equal(text, SignedNote.Open(note, NoteVerifierKey.Parse(signer.VerifierKey.Format())).Text);
    }

    [Fact]
    public void A_note_verified_before_is_remembered_but_a_changed_byte_is_checked_again()
    {
        var signer = new NoteSigner("kpu.go.id/kpuedge/test", DeviceKey.Deterministic("note", 7));
        var key = NoteVerifierKey.Parse(signer.VerifierKey.Format());
        string note = SignedNote.Sign("size 1\n", signer);
        // The same bytes again and again (every receipt of one checkpoint): still good.
        for (int i = 0; i < 3; i++) Assert.Equal("size 1\n", SignedNote.Open(note, key).Text);
        // After a success, a changed text or a changed signature byte is still refused.
        Assert.Equal(NoteError.BadSignature, Refusal(note.Replace("size 1", "size 2"), key));
        var line = note.Split('\n')[^2];
        var signature = Convert.FromBase64String(line.Split(' ')[^1]);
        signature[^1] ^= 1;
        string flipped = note.Replace(line, string.Join(' ', line.Split(' ')[..^1]) + " " + Convert.ToBase64String(signature));
        Assert.Equal(NoteError.BadSignature, Refusal(flipped, key));
    }

    [Fact]
    public void Refuses_a_note_without_a_signature_of_the_key()
    {
        // Signed by Enoch only: Peter's key finds nothing of its own.
        Assert.Equal(NoteError.UnknownKey, Refusal(Text + "\n" + EnochSig, Peter));
        // Several signatures, none by the key.
        var other = new NoteSigner("PeterNeumann2", DeviceKey.Deterministic("x", 1));
        Assert.Equal(NoteError.UnknownKey, Refusal(Text + "\n" + EnochSig + other.Sign(Text).ToLine(), Peter));
    }

    [Fact]
    public void Refuses_a_note_signed_by_another_key_under_the_same_name()
    {
        var impostor = new NoteSigner("PeterNeumann", DeviceKey.Deterministic("impostor", 1));
        string note = SignedNote.Sign(Text, impostor);

        Assert.Equal(NoteError.WrongKeyHash, Refusal(note, Peter));
        // The key hash of the line altered to Peter's: now it is Peter's key, and the signature fails.
        string forged = note.Replace(note.Split(' ')[^1].TrimEnd('\n'), Convert.ToBase64String(
            [0xc7, 0x4f, 0x20, 0xa3, .. impostor.Sign(Text).Signature]));
        Assert.Equal(NoteError.BadSignature, Refusal(forged, Peter));
    }

    [Fact]
    public void Refuses_a_bad_signature_even_next_to_a_good_one_of_another_key()
    {
        // note_test.go: "ABCD" inserted into Peter's signature.
        string bent = PeterSig[..60] + "ABCD" + PeterSig[60..];
        Assert.Equal(NoteError.BadSignature, Refusal(Text + "\n" + bent, Peter));
        Assert.Equal(NoteError.BadSignature, Refusal(Text + "\n" + EnochSig + bent, Peter));
        // A changed text under a good signature.
        Assert.Equal(NoteError.BadSignature, Refusal(Text.Replace("answer", "Answer") + "\n" + PeterSig, Peter));
        // A good and a bad signature of the same key: the note is refused, whatever the order.
        Assert.Equal(NoteError.BadSignature, Refusal(Text + "\n" + PeterSig + bent, Peter));
        Assert.Equal(NoteError.BadSignature, Refusal(Text + "\n" + bent + PeterSig, Peter));
    }

    [Fact]
    public void Refuses_notes_without_an_em_dash_signature_line()
    {
        Assert.Equal(NoteError.NoSignature, Refusal(Text, Peter));
        Assert.Equal(NoteError.NoSignature, Refusal(Text + "\n", Peter));
        Assert.Equal(NoteError.Malformed, Refusal(Text + "\n" + PeterSig.Replace("—", "--"), Peter));
        Assert.Equal(NoteError.Malformed, Refusal(Text + "\n" + PeterSig.Replace("—", "-"), Peter));
        Assert.Equal(NoteError.Malformed, Refusal(Text + "\n" + PeterSig + "Unexpected line.\n", Peter));
        Assert.Equal(NoteError.Malformed, Refusal(Text + "\n" + PeterSig.Replace("— PeterNeumann ", "—PeterNeumann "), Peter));
        Assert.Equal(NoteError.Malformed, Refusal(Text + "\n" + PeterSig.Replace("x08go/", "x08 go/"), Peter));
        Assert.Equal(NoteError.Malformed, Refusal(Text + "\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n", Peter));
    }

    [Fact]
    public void Refuses_a_note_whose_text_does_not_end_in_a_newline()
    {
        Assert.Equal(NoteError.Malformed, Refusal(Text + "\n" + PeterSig[..^1], Peter));
        Assert.Throws<ArgumentException>(() => SignedNote.Sign("no newline", new NoteSigner("PeterNeumann", PeterKey)));
        Assert.Throws<ArgumentException>(() => SignedNote.Sign("", new NoteSigner("PeterNeumann", PeterKey)));
    }

    [Fact]
    public void Refuses_control_characters_and_invalid_utf8()
    {
        Assert.Equal(NoteError.Malformed, Refusal("\x01" + Text + "\n" + PeterSig, Peter));
        Assert.Equal(NoteError.Malformed, Refusal(Text.Replace("\n", "\r\n") + "\n" + PeterSig, Peter));
        Assert.Equal(NoteError.Malformed, Refusal("\ud800" + Text + "\n" + PeterSig, Peter));
        var bytes = System.Text.Encoding.UTF8.GetBytes(Text + "\n" + PeterSig);
        bytes[0] = 0xff;
        Assert.Equal(NoteError.Malformed, Assert.Throws<NoteFormatException>(() => SignedNote.Parse(bytes)).Error);
        Assert.Throws<ArgumentException>(() => SignedNote.Sign("tab\there\n", new NoteSigner("PeterNeumann", PeterKey)));
    }

    [Fact]
    public void Refuses_bad_base64_in_a_signature()
    {
        Assert.Equal(NoteError.BadBase64, Refusal(Text + "\n" + PeterSig.Replace("x08go", "x08g!"), Peter));
        Assert.Equal(NoteError.BadBase64, Refusal(Text + "\n" + PeterSig.Replace("AM=\n", "AM\n"), Peter));
        // Non-zero spare bits: "AN=" decodes like "AM=" in lax decoders; only one spelling is accepted.
        Assert.Equal(NoteError.BadBase64, Refusal(Text + "\n" + PeterSig.Replace("AM=\n", "AN=\n"), Peter));
        Assert.Equal(NoteError.BadBase64, Refusal(Text + "\n" + "— PeterNeumann x08g\n", Peter));
        // Even a signature line of another key must be well formed.
        Assert.Equal(NoteError.BadBase64, Refusal(Text + "\n" + PeterSig + "— EnochRoot !!!!\n", Peter));
    }

    [Fact]
    public void Refuses_over_long_notes_and_too_many_signatures()
    {
        string longText = string.Concat(Enumerable.Repeat("a long line of text for the note\n", 600));
        Assert.Equal(NoteError.TooLong, Refusal(longText + "\n" + PeterSig, Peter));
        Assert.Throws<ArgumentException>(() => SignedNote.Sign(longText, new NoteSigner("PeterNeumann", PeterKey)));
        Assert.Equal(NoteError.TooLong, Refusal(Text + "\n" + string.Concat(Enumerable.Repeat(EnochSig, 101)) + PeterSig, Peter));
        // Up to the limit is fine (the spec asks for at least 16).
        Assert.Equal(Text, SignedNote.Open(Text + "\n" + string.Concat(Enumerable.Repeat(EnochSig, 99)) + PeterSig, Peter).Text);
    }

    [Fact]
    public void TryOpen_reports_the_error_code()
    {
        Assert.True(SignedNote.TryOpen(Text + "\n" + PeterSig, Peter, out var note, out _));
        Assert.Equal(Text, note.Text);
        Assert.False(SignedNote.TryOpen(Text + "\n" + EnochSig, Peter, out _, out var error));
        Assert.Equal("unknown_key", error.Code);
    }
}
