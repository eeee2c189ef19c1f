using System.Text.Json;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Security;
using KpuEdge.Crypto;
using KpuEdge.Edge.Transport;
using Microsoft.Extensions.DependencyInjection;

namespace KpuEdge.Cloud.Tests;

/// <summary>A cloud counting Pemilu 2024 within its signing window: voting day to the end of the national recap.</summary>
public sealed class WindowedCloudFixture : CloudFixture
{
    public static readonly SigningWindow Window = SigningWindow.ForVotingDay(Election.Date, TimeSpan.FromDays(1));

    protected override ElectionDefinition CloudElection => Election with { SigningWindow = Window };
}

/// <summary>
/// Issue 10 §4: a sequence number at the top of its range, far beyond the device's chain, or a device time outside the
/// election: refused with a reason, never counted, and judged the same way before and after a restart.
/// </summary>
public sealed class SequenceAndTimeBoundsTests(WindowedCloudFixture fixture) : IClassFixture<WindowedCloudFixture>
{
    private static readonly TimeSpan ReceiptTimeout = TimeSpan.FromSeconds(30);
    private static readonly DateTimeOffset CountingNight = new(2024, 2, 14, 13, 30, 0, TimeSpan.Zero);

    private static Submission Make(TestDevice device, ulong sequence, Sha256Hash previous, DateTimeOffset at, ContestId contest = ContestId.Ppwp) => new()
    {
        ElectionId = CloudFixture.Election.ElectionId,
        DeviceId = device.DeviceId,
        Sequence = sequence,
        PreviousHash = previous,
        DeviceTime = at,
        Tally = device.Tally(contest),
    };

    private async Task<Receipt> SendAsync(TestDevice device, SignedSubmission form)
    {
        await using var client = await device.ConnectAsync(verifyReceipts: false);
        return await client.SubmitAsync(form, ReceiptTimeout, attempts: 1);
    }

    private async Task<Receipt> SendRawAsync(TestDevice device, byte[] wire)
    {
        await using var client = await device.ConnectAsync(verifyReceipts: false);
        return await client.SendAsync(Topics.Submission(device.Tps, ContestId.Ppwp, device.DeviceId), wire, Sha256Hash.Of(wire).ToArray(), ReceiptTimeout);
    }

    private async Task<string?> CountedHashAsync(TpsCode tps, ContestId contest)
    {
        await fixture.Cloud.Recap.SettleAsync();
        using var doc = JsonDocument.Parse(await fixture.Http.GetStringAsync($"api/v1/results/{contest.Slug()}/{tps}"));
        var submission = doc.RootElement.GetProperty("submission");
        return submission.ValueKind == JsonValueKind.Null ? null : submission.GetProperty("hash").GetString();
    }

