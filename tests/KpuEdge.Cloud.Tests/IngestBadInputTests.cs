using System.Formats.Cbor;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Cloud.Ingest;
using KpuEdge.Cloud.Security;
using KpuEdge.Core.Security;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Edge.Device;
using KpuEdge.Edge.Transport;
using KpuEdge.Simulator;
using Microsoft.Extensions.DependencyInjection;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// Every kind of bad input through the real broker and silo: each gets a rejection reason in the receipt and
/// the ledger's rejection log, counts nothing, and the cloud keeps accepting honest forms afterwards.
/// </summary>
public sealed class IngestBadInputTests(CloudFixture fixture) : IClassFixture<CloudFixture>, IAsyncLifetime
{
    private static readonly TimeSpan ReceiptTimeout = TimeSpan.FromSeconds(30);
    private static readonly TpsCode Tps = TpsCode.Parse("3273011001003");
    private static readonly TpsCode OtherTps = TpsCode.Parse("3273011001004");

    private TestDevice _device = null!;
    private TestDevice _otherDevice = null!;
    private SubmissionClient _client = null!;
    private SubmissionClient _otherClient = null!;

    public async Task InitializeAsync()
    {
        _device = fixture.NewDevice(Tps);
        _otherDevice = fixture.NewDevice(OtherTps);
        // Refusals carry no inclusion proof; this client reads every receipt as it comes.
        _client = await _device.ConnectAsync(verifyReceipts: false);
        _otherClient = await _otherDevice.ConnectAsync();
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        await _otherClient.DisposeAsync();
    }

    private static C1Tally TallyOf(TpsCode tps, ContestId contest = ContestId.Ppwp) =>
        SyntheticTally.ForTps(tps, CloudFixture.Ballots, CloudFixture.Election, seed: 7).Single(t => t.Contest == contest);

    private static Submission Make(TestDevice device, C1Tally tally, ulong sequence) => Make(device.DeviceId, tally, sequence);

    private static Submission Make(string deviceId, C1Tally tally, ulong sequence) => new()
    {
        ElectionId = CloudFixture.Election.ElectionId,
        DeviceId = deviceId,
        Sequence = sequence,
        DeviceTime = new DateTimeOffset(2024, 2, 14, 13, 30, 0, TimeSpan.Zero).AddSeconds(sequence),
        Tally = tally,
    };

    private Task<Receipt> Send(SignedSubmission signed) => _client.SubmitAsync(signed, ReceiptTimeout, attempts: 1);

    private Task<Receipt> SendRaw(string topic, byte[] payload) => _client.SendAsync(topic, payload, SHA256.HashData(payload), ReceiptTimeout);

    private async Task<JsonElement> TpsResultAsync(TpsCode tps)
    {
        using var doc = JsonDocument.Parse(await fixture.Http.GetStringAsync($"api/v1/results/ppwp/{tps}"));
        return doc.RootElement.Clone();
    }

    private async Task<long> RejectionsRecorded(string reason) =>
        (await fixture.Cloud.Services.GetRequiredService<IResultsLedger>().RejectionCountsAsync()).GetValueOrDefault(reason);

    /// <summary>Sends bad input, checks the receipt, the audit log and that nothing was counted for the TPS.</summary>
    private async Task AssertRejectedAsync(string reason, Func<Task<Receipt>> send, TpsCode? watched = null)
    {
        var tps = watched ?? Tps;
        var before = await TpsResultAsync(tps);
        long recorded = await RejectionsRecorded(reason);
        long ledgerSize = (await fixture.Cloud.Services.GetRequiredService<IResultsLedger>().CountAsync());

        var receipt = await send();

        Assert.Equal(ReceiptStatus.Rejected, receipt.Status);
        Assert.Equal(reason, receipt.Reason);
        Assert.False(string.IsNullOrWhiteSpace(receipt.Detail));
        Assert.Null(receipt.LedgerPosition);
        Assert.Equal(recorded + 1, await RejectionsRecorded(reason));
        Assert.Equal(ledgerSize, (await fixture.Cloud.Services.GetRequiredService<IResultsLedger>().CountAsync()));
        Assert.Equal(before.GetProperty("chart").ToString(), (await TpsResultAsync(tps)).GetProperty("chart").ToString());

        // The cloud keeps serving: an honest form from another device is still accepted (and its proof verifies).
        Assert.Equal(ReceiptStatus.Accepted, (await _otherClient.SubmitAsync(_otherDevice.Next(), ReceiptTimeout, 1)).Status);
    }

