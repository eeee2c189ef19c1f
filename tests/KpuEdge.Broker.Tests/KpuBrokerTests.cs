using System.Net;
using System.Net.Sockets;
using MQTTnet;
using MQTTnet.Protocol;

namespace KpuEdge.Broker.Tests;

/// <summary>
/// Issue 10 §2–3 and §5 against the real broker over real sockets: what an outsider without a certificate, and a
/// genuine device turned against the system, could do to it — and what it does instead.
/// </summary>
public sealed class KpuBrokerTests
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Listens_on_exactly_the_configured_address_and_no_other()
    {
        await using var harness = await BrokerHarness.StartAsync();
        using var ipv6 = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
        await Assert.ThrowsAsync<SocketException>(async () => await ipv6.ConnectAsync(new IPEndPoint(IPAddress.IPv6Loopback, harness.Broker.Port)));
        using var otherIpv4 = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await Assert.ThrowsAsync<SocketException>(async () => await otherIpv4.ConnectAsync(new IPEndPoint(IPAddress.Parse("127.0.0.2"), harness.Broker.Port)));
        var client = await harness.ConnectAsync(harness.Device());
        Assert.True(client.IsConnected);
        client.Dispose();
    }

    [Fact]
    public async Task Closes_connections_that_never_finish_their_handshake_and_says_so_once()
    {
        await using var harness = await BrokerHarness.StartAsync(new BrokerLimits { HandshakeTimeout = TimeSpan.FromSeconds(10) });
        var silent = new List<Socket>();
        for (int i = 0; i < 20; i++) silent.Add(await harness.SilentConnectionAsync());
        await BrokerHarness.EventuallyAsync(() => harness.Broker.Connections.Pending == 20, "20 handshakes pending");

        harness.Time.Advance(TimeSpan.FromSeconds(10));
        foreach (var socket in silent) Assert.True(await BrokerHarness.ClosedByPeerAsync(socket, Soon), "the broker closed the silent connection");
        await BrokerHarness.EventuallyAsync(() => harness.Broker.Connections == (0, 0), "every connection gone");
        var reported = harness.Refusals.Where(r => r.Kind == BrokerRefusalKinds.HandshakeTimeout).ToList();
        // One report for the flood from one address, and another when it had grown tenfold; the rest counted.
        Assert.Equal(2, reported.Count);
        var only = reported[0];
        Assert.Equal(IPAddress.Loopback, only.Source!.Address);
        Assert.Null(only.ClientId);
        Assert.Equal(0, only.Suppressed);
        Assert.Equal(10, reported[1].Suppressed);

        // Counted, and told with the next report of the kind from that address, a window later.
        harness.Time.Advance(TimeSpan.FromMinutes(1));
        var late = await harness.SilentConnectionAsync();
        await BrokerHarness.EventuallyAsync(() => harness.Broker.Connections.Pending == 1, "the late one pending");
        harness.Time.Advance(TimeSpan.FromSeconds(10));
        Assert.True(await BrokerHarness.ClosedByPeerAsync(late, Soon));
        await BrokerHarness.EventuallyAsync(() => harness.Refusals.Count(r => r.Kind == BrokerRefusalKinds.HandshakeTimeout) == 3, "the third report");
        Assert.Equal(9, harness.Refusals.Last(r => r.Kind == BrokerRefusalKinds.HandshakeTimeout).Suppressed); // 19 held back, 10 told at tenfold
        foreach (var socket in silent.Append(late)) socket.Dispose();
    }

    [Fact]
    public async Task Holds_only_so_many_half_open_connections_from_one_address_and_still_serves_everyone_else()
    {
        await using var harness = await BrokerHarness.StartAsync(new BrokerLimits { MaxPendingHandshakesPerSource = 5 });
        var held = new List<Socket>();
        for (int i = 0; i < 5; i++) held.Add(await harness.SilentConnectionAsync("127.0.0.1"));
        await BrokerHarness.EventuallyAsync(() => harness.Broker.Connections.Pending == 5, "5 pending");
        var excess = new List<Socket>();
        for (int i = 0; i < 10; i++)
        {
            try { excess.Add(await harness.SilentConnectionAsync("127.0.0.1")); }
            catch (SocketException) { } // reset before the connect call even returned: closed at once too
        }
        foreach (var socket in excess) Assert.True(await BrokerHarness.ClosedByPeerAsync(socket, Soon), "the excess is closed at once");
        await BrokerHarness.EventuallyAsync(() => harness.Refusals.Any(r => r.Kind == BrokerRefusalKinds.ConnectionLimit), "the refusal reported");
        Assert.Equal(5, harness.Broker.Connections.Pending);
        Assert.Contains(harness.Refusals, r => r.Kind == BrokerRefusalKinds.ConnectionLimit && r.Source!.Address.Equals(IPAddress.Loopback));

        // A genuine device from another address connects and publishes meanwhile.
        using var device = await harness.ConnectAsync(harness.Device(), from: "127.0.0.2");
        var published = await device.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("t/dev-a/x").WithPayload([1]).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.True(published.IsSuccess || published.ReasonCode == MqttClientPublishReasonCode.NoMatchingSubscribers);
        foreach (var socket in held.Concat(excess)) socket.Dispose();
    }

    [Fact]
    public async Task Refuses_a_CONNECT_declaring_268_MB_before_reading_it()
    {
        await using var harness = await BrokerHarness.StartAsync();
        await using var ssl = await harness.TlsConnectionAsync(harness.Device());
        // CONNECT, remaining length 268,435,455: MQTTnet's own listener allocates all of it before reading a byte.
        await ssl.WriteAsync(new byte[] { 0x10, 0xFF, 0xFF, 0xFF, 0x7F });
        await ssl.FlushAsync();
        var buffer = new byte[64];
        int read;
        try { read = await ssl.ReadAsync(buffer).AsTask().WaitAsync(Soon); }
        catch (IOException) { read = 0; }
        Assert.Equal(0, read);
        await BrokerHarness.EventuallyAsync(() => harness.Refusals.Any(r => r.Kind == BrokerRefusalKinds.PacketTooLarge), "the refusal reported");
        Assert.Contains("268435460 bytes", harness.Refusals.First(r => r.Kind == BrokerRefusalKinds.PacketTooLarge).Detail);
    }

    [Fact]
    public async Task Closes_a_genuine_device_publishing_a_message_larger_than_any_of_the_protocol()
    {
        await using var harness = await BrokerHarness.StartAsync();
        var client = await harness.ConnectAsync(harness.Device());
        var disconnected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.DisconnectedAsync += _ => { disconnected.TrySetResult(); return Task.CompletedTask; };
        var huge = new MqttApplicationMessageBuilder().WithTopic("t/dev-a/x").WithPayload(new byte[1024 * 1024])
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();
        await Assert.ThrowsAnyAsync<Exception>(() => client.PublishAsync(huge).WaitAsync(Soon));
        await disconnected.Task.WaitAsync(Soon);
        Assert.Contains(harness.Refusals, r => r.Kind == BrokerRefusalKinds.PacketTooLarge);
        // The largest message of the protocol still passes.
        using var again = await harness.ConnectAsync(harness.Device());
        var chunk = await again.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("t/dev-a/x").WithPayload(new byte[66_560])
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.NotEqual(MqttClientPublishReasonCode.QuotaExceeded, chunk.ReasonCode);
        client.Dispose();
    }

    [Fact]
    public async Task Refuses_a_keep_alive_of_zero()
    {
        await using var harness = await BrokerHarness.StartAsync();
        var client = new MqttClientFactory().CreateMqttClient();
        var options = harness.ClientOptions(harness.Device()).WithKeepAlivePeriod(TimeSpan.Zero).Build();
        try
        {
            var result = await client.ConnectAsync(options);
            Assert.NotEqual(MqttClientConnectResultCode.Success, result.ResultCode);
        }
        catch (MQTTnet.Adapter.MqttConnectingFailedException) { } // refused at CONNACK
        Assert.False(client.IsConnected);
        Assert.Contains(harness.Refusals, r => r.Kind == BrokerRefusalKinds.KeepAliveRefused && r.ClientId == "dev-a");
        client.Dispose();
    }

    [Fact]
    public async Task Holds_a_flooding_device_to_its_quota_and_reports_the_flood_once()
    {
        await using var harness = await BrokerHarness.StartAsync(new BrokerLimits { DeviceQuota = new PublishQuota(Burst: 5, PerSecond: 1) });
        using var flooder = await harness.ConnectAsync(harness.Device("dev-flood"));
        using var honest = await harness.ConnectAsync(harness.Device("dev-honest"), from: "127.0.0.2");
        MqttApplicationMessage Message(string device) => new MqttApplicationMessageBuilder().WithTopic($"t/{device}/x").WithPayload([1])
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();

        var codes = new List<MqttClientPublishReasonCode>();
        for (int i = 0; i < 50; i++) codes.Add((await flooder.PublishAsync(Message("dev-flood"))).ReasonCode);
        Assert.Equal(5, codes.Count(c => c != MqttClientPublishReasonCode.QuotaExceeded));
        Assert.Equal(45, codes.Count(c => c == MqttClientPublishReasonCode.QuotaExceeded));
        // Reported at the first refusal and again at the 11th (the flood grown tenfold), not 45 times.
        Assert.Equal([0L, 10L], harness.Refusals.Where(r => r.Kind == BrokerRefusalKinds.RateLimited && r.ClientId == "dev-flood").Select(r => r.Suppressed));
        // Its quota is its own: another device is not touched, and the flooder gets its share back with time.
        Assert.NotEqual(MqttClientPublishReasonCode.QuotaExceeded, (await honest.PublishAsync(Message("dev-honest"))).ReasonCode);
        harness.Time.Advance(TimeSpan.FromSeconds(2));
        Assert.NotEqual(MqttClientPublishReasonCode.QuotaExceeded, (await flooder.PublishAsync(Message("dev-flood"))).ReasonCode);
    }

    [Fact]
    public async Task Reports_certificate_less_attempts_once_and_again_as_they_grow_tenfold_with_their_source_and_count()
    {
        await using var harness = await BrokerHarness.StartAsync();
        for (int i = 0; i < 30; i++)
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, harness.Broker.Port);
            await using var ssl = new System.Net.Security.SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
            try
            {
                // With TLS 1.3 the client may finish its side before the server refuses: the server then closes.
                await ssl.AuthenticateAsClientAsync("localhost");
                Assert.Equal(0, await ssl.ReadAsync(new byte[16]).AsTask().WaitAsync(Soon));
            }
            catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException) { }
        }
        await BrokerHarness.EventuallyAsync(() => harness.Refusals.Count(r => r.Kind == BrokerRefusalKinds.CertificateRefused) == 2, "the refusals reported");
        // 30 attempts: the 1st reported, the 11th with the 10 held back; the other 19 counted for the next report.
        var refused = harness.Refusals.Where(r => r.Kind == BrokerRefusalKinds.CertificateRefused).ToList();
        Assert.Equal([0L, 10L], refused.Select(r => r.Suppressed));
        Assert.All(refused, r => Assert.Equal(IPAddress.Loopback, r.Source!.Address));
        Assert.All(refused, r => Assert.Null(r.ClientId));
    }

    [Fact]
    public async Task Names_a_foreign_CAs_certificate_only_as_claimed()
    {
        await using var harness = await BrokerHarness.StartAsync();
        var foreign = Crypto.Pki.EphemeralPki.Create("pemilu-2024", BrokerHarness.Now, seed: 99).IssueDevice("dev-a", Crypto.Pki.KpuRole.Tps, BrokerHarness.Tps);
        await Assert.ThrowsAnyAsync<Exception>(() => harness.ConnectAsync(foreign));
        await BrokerHarness.EventuallyAsync(() => harness.Refusals.Any(r => r.Kind == BrokerRefusalKinds.CertificateRefused), "the refusal reported");
        var refused = Assert.Single(harness.Refusals, r => r.Kind == BrokerRefusalKinds.CertificateRefused);
        Assert.Equal("dev-a", refused.ClaimedName);
        Assert.Null(refused.ClientId);
        Assert.Equal("unknown_issuer", refused.Evidence!["error"]);
    }

    [Fact]
    public async Task Keeps_a_devices_session_while_it_is_away_and_hands_it_what_came_meanwhile()
    {
        await using var harness = await BrokerHarness.StartAsync();
        var device = harness.Device();
        void Persistent(MqttClientOptionsBuilder o) => o.WithCleanStart(false).WithSessionExpiryInterval(3600);
        var first = await harness.ConnectAsync(device, tweak: Persistent);
        await first.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter("r/dev-a", MqttQualityOfServiceLevel.AtLeastOnce).Build());
        await first.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithSessionExpiryInterval(3600).Build());
        first.Dispose();

        // A receipt published while the device is away.
        await harness.Broker.InjectAsync(new MqttApplicationMessageBuilder().WithTopic("r/dev-a").WithPayload("receipt"u8.ToArray())
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build(), "test");

        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var second = new MqttClientFactory().CreateMqttClient();
        second.ApplicationMessageReceivedAsync += e =>
        {
            received.TrySetResult(System.Text.Encoding.UTF8.GetString(System.Buffers.BuffersExtensions.ToArray(e.ApplicationMessage.Payload)));
            return Task.CompletedTask;
        };
        var options = harness.ClientOptions(device);
        Persistent(options);
        var connected = await second.ConnectAsync(options.Build());
        Assert.True(connected.IsSessionPresent);
        Assert.Equal("receipt", await received.Task.WaitAsync(Soon));
        second.Dispose();
    }
}
