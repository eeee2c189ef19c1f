using KpuEdge.Crypto.Transparency;

namespace KpuEdge.Crypto.Tests.Transparency;

public sealed class CheckpointTests
{
    private static readonly byte[] Root = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
    private const string Origin = "kpu.go.id/kpuedge/pemilu-2024";

    [Fact]
    public void Formats_the_tlog_checkpoint_body_and_parses_it_back()
    {
        var checkpoint = new Checkpoint(Origin, 20852163, Root);
        string body = checkpoint.Format();

        Assert.Equal($"{Origin}\n20852163\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", body);
        Assert.Equal(checkpoint, Checkpoint.Parse(body));
        Assert.Equal("kpu.go.id/kpuedge/pemilu-2024", Checkpoint.DefaultOrigin("pemilu-2024"));
        Assert.Equal("0", new Checkpoint(Origin, 0, LogVerification.EmptyTreeRoot).Format().Split('\n')[1]);
    }

    [Theory]
    [InlineData("")]
    [InlineData("kpu.go.id/x\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")]                   // no final newline
    [InlineData("kpu.go.id/x\n5\n")]                                                              // no root
    [InlineData("kpu.go.id/x\n05\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n")]               // leading zero
    [InlineData("kpu.go.id/x\n-5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n")]               // negative
    [InlineData("kpu.go.id/x\n+5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n")]               // sign
    [InlineData("kpu.go.id/x\n 5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n")]               // space
    [InlineData("kpu.go.id/x\n99999999999999999999\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n")] // too large
    [InlineData("kpu.go.id/x\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\n")]                // 31 bytes
    [InlineData("kpu.go.id/x\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n")]                 // no padding
    [InlineData("kpu.go.id/x\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=\n")]                // spare bits set
    [InlineData("kpu.go.id/x\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\nextension\n")]    // extension line
    [InlineData("\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n")]                          // empty origin
    [InlineData("kpu go id\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n")]                  // space in origin
    public void Refuses_bodies_that_are_not_exactly_a_checkpoint(string body)
    {
        Assert.False(Checkpoint.TryParse(body, out _, out string? error));
        Assert.NotEmpty(error);
        Assert.Throws<FormatException>(() => Checkpoint.Parse(body));
    }

    [Fact]
    public void Cannot_hold_an_invalid_checkpoint()
    {
        Assert.Throws<ArgumentException>(() => new Checkpoint("a b", 1, Root));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Checkpoint(Origin, -1, Root));
        Assert.Throws<ArgumentException>(() => new Checkpoint(Origin, 1, new byte[31]));
    }

    [Fact]
    public void Compares_by_value()
    {
        Assert.Equal(new Checkpoint(Origin, 3, Root), new Checkpoint(Origin, 3, Root.ToArray()));
        Assert.NotEqual(new Checkpoint(Origin, 3, Root), new Checkpoint(Origin, 4, Root));
        Assert.NotEqual(new Checkpoint(Origin, 3, Root), new Checkpoint(Origin, 3, new byte[32]));
    }

    [Fact]
    public void Signs_a_checkpoint_that_opens_with_the_signers_verifier_key_only()
    {
        var signer = new CheckpointSigner(DeviceKey.Deterministic("log", 1), Origin);
        string note = signer.Sign(7, Root);

        var opened = SignedCheckpoint.Open(note, signer.VerifierKey);
        Assert.Equal(new Checkpoint(Origin, 7, Root), opened.Checkpoint);
        Assert.Equal(note, opened.Note);
        Assert.StartsWith($"{Origin}\n7\n", note);
        Assert.Contains($"\n\n— {Origin} ", note);

        var other = new CheckpointSigner(DeviceKey.Deterministic("log", 2), Origin);
        Assert.Throws<NoteFormatException>(() => SignedCheckpoint.Open(note, other.VerifierKey));
        // A key named after another log: its checkpoints are not this log's, even when the signature verifies.
        string otherLog = SignedNote.Sign(new Checkpoint("kpu.go.id/kpuedge/other", 7, Root).Format(), new NoteSigner(Origin, DeviceKey.Deterministic("log", 1)));
        Assert.Throws<FormatException>(() => SignedCheckpoint.Open(otherLog, signer.VerifierKey));
        Assert.Throws<ArgumentException>(() => signer.Sign(new Checkpoint("kpu.go.id/kpuedge/other", 7, Root)));
        Assert.Throws<ArgumentException>(() => new CheckpointSigner(DeviceKey.Deterministic("log", 1), "has space"));
    }

    [Fact]
    public void Parses_a_signed_checkpoint_without_trusting_it()
    {
        var signer = new CheckpointSigner(DeviceKey.Deterministic("log", 1), Origin);
        Assert.True(SignedCheckpoint.TryParse(signer.Sign(7, Root), out var parsed, out _));
        Assert.Equal(7, parsed.Checkpoint.Size);
        Assert.False(SignedCheckpoint.TryParse("not a note", out _, out string? error));
        Assert.NotEmpty(error);
        string badBody = SignedNote.Sign("just one line\n", new NoteSigner(Origin, DeviceKey.Deterministic("log", 1)));
        Assert.False(SignedCheckpoint.TryParse(badBody, out _, out _));
    }
}