    [Fact]
    public Task Rejects_a_submission_whose_signature_does_not_verify() =>
        AssertRejectedAsync(RejectReasons.BadSignature, () => Send(SignedSubmission.Sign(Make(_device, TallyOf(Tps), 1), DeviceKey.Generate())));

    [Fact]
    public Task Rejects_a_submission_with_one_flipped_bit_in_its_signature()
    {
        var wire = SignedSubmission.Sign(Make(_device, TallyOf(Tps), 1), _device.Identity.Key).Wire.ToArray();
        wire[^1] ^= 0x01;
        return AssertRejectedAsync(RejectReasons.BadSignature, () => SendRaw(Topics.Submission(Tps, ContestId.Ppwp, _device.DeviceId), wire));
    }

    [Fact]
    public Task Rejects_a_device_that_is_not_registered()
    {
        var strangerKey = DeviceKey.Generate();
        return AssertRejectedAsync(RejectReasons.UnknownDevice, () => Send(SignedSubmission.Sign(Make("dev-stranger", TallyOf(Tps), 1), strangerKey)));
    }

    [Fact]
    public Task Rejects_a_device_publishing_for_a_TPS_not_assigned_to_it() =>
        AssertRejectedAsync(RejectReasons.DeviceNotAssigned, () =>
        {
            // On its own topic (the broker lets it publish nowhere else), a form of the neighbouring TPS.
            var signed = SignedSubmission.Sign(Make(_device, TallyOf(OtherTps), 1), _device.Identity.Key);
            return SendRaw(Topics.Submission(Tps, ContestId.Ppwp, _device.DeviceId), signed.Wire);
        }, OtherTps);

    [Fact]
    public async Task Rejects_a_form_relayed_to_another_TPS_topic()
    {
        // Only a PPK station may publish to several TPS topics (those of its kecamatan, as a relay); the ingest still
        // checks that each form sits on its own TPS's topic.
        var station = fixture.Pki.Pki.IssueDevice($"ppk-{Guid.NewGuid():N}"[..20], KpuRole.Ppk, Tps.Region.AncestorAt(RegionLevel.Kecamatan).Value);
        await using var relay = new SubmissionClient(station.DeviceId, fixture.Cloud.ConnectionFor(station) with { LogKey = null });
        await relay.ConnectAsync();
        var signed = _device.Next();
        await AssertRejectedAsync(RejectReasons.Misaddressed, () => relay.SendAsync(Topics.Submission(OtherTps, ContestId.Ppwp, station.DeviceId), signed.Wire, signed.Hash.ToArray(), ReceiptTimeout));
    }

    [Fact]
    public Task Rejects_a_validly_signed_tally_that_breaks_a_consistency_rule()
    {
        var tally = TallyOf(Tps);
        // Sirekap's 58 → 948: one choice's votes misread, everything else as written.
        var misread = tally with { Suara = tally.Suara.Select((c, i) => i == 0 ? c with { Total = c.Total + 890 } : c).ToArray() };
        return AssertRejectedAsync(RejectReasons.InvalidTally, async () =>
        {
            var receipt = await Send(SignedSubmission.Sign(Make(_device, misread, 1), _device.Identity.Key));
            Assert.Contains(receipt.Violations!, v => v.Contains(C1Validator.Rules.VotesSumIsSah));
            return receipt;
        });
    }

