using System.Buffers;
using System.Collections.Concurrent;
using System.Threading.Channels;
using KpuEdge.Cloud.Security;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Security;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Images;
using KpuEdge.Crypto.Pki;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;
using MQTTnet.Protocol;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// Issue 10 §1, the probe's most serious finding: a genuine device that has seen another TPS's signed form (its witness
/// QR carries the exact bytes) publishes it on its own topic naming the victim's receipt topic as response topic, and
/// a one-byte image chunk naming the victim's image hash. The cloud must answer only the sender, never a refusal the
/// victim could take as final, and raise a security event naming the sender.
/// </summary>
public sealed class ReplayByAnotherDeviceTests(CloudFixture fixture) : IClassFixture<CloudFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private static TpsCode TpsAt(int i) => CloudFixture.Tree.TpsIn(RegionCode.Parse("7371")).ElementAt(i * 7); // Kota Makassar

    /// <summary>A device's raw MQTT 5 connection: publishes whatever it likes (response topic included) and keeps every answer it hears.</summary>
    private sealed class RawDevice : IAsyncDisposable
    {
        private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
        public Channel<(string Topic, byte[] Payload)> Heard { get; } = Channel.CreateUnbounded<(string, byte[])>();
        public ConcurrentQueue<(string Topic, byte[] Payload)> All { get; } = new();
        public string DeviceId { get; }

        private RawDevice(string deviceId) => DeviceId = deviceId;

        public static async Task<RawDevice> ConnectAsync(CloudFixture fixture, TestDevice device)
        {
            var raw = new RawDevice(device.DeviceId);
            raw._client.ApplicationMessageReceivedAsync += e =>
            {
                var heard = (e.ApplicationMessage.Topic, e.ApplicationMessage.Payload.ToArray());
                raw.All.Enqueue(heard);
                raw.Heard.Writer.TryWrite(heard);
                return Task.CompletedTask;
            };
            await raw._client.ConnectAsync(fixture.Cloud.ConnectionFor(device.Credentials).ClientOptions(device.DeviceId, TimeProvider.System).WithCleanStart().Build());
            await raw._client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
                .WithTopicFilter(Topics.Receipt(device.DeviceId), MqttQualityOfServiceLevel.AtLeastOnce)
                .WithTopicFilter(Topics.ImageAck(device.DeviceId), MqttQualityOfServiceLevel.AtLeastOnce).Build());
            return raw;
        }

        public async Task<MqttClientPublishReasonCode> PublishAsync(string topic, byte[] payload, string? responseTopic = null, byte[]? correlation = null)
        {
            var message = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
            if (responseTopic is not null) message.WithResponseTopic(responseTopic);
            if (correlation is not null) message.WithCorrelationData(correlation);
            return (await _client.PublishAsync(message.Build())).ReasonCode;
        }

        public async Task<(string Topic, byte[] Payload)> NextAsync() => await Heard.Reader.ReadAsync().AsTask().WaitAsync(Patience);

        public async ValueTask DisposeAsync()
        {
            await _client.DisconnectAsync();
            _client.Dispose();
        }
    }

    /// <summary>
    /// An event the ingest recorded: written in the same transaction as the refusal, so it is in the ledger once the
    /// sender has its answer; the image side's go through the recorder.
    /// </summary>
    private async Task<SecurityEvent> RecordedAsync(Func<SecurityEvent, bool> match)
    {
        var ledger = fixture.Cloud.Services.GetRequiredService<Ledger.IResultsLedger>();
        for (long after = 0; ;)
        {
            var page = (await ledger.SecurityEventsAsync(after, 1000));
            if (page.Count == 0) break;
            if (page.FirstOrDefault(match) is { } found) return found;
            after = page[^1].Id!.Value;
        }
        return await fixture.Cloud.Services.GetRequiredService<SecurityEventRecorder>().RecordedAsync(match, new CancellationTokenSource(Patience).Token);
    }

    [Fact]
    public async Task A_device_replaying_another_TPS_form_naming_the_victims_topics_is_answered_itself_and_the_victim_hears_nothing()
    {
        var victim = fixture.NewDevice(TpsAt(1));
        var attacker = fixture.NewDevice(TpsAt(2));
        await using var victimLink = await RawDevice.ConnectAsync(fixture, victim);
        await using var attackerLink = await RawDevice.ConnectAsync(fixture, attacker);

        // The victim's DPD form with its photo, as its witness QR shows it: signed, not yet delivered.
        byte[] page = new byte[3_000];
        new Random(10).NextBytes(page);
        var pageHash = Sha256Hash.Of(page);
        var form = victim.Signer.Sign(victim.Tally(ContestId.Dpd), pageHash);

        // On the attacker's own topic (the broker lets it publish nowhere else), the victim's receipt and image topics as
        // response topics, and the victim's correlation data.
        Assert.Equal(MqttClientPublishReasonCode.Success, await attackerLink.PublishAsync(
            Topics.Submission(attacker.Tps, ContestId.Dpd, attacker.DeviceId), form.Wire, Topics.Receipt(victim.DeviceId), form.Hash.ToArray()));
        var (receiptTopic, receiptJson) = await attackerLink.NextAsync();
        Assert.Equal(Topics.Receipt(attacker.DeviceId), receiptTopic);
        var receipt = Receipt.TryParse(receiptJson)!;
        Assert.Equal((ReceiptStatus.Rejected, RejectReasons.ReplayedByOtherDevice), (receipt.Status, receipt.Reason));
        Assert.Null(receipt.Rejection); // not a verdict on the form: never signed
        Assert.False(RejectReasons.IsFinal(receipt.Reason));

        var chunk = new ImageChunk(pageHash, [pageHash], 0, page.Length, 0, page[..1]);
        Assert.Equal(MqttClientPublishReasonCode.Success, await attackerLink.PublishAsync(
            Topics.Image(attacker.Tps, ContestId.Dpd, attacker.DeviceId), chunk.Encode(), Topics.ImageAck(victim.DeviceId)));
        var (ackTopic, ackJson) = await attackerLink.NextAsync();
        Assert.Equal(Topics.ImageAck(attacker.DeviceId), ackTopic);
        var ack = ImageAck.TryParse(ackJson)!;
        Assert.Equal((ImageAckStatus.Rejected, ImageRefusals.UnknownImage, (string?)null), (ack.Status, ack.Reason, ack.Statement));

        // The events name the sender, with the replayed form's device as evidence.
        var replayed = await RecordedAsync(e => e.Kind == SecurityEventKinds.FormReplayed && e.DeviceId == attacker.DeviceId);
        Assert.Equal(SecuritySeverity.Critical, replayed.Severity);
        Assert.Equal((victim.DeviceId, victim.Tps.Value, "verified", form.Hash.ToString()),
            (replayed.Evidence!["form_device"], replayed.Evidence["form_tps"], replayed.Evidence["form_signature"], replayed.Evidence["payload_hash"]));
        Assert.Equal(attacker.Tps.Value, replayed.Tps);
        var imageEvent = await RecordedAsync(e => e.Kind == SecurityEventKinds.ImageRefused && e.Evidence!.GetValueOrDefault("image_hash") == pageHash.ToString());
        Assert.Equal(attacker.DeviceId, imageEvent.DeviceId);

        // The victim now sends its form and its photo: accepted and stored. The cloud answers in order, so anything it
        // had sent the victim about the attack would have come before these answers.
        Assert.Equal(MqttClientPublishReasonCode.Success, await victimLink.PublishAsync(
            Topics.Submission(victim.Tps, ContestId.Dpd, victim.DeviceId), form.Wire, correlation: form.Hash.ToArray()));
        var (ownTopic, ownJson) = await victimLink.NextAsync();
        Assert.Equal(Topics.Receipt(victim.DeviceId), ownTopic);
        Assert.Equal(ReceiptStatus.Accepted, Receipt.TryParse(ownJson)!.Status);
        Assert.Equal(MqttClientPublishReasonCode.Success, await victimLink.PublishAsync(
            Topics.Image(victim.Tps, ContestId.Dpd, victim.DeviceId), new ImageChunk(pageHash, [pageHash], 0, page.Length, 0, page).Encode()));
        var (_, storedJson) = await victimLink.NextAsync();
        Assert.Equal(ImageAckStatus.Stored, ImageAck.TryParse(storedJson)!.Status);
        Assert.Equal(2, victimLink.All.Count);

        // And counted: the TPS's DPD form is the victim's.
        using var doc = System.Text.Json.JsonDocument.Parse(await fixture.Http.GetStringAsync($"api/v1/results/dpd/{victim.Tps}"));
        Assert.Equal(form.Hash.ToString(), doc.RootElement.GetProperty("submission").GetProperty("hash").GetString());
    }

    [Fact]
    public async Task A_second_device_of_the_same_TPS_cannot_deliver_or_spoil_the_first_ones_form_and_photos()
    {
        // A replacement device at the same TPS may publish on that TPS's topics, but only its own forms and photos.
        var tps = TpsAt(3);
        var owner = fixture.NewDevice(tps);
        var other = fixture.NewDevice(tps);
        await using var ownerLink = await RawDevice.ConnectAsync(fixture, owner);
        await using var otherLink = await RawDevice.ConnectAsync(fixture, other);
        byte[] page = new byte[2_000];
        new Random(11).NextBytes(page);
        var pageHash = Sha256Hash.Of(page);
        var form = owner.Signer.Sign(owner.Tally(ContestId.Ppwp), pageHash);

        await ownerLink.PublishAsync(Topics.Submission(tps, ContestId.Ppwp, owner.DeviceId), form.Wire, correlation: form.Hash.ToArray());
        Assert.Equal(ReceiptStatus.Accepted, Receipt.TryParse((await ownerLink.NextAsync()).Payload)!.Status);

        // The same bytes from the other device: a replay, refused for who sent it (not final), counted once.
        await otherLink.PublishAsync(Topics.Submission(tps, ContestId.Ppwp, other.DeviceId), form.Wire, correlation: form.Hash.ToArray());
        var replay = Receipt.TryParse((await otherLink.NextAsync()).Payload)!;
        Assert.Equal((ReceiptStatus.Rejected, RejectReasons.ReplayedByOtherDevice, (string?)null), (replay.Status, replay.Reason, replay.Rejection));
        await RecordedAsync(e => e.Kind == SecurityEventKinds.FormReplayed && e.DeviceId == other.DeviceId && e.Tps == tps.Value);

        // A chunk of another size for the owner's page from the other device would have made the cloud drop the owner's
        // partial page: refused before it touches it.
        await ownerLink.PublishAsync(Topics.Image(tps, ContestId.Ppwp, owner.DeviceId), new ImageChunk(pageHash, [pageHash], 0, page.Length, 0, page[..1_000]).Encode());
        Assert.Equal(1_000, ImageAck.TryParse((await ownerLink.NextAsync()).Payload)!.Received);
        await otherLink.PublishAsync(Topics.Image(tps, ContestId.Ppwp, other.DeviceId), new ImageChunk(pageHash, [pageHash], 0, page.Length + 1, 0, page[..10]).Encode());
        var spoiled = ImageAck.TryParse((await otherLink.NextAsync()).Payload)!;
        Assert.Equal((ImageAckStatus.Rejected, ImageRefusals.UnknownImage), (spoiled.Status, spoiled.Reason));
        await ownerLink.PublishAsync(Topics.Image(tps, ContestId.Ppwp, owner.DeviceId), new ImageChunk(pageHash, [pageHash], 0, page.Length, 1_000, page[1_000..]).Encode());
        Assert.Equal(ImageAckStatus.Stored, ImageAck.TryParse((await ownerLink.NextAsync()).Payload)!.Status);
    }

    [Fact]
    public async Task A_PPK_station_of_the_kecamatan_may_still_relay_a_devices_form_and_is_answered_itself()
    {
        var tps = TpsAt(4);
        var device = fixture.NewDevice(tps);
        var station = fixture.Pki.Pki.IssueDevice($"ppk-{Guid.NewGuid():N}"[..20], KpuRole.Ppk, tps.Region.AncestorAt(RegionLevel.Kecamatan).Value);
        await using var relay = new Edge.Transport.SubmissionClient(station.DeviceId, fixture.Cloud.ConnectionFor(station));
        await relay.ConnectAsync();
        var form = device.Next(ContestId.Dpr);
        var receipt = await relay.SendAsync(Topics.Submission(tps, ContestId.Dpr, station.DeviceId), form.Wire, form.Hash.ToArray(), Patience);
        Assert.Equal(ReceiptStatus.Accepted, receipt.Status);
    }
}
