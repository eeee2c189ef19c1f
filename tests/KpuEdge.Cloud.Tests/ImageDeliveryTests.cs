using System.Net;
using System.Text.Json;
using KpuEdge.Cloud.Images;
using KpuEdge.Cloud.Security;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Security;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Images;
using KpuEdge.Crypto.Transparency;
using KpuEdge.Edge.Delivery;
using KpuEdge.LinkEmulator;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;
using MQTTnet.Protocol;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// Form images through the real broker and ingest: they follow their tally in chunks, are checked against the hash in
/// the signed form, stored in a folder per TPS and served by the API byte for byte; a dropped link resumes from the
/// last byte the cloud holds; bad chunks are refused with a reason and store nothing.
/// </summary>
public sealed class ImageDeliveryTests(CloudFixture fixture) : IClassFixture<CloudFixture>
{
    private static TpsCode TpsAt(int index) => CloudFixture.Tree.TpsIn(RegionCode.Parse("9171")).ElementAt(index); // Kota Jayapura

    private static readonly DeliveryOptions Fast = new()
    {
        BackoffBase = TimeSpan.FromMilliseconds(50), BackoffMax = TimeSpan.FromMilliseconds(500), ResendAfter = TimeSpan.FromSeconds(5),
        KeepAlive = TimeSpan.FromSeconds(5), ConnectTimeout = TimeSpan.FromSeconds(10), ImageChunkBytes = 4096, Seed = 5,
    };