    [Fact]
    public Task Rejects_random_bytes()
    {
        var bytes = new byte[300];
        new Random(42).NextBytes(bytes);
        return AssertRejectedAsync(RejectReasons.Malformed, () => SendRaw(Topics.Submission(Tps, ContestId.Ppwp, _device.DeviceId), bytes));
    }

    [Fact]
    public Task Rejects_truncated_CBOR()
    {
        var wire = SignedSubmission.Sign(Make(_device, TallyOf(Tps), 1), _device.Identity.Key).Wire;
        return AssertRejectedAsync(RejectReasons.Malformed, () => SendRaw(Topics.Submission(Tps, ContestId.Ppwp, _device.DeviceId), wire[..(wire.Length / 2)]));
    }

    [Fact]
    public Task Rejects_an_unknown_format_version()
    {
        var w = new CborWriter(CborConformanceMode.Canonical);
        w.WriteStartArray(10);
        w.WriteInt32(2);
        w.WriteTextString("pemilu-2024");
        for (int i = 0; i < 8; i++) w.WriteInt32(0);
        w.WriteEndArray();
        var wire = SubmissionCodec.EncodeWire(w.Encode(), new byte[64]);
        return AssertRejectedAsync(RejectReasons.UnsupportedVersion, () => SendRaw(Topics.Submission(Tps, ContestId.Ppwp, _device.DeviceId), wire));
    }

    [Fact]
    public Task Rejects_an_oversized_payload() =>
        AssertRejectedAsync(RejectReasons.Oversized, () => SendRaw(Topics.Submission(Tps, ContestId.Ppwp, _device.DeviceId), new byte[SubmissionCodec.MaxWireBytes + 1]));

    [Fact]
    public Task Rejects_a_form_for_another_election()
    {
        var submission = Make(_device, TallyOf(Tps), 1) with { ElectionId = "pilkada-2024" };
        return AssertRejectedAsync(RejectReasons.WrongElection, () => Send(SignedSubmission.Sign(submission, _device.Identity.Key)));
    }

    [Fact]
    public async Task Counts_the_same_submission_sent_twice_once()
    {
        var signed = _device.Next(ContestId.Dpr);
        var first = await Send(signed);
        await fixture.Cloud.Recap.SettleAsync();
        var national = await NationalAsync(ContestId.Dpr);

        var second = await SendRaw(Topics.Submission(Tps, ContestId.Dpr, _device.DeviceId), signed.Wire);
        await fixture.Cloud.Recap.SettleAsync();

        Assert.Equal(ReceiptStatus.Accepted, first.Status);
        Assert.Equal(ReceiptStatus.Duplicate, second.Status);
        Assert.Equal(first.LedgerPosition, second.LedgerPosition);
        Assert.Equal(first.LogIndex, second.LogIndex);
        Assert.Equal(first.SubmissionHash, second.SubmissionHash);
        Assert.Equal(national, await NationalAsync(ContestId.Dpr));
    }

    [Fact]
    public async Task Accepts_a_device_s_forms_arriving_out_of_sequence_order()
    {
        var forms = Contests.All.Where(c => CloudFixture.Ballots.For(c, Tps) is not null).Select(c => _device.Next(c)).ToArray();

        await using var verifying = await _device.ConnectAsync();
        foreach (var form in forms.Reverse())
            Assert.Equal(ReceiptStatus.Accepted, (await verifying.SubmitAsync(form, ReceiptTimeout, 1)).Status);
        // Arriving newest first opened a hole (1..n-1), which the older forms then filled: nothing is missing.
        Assert.DoesNotContain((await fixture.Cloud.Services.GetRequiredService<IResultsLedger>().ChainsChangedAfterAsync(0)).Holes, h => h.DeviceId == _device.DeviceId);
    }

