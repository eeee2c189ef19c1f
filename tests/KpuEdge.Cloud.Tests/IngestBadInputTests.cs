using System.Formats.Cbor;
using System.Security.Cryptography;
using System.Text.Json;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
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

    private static long _honestSequence;
    private DeviceIdentity _device = null!;
    private DeviceIdentity _otherDevice = null!;
    private SubmissionClient _client = null!;

    public async Task InitializeAsync()
    {
        _device = new DeviceIdentity($"dev-{Tps}-{Guid.NewGuid():N}", Tps, DeviceKey.Generate());
        _otherDevice = new DeviceIdentity($"dev-{OtherTps}-{Guid.NewGuid():N}", OtherTps, DeviceKey.Generate());
        fixture.Cloud.Registry.Register(_device.ToRecord());
        fixture.Cloud.Registry.Register(_otherDevice.ToRecord());
        _client = new SubmissionClient(_device.DeviceId, fixture.Cloud.BrokerHost, fixture.Cloud.BrokerPort);
        await _client.ConnectAsync();
    }

    public async Task DisposeAsync() => await _client.DisposeAsync();

    private static C1Tally TallyOf(TpsCode tps, ContestId contest = ContestId.Ppwp) =>
        SyntheticTally.ForTps(tps, CloudFixture.Election.Ballots(CloudFixture.Tree), CloudFixture.Election, seed: 7).Single(t => t.Contest == contest);

    private static Submission Make(DeviceIdentity device, C1Tally tally, ulong sequence) => new()
    {
        ElectionId = CloudFixture.Election.ElectionId,
        DeviceId = device.DeviceId,
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

    private long RejectionsRecorded(string reason) =>
        fixture.Cloud.Services.GetRequiredService<IResultsLedger>().RejectionCounts().GetValueOrDefault(reason);

    /// <summary>Sends bad input, checks the receipt, the audit log and that nothing was counted for the TPS.</summary>
    private async Task AssertRejectedAsync(string reason, Func<Task<Receipt>> send, TpsCode? watched = null)
    {
        var tps = watched ?? Tps;
        var before = await TpsResultAsync(tps);
        long recorded = RejectionsRecorded(reason);
        long ledgerSize = fixture.Cloud.Services.GetRequiredService<IResultsLedger>().Count;

        var receipt = await send();

        Assert.Equal(ReceiptStatus.Rejected, receipt.Status);
        Assert.Equal(reason, receipt.Reason);
        Assert.False(string.IsNullOrWhiteSpace(receipt.Detail));
        Assert.Null(receipt.LedgerPosition);
        Assert.Equal(recorded + 1, RejectionsRecorded(reason));
        Assert.Equal(ledgerSize, fixture.Cloud.Services.GetRequiredService<IResultsLedger>().Count);
        Assert.Equal(before.GetProperty("chart").ToString(), (await TpsResultAsync(tps)).GetProperty("chart").ToString());

        // The cloud keeps serving: an honest form from another device is still accepted.
        var honest = SignedSubmission.Sign(Make(_otherDevice, TallyOf(OtherTps), (ulong)Interlocked.Increment(ref _honestSequence)), _otherDevice.Key);
        await using var other = new SubmissionClient(_otherDevice.DeviceId, fixture.Cloud.BrokerHost, fixture.Cloud.BrokerPort);
        await other.ConnectAsync();
        Assert.Equal(ReceiptStatus.Accepted, (await other.SubmitAsync(honest, ReceiptTimeout, 1)).Status);
    }

    [Fact]
    public Task Rejects_a_submission_whose_signature_does_not_verify() =>
        AssertRejectedAsync(RejectReasons.BadSignature, () => Send(SignedSubmission.Sign(Make(_device, TallyOf(Tps), 1), DeviceKey.Generate())));

    [Fact]
    public Task Rejects_a_submission_with_one_flipped_bit_in_its_signature()
    {
        var wire = SignedSubmission.Sign(Make(_device, TallyOf(Tps), 1), _device.Key).Wire.ToArray();
        wire[^1] ^= 0x01;
        return AssertRejectedAsync(RejectReasons.BadSignature, () => SendRaw(Topics.Submission(Tps, ContestId.Ppwp), wire));
    }

    [Fact]
    public Task Rejects_a_device_that_is_not_registered()
    {
        var stranger = new DeviceIdentity("dev-stranger", Tps, DeviceKey.Generate());
        return AssertRejectedAsync(RejectReasons.UnknownDevice, () => Send(SignedSubmission.Sign(Make(stranger, TallyOf(Tps), 1), stranger.Key)));
    }

    [Fact]
    public Task Rejects_a_device_publishing_for_a_TPS_not_assigned_to_it() =>
        AssertRejectedAsync(RejectReasons.DeviceNotAssigned,
            () => Send(SignedSubmission.Sign(Make(_device, TallyOf(OtherTps), 1), _device.Key)), OtherTps);

    [Fact]
    public Task Rejects_a_form_published_to_another_TPS_topic()
    {
        var signed = SignedSubmission.Sign(Make(_device, TallyOf(Tps), 1), _device.Key);
        return AssertRejectedAsync(RejectReasons.Misaddressed, () => SendRaw(Topics.Submission(OtherTps, ContestId.Ppwp), signed.Wire));
    }

    [Fact]
    public Task Rejects_a_validly_signed_tally_that_breaks_a_consistency_rule()
    {
        var tally = TallyOf(Tps);
        // Sirekap's 58 → 948: one choice's votes misread, everything else as written.
        var misread = tally with { Suara = tally.Suara.Select((c, i) => i == 0 ? c with { Total = c.Total + 890 } : c).ToArray() };
        return AssertRejectedAsync(RejectReasons.InvalidTally, async () =>
        {
            var receipt = await Send(SignedSubmission.Sign(Make(_device, misread, 1), _device.Key));
            Assert.Contains(receipt.Violations!, v => v.Contains(C1Validator.Rules.VotesSumIsSah));
            return receipt;
        });
    }

    [Fact]
    public Task Rejects_random_bytes()
    {
        var bytes = new byte[300];
        new Random(42).NextBytes(bytes);
        return AssertRejectedAsync(RejectReasons.Malformed, () => SendRaw(Topics.Submission(Tps, ContestId.Ppwp), bytes));
    }

    [Fact]
    public Task Rejects_truncated_CBOR()
    {
        var wire = SignedSubmission.Sign(Make(_device, TallyOf(Tps), 1), _device.Key).Wire;
        return AssertRejectedAsync(RejectReasons.Malformed, () => SendRaw(Topics.Submission(Tps, ContestId.Ppwp), wire[..(wire.Length / 2)]));
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
        return AssertRejectedAsync(RejectReasons.UnsupportedVersion, () => SendRaw(Topics.Submission(Tps, ContestId.Ppwp), wire));
    }

    [Fact]
    public Task Rejects_an_oversized_payload() =>
        AssertRejectedAsync(RejectReasons.Oversized, () => SendRaw(Topics.Submission(Tps, ContestId.Ppwp), new byte[SubmissionCodec.MaxWireBytes + 1]));

    [Fact]
    public Task Rejects_a_form_for_another_election()
    {
        var submission = Make(_device, TallyOf(Tps), 1) with { ElectionId = "pilkada-2024" };
        return AssertRejectedAsync(RejectReasons.WrongElection, () => Send(SignedSubmission.Sign(submission, _device.Key)));
    }

    [Fact]
    public async Task Counts_the_same_submission_sent_twice_once()
    {
        var signed = SignedSubmission.Sign(Make(_device, TallyOf(Tps, ContestId.Dpr), 10), _device.Key);
        var first = await Send(signed);
        await fixture.Cloud.Recap.SettleAsync();
        var national = await NationalAsync(ContestId.Dpr);

        var second = await SendRaw(Topics.Submission(Tps, ContestId.Dpr), signed.Wire);
        await fixture.Cloud.Recap.SettleAsync();

        Assert.Equal(ReceiptStatus.Accepted, first.Status);
        Assert.Equal(ReceiptStatus.Duplicate, second.Status);
        Assert.Equal(first.LedgerPosition, second.LedgerPosition);
        Assert.Equal(first.SubmissionHash, second.SubmissionHash);
        Assert.Equal(national, await NationalAsync(ContestId.Dpr));
    }

    [Fact]
    public async Task Rejects_a_stale_sequence_number_reused_for_a_different_form()
    {
        var tally = TallyOf(Tps, ContestId.Dpd);
        var original = await Send(SignedSubmission.Sign(Make(_device, tally, 20), _device.Key));
        Assert.Equal(ReceiptStatus.Accepted, original.Status);

        var rewound = Make(_device, tally, 20) with { DeviceTime = new DateTimeOffset(2024, 2, 14, 20, 0, 0, TimeSpan.Zero) };
        await AssertRejectedAsync(RejectReasons.StaleSequence, () => Send(SignedSubmission.Sign(rewound, _device.Key)));
    }

    [Fact]
    public async Task Accepts_a_device_s_forms_arriving_out_of_sequence_order()
    {
        var signer = new FormSigner(_device, CloudFixture.Election, CloudFixture.Election.Ballots(CloudFixture.Tree), TimeProvider.System)
        {
            Chain = new ChainState(100, ""),
        };
        var forms = SyntheticTally.ForTps(Tps, CloudFixture.Election.Ballots(CloudFixture.Tree), CloudFixture.Election, 3).Select(t => signer.Sign(t)).ToArray();

        foreach (var form in forms.Reverse())
            Assert.Equal(ReceiptStatus.Accepted, (await Send(form)).Status);
    }

    private async Task<string> NationalAsync(ContestId contest)
    {
        using var doc = JsonDocument.Parse(await fixture.Http.GetStringAsync($"api/v1/results/{contest.Slug()}/0"));
        return doc.RootElement.GetProperty("chart").ToString() + doc.RootElement.GetProperty("progres");
    }
}
