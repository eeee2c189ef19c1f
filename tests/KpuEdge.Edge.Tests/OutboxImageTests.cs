using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Images;
using KpuEdge.Edge.Delivery;
using KpuEdge.Edge.Device;

namespace KpuEdge.Edge.Tests;

/// <summary>
/// The outbox keeps a form's page images with it: written in the form's transaction, bound by hash into what is
/// signed, held back until the form's receipt is in, and tracked page by page for the operator.
/// </summary>
public sealed class OutboxImageTests : IDisposable
{
    private static readonly RegionTree Tree = RegionTree.LoadEmbedded();
    private static readonly ElectionDefinition Election = ElectionDefinition.Default;
    private static readonly TpsCode Tps = TpsCode.Parse("3273011001003");
    private static readonly DeviceIdentity Device = new("dev-test", Tps, DeviceKey.Deterministic("dev-test", 1));
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"kpu-outbox-{Guid.NewGuid():N}", Outbox.FileName);

    private static FormSigner NewSigner() => new(Device, Election, Election.Ballots(Tree), TimeProvider.System);

    private static IReadOnlyList<C1Tally> Tallies() => SyntheticTally.ForTps(Tps, Election.Ballots(Tree), Election, 5);

    private static byte[][] Pages(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            var page = new byte[1000 + random.Next(1000)];
            random.NextBytes(page);
            return page;
        }).ToArray();
    }

    private static Receipt Accepted(SignedSubmission signed) => new()
    {
        Status = ReceiptStatus.Accepted, SubmissionHash = signed.Hash.ToString(), LogIndex = 0, Ts = DateTimeOffset.UnixEpoch,
    };

    [Fact]
    public void Signs_the_pages_hash_into_the_form_and_keeps_the_pages_with_it_across_a_reopen()
    {
        var pages = Pages(3, 1);
        SignedSubmission signed;
        using (var outbox = new Outbox(_path)) signed = outbox.SignAndAdd(NewSigner(), Tallies()[1], pages);

        Assert.Equal(ImageChunk.FormImageHash(pages), signed.Submission.ImageHash);
        using var reopened = new Outbox(_path);
        Assert.Equal(new ImageProgress(3, 0, 0, 0, pages.Sum(p => p.Length)), reopened.Status().Images);
        Assert.False(reopened.Status().AllSettled);
        Assert.Equal([0, 1, 2], reopened.Pages().Select(p => p.Page));
    }

    [Fact]
    public void Holds_the_pages_back_until_the_forms_receipt_is_in_then_sends_oldest_form_first_in_page_order()
    {
        using var outbox = new Outbox(_path);
        var signer = NewSigner();
        var first = outbox.SignAndAdd(signer, Tallies()[0], Pages(1, 2));
        var second = outbox.SignAndAdd(signer, Tallies()[1], Pages(2, 3));
        Assert.Empty(outbox.PagesToSend(10));

        outbox.MarkReceipted(second.Hash, Accepted(second));
        var due = outbox.PagesToSend(10);
        Assert.Equal([0, 1], due.Select(p => p.Page));
        Assert.All(due, p => Assert.Equal(second.Submission.ImageHash, p.ImageHash));
        Assert.All(due, p => Assert.Equal(2, p.PageHashes.Count));
        Assert.Equal(second.Submission.ImageHash, ImageChunk.FormImageHash(due[0].PageHashes));

        outbox.MarkReceipted(first.Hash, Accepted(first));
        Assert.Equal(first.Submission.ImageHash, outbox.PagesToSend(10)[0].ImageHash);
    }

    [Fact]
    public void Tracks_confirmed_bytes_stored_and_refused_pages_for_the_operator()
    {
        using var outbox = new Outbox(_path);
        var pages = Pages(3, 4);
        var signed = outbox.SignAndAdd(NewSigner(), Tallies()[1], pages);
        outbox.MarkReceipted(signed.Hash, Accepted(signed));
        var image = signed.Submission.ImageHash;

        outbox.ConfirmPage(image, 0, 500);
        outbox.MarkPageStored(image, 1);
        outbox.MarkPageRefused(image, 2, "oversized: too big");

        var status = outbox.Status().Images;
        Assert.Equal((3, 1, 1, 1), (status.Pages, status.Stored, status.Refused, status.Pending));
        Assert.Equal(500 + pages[1].Length, status.BytesConfirmed);
        Assert.Equal(500, outbox.PagesToSend(10).Single().Confirmed);
        Assert.Equal("oversized: too big", outbox.Pages().Single(p => p.Page == 2).Reason);
        outbox.MarkPageStored(image, 2); // refused stays refused
        Assert.Equal(PageState.Refused, outbox.Pages().Single(p => p.Page == 2).State);
    }

    [Fact]
    public void A_page_held_whole_on_the_way_waits_behind_pages_with_bytes_to_send_and_keeps_the_clouds_word_once_settled()
    {
        using var outbox = new Outbox(_path);
        var pages = Pages(3, 5);
        var signed = outbox.SignAndAdd(NewSigner(), Tallies()[1], pages);
        outbox.MarkReceipted(signed.Hash, Accepted(signed));
        var image = signed.Submission.ImageHash;

        outbox.ConfirmPage(image, 0, int.MaxValue); // a station holds all of page 1: never more than the page
        Assert.Equal(pages[0].Length, outbox.Pages().Single(p => p.Page == 0).Confirmed);
        Assert.Equal([1, 2, 0], outbox.PagesToSend(10).Select(p => p.Page));
        Assert.Equal((Sha256Hash.Of(pages[2]), pages[2].Length), outbox.FindPage(image, 2));
        Assert.Null(outbox.FindPage(image, 3));

        outbox.MarkPageStored(image, 0, "signed statement");
        Assert.Equal("signed statement", outbox.PageStatement(image, 0));
        Assert.Null(outbox.PageStatement(image, 1));
        Assert.Equal([1, 2], outbox.PagesToSend(10).Select(p => p.Page));
    }

    [Fact]
    public void An_outbox_written_before_pages_kept_the_clouds_word_opens_and_keeps_it_from_then_on()
    {
        var pages = Pages(1, 6);
        SignedSubmission signed;
        using (var outbox = new Outbox(_path)) signed = outbox.SignAndAdd(NewSigner(), Tallies()[0], pages);
        using (var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_path};Pooling=False"))
        {
            db.Open();
            using var drop = db.CreateCommand();
            drop.CommandText = "ALTER TABLE images DROP COLUMN statement";
            drop.ExecuteNonQuery();
        }

        using var reopened = new Outbox(_path);
        reopened.MarkReceipted(signed.Hash, Accepted(signed));
        reopened.MarkPageStored(signed.Submission.ImageHash, 0, "signed statement");
        Assert.Equal("signed statement", reopened.PageStatement(signed.Submission.ImageHash, 0));
        Assert.True(reopened.Status().AllSettled);
    }

    [Fact]
    public void A_refused_forms_pages_are_refused_too_and_never_sent()
    {
        using var outbox = new Outbox(_path);
        var signed = outbox.SignAndAdd(NewSigner(), Tallies()[0], Pages(2, 5));
        outbox.MarkRejected(signed.Hash, new Receipt
        {
            Status = ReceiptStatus.Rejected, SubmissionHash = signed.Hash.ToString(), Reason = RejectReasons.UnknownTps, Detail = "x", Ts = DateTimeOffset.UnixEpoch,
        });

        Assert.Empty(outbox.PagesToSend(10));
        Assert.Equal(2, outbox.Status().Images.Refused);
        Assert.True(outbox.Status().AllSettled);
    }

    [Fact]
    public void Pages_that_do_not_match_the_signed_hash_are_refused_and_nothing_is_stored()
    {
        using var outbox = new Outbox(_path);
        var signed = NewSigner().Sign(Tallies()[0], ImageChunk.FormImageHash(Pages(1, 6)));
        outbox.Add(signed);

        Assert.Throws<ArgumentException>(() => outbox.AddPages(signed, Pages(1, 7)));
        Assert.Equal(0, outbox.Status().Images.Pages);
        outbox.AddPages(signed, Pages(1, 6));
        Assert.Equal(1, outbox.Status().Images.Pages);
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(Path.GetDirectoryName(_path)!, recursive: true); }
        catch (IOException) { }
    }
}