    /// <summary>Page images that look like what they are to a hash: random bytes of a page's size, seeded.</summary>
    private static byte[][] Pages(int count, int size, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            var page = new byte[size + random.Next(size / 4)];
            random.NextBytes(page);
            return page;
        }).ToArray();
    }

    private string OutboxPath(TestDevice device) => Path.Combine(fixture.DataDirectory, "devices", device.DeviceId, Outbox.FileName);

    private static async Task DeliverAllAsync(DeliveryLoop loop, Outbox outbox) =>
        Assert.True(await loop.RunUntilSettledAsync(TimeSpan.FromSeconds(90)), $"not settled: {outbox.Status()}");

    [Fact]
    public async Task Images_follow_their_tallies_and_are_served_byte_for_byte_from_a_folder_per_TPS()
    {
        var device = fixture.NewDevice(TpsAt(0));
        using var outbox = new Outbox(OutboxPath(device));
        var ppwp = Pages(1, 20_000, 1);
        var dpr = Pages(3, 9_000, 2);
        var signedPpwp = outbox.SignAndAdd(device.Signer, device.Tally(ContestId.Ppwp), ppwp);
        var signedDpr = outbox.SignAndAdd(device.Signer, device.Tally(ContestId.Dpr), dpr);
        Assert.Equal(ImageChunk.FormImageHash(dpr), signedDpr.Submission.ImageHash);
        Assert.Equal(4, outbox.Status().Images.Pending);

        await using (var loop = new DeliveryLoop(outbox, device.DeviceId, fixture.Cloud.ConnectionFor(device.Credentials), Fast))
            await DeliverAllAsync(loop, outbox);

        var status = outbox.Status();
        Assert.Equal(2, status.Receipted);
        Assert.Equal(new ImageProgress(4, 4, 0, ppwp.Concat(dpr).Sum(p => p.Length), ppwp.Concat(dpr).Sum(p => p.Length)), status.Images);

        using var list = JsonDocument.Parse(await fixture.Http.GetStringAsync($"api/v1/images/{device.Tps}"));
        var images = list.RootElement.GetProperty("images").EnumerateArray().ToList();
        Assert.Equal(2, images.Count);
        Assert.All(images, i => Assert.True(i.GetProperty("complete").GetBoolean()));
        var dprImage = images.Single(i => i.GetProperty("contest").GetString() == "dpr");
        Assert.Equal(signedDpr.Submission.ImageHash.ToString(), dprImage.GetProperty("image_hash").GetString());
        var urls = dprImage.GetProperty("stored").EnumerateArray().Select(p => p.GetProperty("url").GetString()!).ToList();
        for (int page = 0; page < dpr.Length; page++)
        {
            Assert.Equal(dpr[page], await fixture.Http.GetByteArrayAsync(urls[page].TrimStart('/')));
            string expected = Path.Combine(fixture.Cloud.Options.ImageDirectory,
                ImageReceiver.RelativePath(device.Tps, ContestId.Dpr, signedDpr.Submission.ImageHash, page));
            Assert.Equal(dpr[page], File.ReadAllBytes(expected));
            Assert.Contains(Path.Combine(device.Tps.Value[..2], device.Tps.Value[..4], device.Tps.Value[..6], device.Tps.Value[..10], device.Tps.Value, "dpr"), expected);
        }
        Assert.Equal(ppwp[0], await fixture.Http.GetByteArrayAsync(
            $"api/v1/images/{device.Tps}/ppwp/{signedPpwp.Submission.ImageHash}/1"));
        var missing = await fixture.Http.GetAsync($"api/v1/images/{device.Tps}/ppwp/{signedPpwp.Submission.ImageHash}/2");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);

        // The TPS's result names the counted form's page images, as Sirekap's does.
        await fixture.Cloud.Recap.SettleAsync();
        using var result = JsonDocument.Parse(await fixture.Http.GetStringAsync($"api/v1/results/dpr/{device.Tps}"));
        Assert.Equal(urls, result.RootElement.GetProperty("images").EnumerateArray().Select(u => u.GetString()!));
    }

    [Fact]
    public async Task After_drops_the_device_resumes_from_the_last_byte_the_cloud_holds()
    {
        var device = fixture.NewDevice(TpsAt(1));
        using var outbox = new Outbox(OutboxPath(device));
        var pages = Pages(2, 60_000, 3);
        var signed = outbox.SignAndAdd(device.Signer, device.Tally(ContestId.DprdKabKota), pages);
        var profile = new LinkProfile
        {
            Name = "test-resets", Latency = TimeSpan.FromMilliseconds(20), UpBytesPerSecond = 400_000, DownBytesPerSecond = 400_000,
            Resets = new LinkResets { FractionOfConnections = 0.7, AfterBytesMin = 15_000, AfterBytesMax = 40_000 },
        };
        await using var proxy = new LinkProxy(profile, new IPEndPoint(IPAddress.Loopback, fixture.Cloud.BrokerPort), new LinkProxyOptions { Seed = 11 });
        var connection = fixture.Cloud.ConnectionFor(device.Credentials) with { Port = proxy.Port };

        long sent, connects, restarts;
        await using (var loop = new DeliveryLoop(outbox, device.DeviceId, connection, Fast))
        {
            await DeliverAllAsync(loop, outbox);
            (sent, connects, restarts) = (loop.ChunksSent, loop.Connects, loop.PageRestarts);
        }
        Assert.True(connects > 1, "the link never dropped");

        Assert.True(proxy.Counters.Resets > 0);
        Assert.Equal(2, outbox.Status().Images.Stored);
        int chunksNeeded = pages.Sum(p => (p.Length + Fast.ImageChunkBytes - 1) / Fast.ImageChunkBytes);
        // Resuming resends at most the chunks that were in flight at each drop (or stall), never whole pages again.
        Assert.True(sent <= chunksNeeded + (connects + restarts) * Fast.ImageChunksInFlight,
            $"{sent} chunks sent for {chunksNeeded} over {connects} connections and {restarts} stalls");
        for (int page = 0; page < pages.Length; page++)
            Assert.Equal(pages[page], await fixture.Http.GetByteArrayAsync($"api/v1/images/{device.Tps}/dprd-kab/{signed.Submission.ImageHash}/{page + 1}"));
    }

    /// <summary>A device's raw MQTT connection: publishes chunk bytes as given and waits for the answer on its image topic.</summary>
    private sealed class RawImageClient : IAsyncDisposable
    {
        private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
        private readonly System.Threading.Channels.Channel<ImageAck> _acks = System.Threading.Channels.Channel.CreateUnbounded<ImageAck>();
        private readonly string _deviceId;

        private RawImageClient(string deviceId) => _deviceId = deviceId;

        public static async Task<RawImageClient> ConnectAsync(CloudFixture fixture, TestDevice device)
        {
            var raw = new RawImageClient(device.DeviceId);
            raw._client.ApplicationMessageReceivedAsync += e =>
            {
                if (ImageAck.TryParse(System.Buffers.BuffersExtensions.ToArray(e.ApplicationMessage.Payload)) is { } ack) raw._acks.Writer.TryWrite(ack);
                return Task.CompletedTask;
            };
            await raw._client.ConnectAsync(fixture.Cloud.ConnectionFor(device.Credentials).ClientOptions(device.DeviceId, TimeProvider.System).WithCleanStart().Build());
            await raw._client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(Topics.ImageAck(device.DeviceId), MqttQualityOfServiceLevel.AtLeastOnce).Build());
            return raw;
        }

        public async Task<MqttClientPublishReasonCode> PublishAsync(string topic, byte[] payload) =>
            (await _client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithResponseTopic(Topics.ImageAck(_deviceId)).Build())).ReasonCode;

        public async Task<ImageAck> SendAsync(string topic, byte[] payload)
        {
            Assert.Equal(MqttClientPublishReasonCode.Success, await PublishAsync(topic, payload));
            return await _acks.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        }

        public async ValueTask DisposeAsync()
        {
            await _client.DisconnectAsync();
            _client.Dispose();
        }
    }

    [Fact]
    public async Task Bad_chunks_are_refused_with_a_reason_store_nothing_and_the_cloud_keeps_taking_good_ones()
    {
        var device = fixture.NewDevice(TpsAt(2));
        var page = Pages(1, 10_000, 7)[0];
        var pageHash = Sha256Hash.Of(page);
        var signed = device.Signer.Sign(device.Tally(ContestId.Ppwp), pageHash);
        await using (var client = await device.ConnectAsync())
            Assert.Equal(ReceiptStatus.Accepted, (await client.SubmitAsync(signed, TimeSpan.FromSeconds(30))).Status);
        string topic = Topics.Image(device.Tps, ContestId.Ppwp, device.DeviceId);
        var good = new ImageChunk(pageHash, [pageHash], 0, page.Length, 0, page);
        await using var raw = await RawImageClient.ConnectAsync(fixture, device);

        // Malformed, oversized, of another version: refused unread.
        Assert.Equal(ImageRefusals.Malformed, (await raw.SendAsync(topic, [1, 2, 3])).Reason);
        Assert.Equal(ImageRefusals.Malformed, (await raw.SendAsync(topic, good.Encode()[..^5])).Reason);
        // Misaddressed: the image of this TPS's PPWP form sent as its DPR.
        Assert.Equal(ImageRefusals.UnknownImage, (await raw.SendAsync(Topics.Image(device.Tps, ContestId.Dpr, device.DeviceId), good.Encode())).Reason);
        // An image no accepted form names (made up, or the form never sent): nothing to attach it to.
        var stranger = Pages(1, 5_000, 8)[0];
        var strangerHash = Sha256Hash.Of(stranger);
        var unknown = await raw.SendAsync(topic, new ImageChunk(strangerHash, [strangerHash], 0, stranger.Length, 0, stranger).Encode());
        Assert.Equal(ImageRefusals.UnknownImage, unknown.Reason);
        // Where a chunk came from says nothing final about the page: the refusal is unsigned, and no device gives a page up for it.
        Assert.Null(unknown.Statement);
        Assert.False(ImageRefusals.IsFinal(unknown.Reason));
        // Forged bytes under the signed hash: the completed page does not hash right and is discarded.
        var forged = (byte[])page.Clone();
        forged[^1] ^= 0xFF;
        var mismatch = await raw.SendAsync(topic, (good with { Data = forged }).Encode());
        Assert.Equal(ImageRefusals.HashMismatch, mismatch.Reason);
        // Both smell of tampering: each is a security event naming the device, the TPS and the page.
        var events = fixture.Cloud.Services.GetRequiredService<SecurityEventRecorder>();
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        foreach (var (reason, hash) in new[] { (ImageRefusals.HashMismatch, pageHash), (ImageRefusals.UnknownImage, strangerHash) })
        {
            var recorded = await events.RecordedAsync(e => e.Kind == SecurityEventKinds.ImageRefused && e.Tps == device.Tps.Value
                && e.Evidence!["reason"] == reason && e.Evidence["image_hash"] == hash.ToString(), patience.Token);
            Assert.Equal(device.DeviceId, recorded.DeviceId);
            Assert.Equal((SecuritySeverity.Warning, "0", hash.ToString()), (recorded.Severity, recorded.Evidence!["page"], recorded.Evidence["page_hash"]));
        }
        // Another TPS's topic: the broker's ACL refuses the publish itself.
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, await raw.PublishAsync(Topics.Image(TpsAt(3), ContestId.Ppwp, device.DeviceId), good.Encode()));

        using (var none = JsonDocument.Parse(await fixture.Http.GetStringAsync($"api/v1/images/{device.Tps}")))
            Assert.Empty(none.RootElement.GetProperty("images").EnumerateArray());

        // Still running: the true page, in two chunks, repeated, is stored once.
        var chunks = ImageChunk.Split(pageHash, [pageHash], 0, page, 6_000).ToList();
        Assert.Equal(ImageAckStatus.Partial, (await raw.SendAsync(topic, chunks[0].Encode())).Status);
        Assert.Equal(6_000, (await raw.SendAsync(topic, chunks[0].Encode())).Received);
        var stored = await raw.SendAsync(topic, chunks[1].Encode());
        Assert.Equal(ImageAckStatus.Stored, stored.Status);
        Assert.Equal((1, 1), (stored.PagesStored, stored.Pages));
        Assert.True(ImageStatement.Verify(stored.Statement, fixture.Pki.LogKey, pageHash, 0, pageHash, ImageStatement.Stored).Ok);
        var again = await raw.SendAsync(topic, chunks[1].Encode());
        Assert.Equal(ImageAckStatus.Stored, again.Status);
        Assert.Equal(stored.Statement, again.Statement); // the same word on every repeat: dated when the page was stored
        Assert.Equal(page, await fixture.Http.GetByteArrayAsync($"api/v1/images/{device.Tps}/ppwp/{pageHash}/1"));
    }
}
