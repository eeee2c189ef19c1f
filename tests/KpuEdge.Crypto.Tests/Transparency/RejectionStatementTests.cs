using KpuEdge.Crypto.Transparency;

namespace KpuEdge.Crypto.Tests.Transparency;

public sealed class RejectionStatementTests
{
    private static readonly string Origin = Checkpoint.DefaultOrigin("pemilu-2024");
    private static readonly CheckpointSigner Log = new(DeviceKey.Deterministic("transparency-log", 7), Origin);
    private static readonly RejectionStatement Statement = new(Sha256Hash.Of("form"u8), "invalid_tally", new DateTimeOffset(2024, 2, 14, 7, 0, 0, TimeSpan.Zero));

    [Fact]
    public void Round_trips_through_its_text_and_verifies_with_the_log_key()
    {
        Assert.True(RejectionStatement.TryParse(Statement.Format(), out var parsed));
        Assert.Equal(Statement, parsed);
        var note = Log.Sign(Statement);
        Assert.True(RejectionStatement.Verify(note, Log.VerifierKey, Statement.SubmissionHash, "invalid_tally").Ok);
    }

    [Fact]
    public void A_signed_rejection_can_never_pass_for_a_checkpoint()
    {
        var note = Log.Sign(Statement);
        Assert.False(LogVerification.VerifyCheckpoint(note, Log.VerifierKey, out _).Ok);
        Assert.False(Checkpoint.TryParse(Statement.Format(), out _, out _));
    }

    [Theory]
    [InlineData("kpuedge rejection v1\nabc\ninvalid_tally\n1\n")]
    [InlineData("kpuedge rejection v2\n0000000000000000000000000000000000000000000000000000000000000000\ninvalid_tally\n1\n")]
    [InlineData("kpuedge rejection v1\n0000000000000000000000000000000000000000000000000000000000000000\ninvalid tally\n1\n")]
    [InlineData("kpuedge rejection v1\n0000000000000000000000000000000000000000000000000000000000000000\ninvalid_tally\n-1\n")]
    [InlineData("kpuedge rejection v1\n0000000000000000000000000000000000000000000000000000000000000000\ninvalid_tally\n1")]
    public void Refuses_text_that_is_not_exactly_a_statement(string text) => Assert.False(RejectionStatement.TryParse(text, out _));
}
