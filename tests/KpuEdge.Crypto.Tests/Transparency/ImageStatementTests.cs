using KpuEdge.Crypto.Transparency;

namespace KpuEdge.Crypto.Tests.Transparency;

public sealed class ImageStatementTests
{
    private static readonly string Origin = Checkpoint.DefaultOrigin("pemilu-2024");
    private static readonly CheckpointSigner Log = new(DeviceKey.Deterministic("transparency-log", 7), Origin);
    private static readonly CheckpointSigner Impostor = new(DeviceKey.Deterministic("impostor", 8), Origin);
    private static readonly Sha256Hash Image = Sha256Hash.Of("form image"u8);
    private static readonly Sha256Hash PageHash = Sha256Hash.Of("page 2"u8);
    private static readonly DateTimeOffset At = new(2024, 2, 14, 9, 30, 0, TimeSpan.Zero);
    private static readonly ImageStatement Stored = new(Image, 1, PageHash, ImageStatement.Stored, At);

    [Fact]
    public void Round_trips_through_its_text_and_verifies_with_the_log_key_for_its_page()
    {
        Assert.True(ImageStatement.TryParse(Stored.Format(), out var parsed));
        Assert.Equal(Stored, parsed);
        var result = ImageStatement.Verify(Log.Sign(Stored), Log.VerifierKey, Image, 1, PageHash, ImageStatement.Stored);
        Assert.True(result.Ok, result.Detail);
        Assert.Contains("Page 2 stored", result.Detail);
    }

    [Fact]
    public void A_refusal_verifies_only_for_the_reason_it_signs()
    {
        var note = Log.Sign(Stored with { Outcome = "unknown_image" });
        Assert.True(ImageStatement.Verify(note, Log.VerifierKey, Image, 1, PageHash, "unknown_image").Ok);
        Assert.Equal(LogErrors.BadImageStatement, ImageStatement.Verify(note, Log.VerifierKey, Image, 1, PageHash, ImageStatement.Stored).Error);
    }

    public static TheoryData<string, string?> Untrusted => new()
    {
        { "unsigned (a PPK station's own word)", null },
        { "signed by another key", Impostor.Sign(Stored) },
        { "about another page", Log.Sign(Stored with { Page = 0 }) },
        { "about other bytes of the page", Log.Sign(Stored with { PageHash = Sha256Hash.Of("other"u8) }) },
        { "about another image", Log.Sign(Stored with { ImageHash = Sha256Hash.Of("other"u8) }) },
        { "a rejection of a form, not a page", Log.Sign(new RejectionStatement(Image, "stored", At)) },
        { "garbage", "not a note" },
    };

    [Theory]
    [MemberData(nameof(Untrusted))]
    public void Nothing_but_the_clouds_signed_word_about_that_page_settles_it(string what, string? note)
    {
        var result = ImageStatement.Verify(note, Log.VerifierKey, Image, 1, PageHash, ImageStatement.Stored);
        Assert.False(result.Ok, what);
        Assert.Equal(LogErrors.BadImageStatement, result.Error);
    }

    [Fact]
    public void A_signed_image_statement_can_never_pass_for_a_checkpoint_or_a_rejection()
    {
        var note = Log.Sign(Stored);
        Assert.False(LogVerification.VerifyCheckpoint(note, Log.VerifierKey, out _).Ok);
        Assert.False(RejectionStatement.Verify(note, Log.VerifierKey, Image, ImageStatement.Stored).Ok);
    }

    [Theory]
    [InlineData("kpuedge image v1\nabc\n0\n0000000000000000000000000000000000000000000000000000000000000000\nstored\n1\n")]
    [InlineData("kpuedge image v2\n0000000000000000000000000000000000000000000000000000000000000000\n0\n0000000000000000000000000000000000000000000000000000000000000000\nstored\n1\n")]
    [InlineData("kpuedge image v1\n0000000000000000000000000000000000000000000000000000000000000000\n-1\n0000000000000000000000000000000000000000000000000000000000000000\nstored\n1\n")]
    [InlineData("kpuedge image v1\n0000000000000000000000000000000000000000000000000000000000000000\n0\n0000000000000000000000000000000000000000000000000000000000000000\nsto red\n1\n")]
    [InlineData("kpuedge image v1\n0000000000000000000000000000000000000000000000000000000000000000\n0\n0000000000000000000000000000000000000000000000000000000000000000\nstored\n1")]
    public void Refuses_text_that_is_not_exactly_a_statement(string text) => Assert.False(ImageStatement.TryParse(text, out _));
}