    [Fact]
    public async Task A_sequence_number_beyond_the_protocol_s_range_is_malformed_and_one_far_ahead_of_the_chain_is_refused_the_same_after_a_restart()
    {
        var device = fixture.NewDevice(TpsCode.Parse("3273011001005"));
        var first = SignedSubmission.Sign(Make(device, 1, default, CountingNight), device.Identity.Key);
        Assert.Equal(ReceiptStatus.Accepted, (await SendAsync(device, first)).Status);

        // 2^64 − 1, as the probe sent it: the encoder refuses to make it, a decoder refuses to read it.
        Assert.Throws<ArgumentException>(() => SignedSubmission.Sign(Make(device, ulong.MaxValue, first.Hash, CountingNight.AddMinutes(1)), device.Identity.Key));
        var top = SignedSubmission.Sign(Make(device, SubmissionCodec.MaxSequence, first.Hash, CountingNight.AddMinutes(1)), device.Identity.Key);
        byte[] body = top.Body.ToArray();
        int at = body.AsSpan().IndexOf((ReadOnlySpan<byte>)[0x1B, 0x00, 0x1F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        Assert.True(at > 0);
        body.AsSpan(at + 1, 8).Fill(0xFF);
        var beyond = await SendRawAsync(device, SubmissionCodec.EncodeWire(body, new byte[64])); // refused before its signature is read
        Assert.Equal((ReceiptStatus.Rejected, RejectReasons.Malformed), (beyond.Status, beyond.Reason));

        // Within the range but a million ahead of the device's chain: refused, not counted, a critical event.
        var jump = SignedSubmission.Sign(Make(device, 1_000_000, first.Hash, CountingNight.AddMinutes(2), ContestId.Dpd), device.Identity.Key);
        var jumped = await SendAsync(device, jump);
        Assert.Equal((ReceiptStatus.Rejected, RejectReasons.ChainJump), (jumped.Status, jumped.Reason));
        Assert.NotNull(jumped.Rejection); // a verdict on the form and its device's history: final
        Assert.Null(await CountedHashAsync(device.Tps, ContestId.Dpd));
        var ledger = fixture.Cloud.Services.GetRequiredService<IResultsLedger>();
        Assert.Contains((await ledger.SecurityEventsAsync(0, 1000)), e => e.Kind == SecurityEventKinds.ChainJump && e.DeviceId == device.DeviceId
            && e.Severity == SecuritySeverity.Critical && e.Evidence!["sequence"] == "1000000");

        // The device's genuine next form is accepted (the probe saw it refused as a rewind behind the forged number).
        var second = SignedSubmission.Sign(Make(device, 2, first.Hash, CountingNight.AddMinutes(3), ContestId.Dpd), device.Identity.Key);
        Assert.Equal(ReceiptStatus.Accepted, (await SendAsync(device, second)).Status);

        // After a restart the same bytes get the same verdicts.
        await fixture.RestartAsync();
        Assert.Equal(RejectReasons.ChainJump, (await SendAsync(device, jump)).Reason);
        Assert.Equal(ReceiptStatus.Duplicate, (await SendAsync(device, second)).Status);
        Assert.Equal(second.Hash.ToString(), await CountedHashAsync(device.Tps, ContestId.Dpd));
        Assert.Equal(2UL, (await fixture.Cloud.Services.GetRequiredService<IResultsLedger>().DeviceLinksAsync(device.DeviceId))[^1].Link.Sequence);
    }

    [Fact]
    public async Task A_device_may_have_at_most_sixteen_versions_of_one_form_and_the_page_stays_small()
    {
        var device = fixture.NewDevice(TpsCode.Parse("3273011001007"));
        var previous = default(Sha256Hash);
        SignedSubmission? last = null;
        for (ulong n = 1; n <= 16; n++)
        {
            var version = Make(device, n, previous, CountingNight.AddMinutes(n)) with { CorrectionReason = n == 1 ? null : $"koreksi ke-{n}" };
            last = SignedSubmission.Sign(version, device.Identity.Key);
            Assert.Equal(ReceiptStatus.Accepted, (await SendAsync(device, last)).Status);
            previous = last.Hash;
        }
        // The probe signed 20,000 corrections, each a permanent log entry, and the TPS's page grew to 4.3 MB.
        var seventeenth = SignedSubmission.Sign(Make(device, 17, previous, CountingNight.AddMinutes(17)) with { CorrectionReason = "koreksi ke-17" },
            device.Identity.Key);
        var refused = await SendAsync(device, seventeenth);
        Assert.Equal((ReceiptStatus.Rejected, RejectReasons.TooManyVersions), (refused.Status, refused.Reason));
        Assert.NotNull(refused.Rejection);
        Assert.Equal(last!.Hash.ToString(), await CountedHashAsync(device.Tps, ContestId.Ppwp));
        // Another contest of the same device is its own form.
        var dpd = SignedSubmission.Sign(Make(device, 17, previous, CountingNight.AddMinutes(18), ContestId.Dpd), device.Identity.Key);
        Assert.Equal(ReceiptStatus.Accepted, (await SendAsync(device, dpd)).Status);
    }

    [Fact]
    public async Task A_device_time_outside_the_election_or_far_ahead_of_the_cloud_is_refused_with_a_reason()
    {
        var device = fixture.NewDevice(TpsCode.Parse("3273011001006"));
        var late = SignedSubmission.Sign(Make(device, 1, default, new DateTimeOffset(9999, 12, 31, 0, 0, 0, TimeSpan.Zero)), device.Identity.Key);
        var refused = await SendAsync(device, late);
        Assert.Equal((ReceiptStatus.Rejected, RejectReasons.DeviceTimeOutOfRange), (refused.Status, refused.Reason));
        Assert.Contains("outside the election's window", refused.Detail);
        Assert.NotNull(refused.Rejection);

        var early = SignedSubmission.Sign(Make(device, 1, default, WindowedCloudFixture.Window.Opens.AddMinutes(-1)), device.Identity.Key);
        Assert.Equal(RejectReasons.DeviceTimeOutOfRange, (await SendAsync(device, early)).Reason);
        // Today (2026, by this machine's clock) lies beyond the 2024 recap too: a device signing now is refused.
        Assert.Equal(RejectReasons.DeviceTimeOutOfRange, (await SendAsync(device, device.Next())).Reason);
        Assert.Null(await CountedHashAsync(device.Tps, ContestId.Ppwp));

        var inTime = SignedSubmission.Sign(Make(device, 1, default, CountingNight), device.Identity.Key);
        Assert.Equal(ReceiptStatus.Accepted, (await SendAsync(device, inTime)).Status);
    }
}