    [Fact]
    public async Task Reports_a_gap_that_lasts_and_its_closing()
    {
        var first = _device.Next(ContestId.Ppwp);
        var second = _device.Next(ContestId.Dpr);
        var third = _device.Next(ContestId.Dpd);
        Assert.Equal(ReceiptStatus.Accepted, (await Send(first)).Status);
        Assert.Equal(ReceiptStatus.Accepted, (await Send(third)).Status);

        var monitor = fixture.Cloud.Services.GetRequiredService<ChainGapMonitor>();
        var recorder = fixture.Cloud.Services.GetRequiredService<SecurityEventRecorder>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await monitor.SweepAsync();
        var gap = await recorder.RecordedAsync(e => e.Kind == SecurityEventKinds.ChainGap && e.DeviceId == _device.DeviceId, timeout.Token);
        Assert.Equal(SecuritySeverity.Info, gap.Severity);
        Assert.Equal("2", gap.Evidence!["missing"]);

        Assert.Equal(ReceiptStatus.Accepted, (await Send(second)).Status);
        await monitor.SweepAsync();
        await recorder.RecordedAsync(e => e.Kind == SecurityEventKinds.ChainGapClosed && e.DeviceId == _device.DeviceId, timeout.Token);
    }

    [Fact]
    public async Task Rejects_a_fork_another_form_under_a_sequence_number_already_used()
    {
        var first = _device.Next(ContestId.Dpd);
        Assert.Equal(ReceiptStatus.Accepted, (await Send(first)).Status);
        // The same number, other numbers, signed at the same moment: a second history.
        var forked = first.Submission with { Tally = _device.Tally(ContestId.Dpd, seed: 8) };
        await AssertRejectedAsync(RejectReasons.ChainFork, () => Send(SignedSubmission.Sign(forked, _device.Identity.Key)));
        var fork = (await EventsAsync(SecurityEventKinds.ChainFork)).Single(e => e.DeviceId == _device.DeviceId);
        Assert.Equal(SecuritySeverity.Critical, fork.Severity);
        Assert.Equal(first.Hash.ToString(), fork.Evidence!["conflicting_hash"]);
    }

    [Fact]
    public async Task Rejects_a_fork_a_form_whose_previous_hash_is_not_the_accepted_predecessor()
    {
        Assert.Equal(ReceiptStatus.Accepted, (await Send(_device.Next(ContestId.Ppwp))).Status);
        var second = _device.Next(ContestId.Dpr).Submission with { PreviousHash = Sha256Hash.Of([1, 2, 3]) };
        await AssertRejectedAsync(RejectReasons.ChainFork, () => Send(SignedSubmission.Sign(second, _device.Identity.Key)));
    }

    [Fact]
    public async Task Rejects_a_rewind_a_lower_sequence_number_signed_after_the_newest_form()
    {
        var first = _device.Next(ContestId.Ppwp);
        var second = _device.Next(ContestId.Dpr);
        Assert.Equal(ReceiptStatus.Accepted, (await Send(first)).Status);
        Assert.Equal(ReceiptStatus.Accepted, (await Send(second)).Status);
        // The device restored from a backup: it signs sequence 1 again, later than its newest form.
        var rewound = first.Submission with { DeviceTime = second.Submission.DeviceTime.AddMinutes(5), Tally = _device.Tally(ContestId.Ppwp, seed: 9) };
        await AssertRejectedAsync(RejectReasons.ChainRewind, () => Send(SignedSubmission.Sign(rewound, _device.Identity.Key)));
        Assert.Contains(await EventsAsync(SecurityEventKinds.ChainRewind), e => e.DeviceId == _device.DeviceId);
    }

    private async Task<IReadOnlyList<SecurityEvent>> EventsAsync(string kind)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/v1/security/events?limit=1000");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", fixture.Cloud.OperatorToken);
        using var response = await fixture.Http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.GetProperty("events").EnumerateArray()
            .Select(e => SecurityEvent.FromJson(e.GetRawText())).Where(e => e.Kind == kind).ToList();
    }

    private async Task<string> NationalAsync(ContestId contest)
    {
        using var doc = JsonDocument.Parse(await fixture.Http.GetStringAsync($"api/v1/results/{contest.Slug()}/0"));
        return doc.RootElement.GetProperty("chart").ToString() + doc.RootElement.GetProperty("progres");
    }
}
