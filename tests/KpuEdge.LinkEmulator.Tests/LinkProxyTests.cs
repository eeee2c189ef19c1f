using System.Net.Sockets;

namespace KpuEdge.LinkEmulator.Tests;

public sealed class LinkProxyTests
{
    private static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);

    public static TheoryData<string> Links => ["transparent", "jittery", "paced"];

    private static LinkProfile Named(string name) => name switch
    {
        "transparent" => LinkProfile.Transparent(),
        // Jitter as large as the latency: chunks sampled later often want to arrive earlier.
        "jittery" => new LinkProfile { Name = name, Latency = 3 * Ms, Jitter = 3 * Ms },
        "paced" => new LinkProfile { Name = name, Latency = 2 * Ms, Jitter = 2 * Ms, UpBytesPerSecond = 4_000_000, DownBytesPerSecond = 4_000_000 },
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Theory]
    [MemberData(nameof(Links))]
    public async Task Bytes_arrive_intact_and_in_order_through_many_small_and_large_writes(string link)
    {
        await using var server = TcpTestServer.Echo();
        await using var proxy = new LinkProxy(Named(link), server.EndPoint, new LinkProxyOptions { Seed = 11 });
        using var client = await Client.ConnectAsync(proxy.EndPoint);

        var random = new Random(5);
        var writes = new List<byte[]>();
        for (int i = 0; i < 2_000; i++) writes.Add(RandomBytes(random, random.Next(1, 200)));
        for (int i = 0; i < 4; i++) writes.Add(RandomBytes(random, 100_000 + random.Next(1000)));
        var sent = writes.SelectMany(w => w).ToArray();

        // Read while writing: the echo would otherwise fill every buffer on the way and stall the writer.
        var echoed = Client.ReceiveExactlyAsync(client, sent.Length);
        foreach (var write in writes) await Client.SendAsync(client, write);

        Assert.Equal(sent, await echoed);
        Assert.Equal(sent, server.Received);
        Assert.Equal(sent.Length, proxy.Counters.BytesUp);
        Assert.Equal(sent.Length, proxy.Counters.BytesDown);
        Assert.Equal(1, proxy.Counters.Connections);
    }

    [Fact]
    public async Task Nothing_arrives_before_the_latency_has_passed_each_way()
    {
        var clock = new TestClock();
        await using var server = TcpTestServer.Echo();
        var profile = new LinkProfile { Name = "slow", Latency = 300 * Ms };
        await using var proxy = new LinkProxy(profile, server.EndPoint, timeProvider: clock);
        var events = new LinkEvents(proxy);
        using var client = await Client.ConnectAsync(proxy.EndPoint);

        await Client.SendAsync(client, "hello"u8.ToArray());
        await events.WhenReceivedAsync(LinkDirection.Up, 5);
        clock.Advance(299 * Ms);
        Assert.Equal(0, proxy.Counters.BytesUp);
        Assert.Equal(0, server.ReceivedCount);
        clock.Advance(Ms);
        await server.WhenReceivedAsync(5);

        await events.WhenReceivedAsync(LinkDirection.Down, 5);
        clock.Advance(299 * Ms);
        Assert.Equal(0, proxy.Counters.BytesDown);
        clock.Advance(Ms);
        Assert.Equal("hello"u8.ToArray(), await Client.ReceiveExactlyAsync(client, 5));
        Assert.Equal(600 * Ms, proxy.SinceStart); // the round trip of the fake clock: twice the one-way latency
    }

    [Fact]
    public async Task Jitter_never_brings_bytes_earlier_than_latency_minus_jitter_and_keeps_them_in_order()
    {
        var clock = new TestClock();
        await using var server = TcpTestServer.Sink();
        var profile = new LinkProfile { Name = "vsat", Latency = 300 * Ms, Jitter = 50 * Ms };
        await using var proxy = new LinkProxy(profile, server.EndPoint, new LinkProxyOptions { Seed = 3 }, clock);
        var events = new LinkEvents(proxy);
        using var client = await Client.ConnectAsync(proxy.EndPoint);

        var sent = new List<byte>();
        for (int i = 0; i < 20; i++)
        {
            // One write at a time, each into the link before the next, 10 ms of fake time apart.
            var chunk = RandomBytes(new Random(i), 100);
            sent.AddRange(chunk);
            await Client.SendAsync(client, chunk);
            await events.WhenReceivedAsync(LinkDirection.Up, sent.Count);
            clock.Advance(10 * Ms);
        }
        // The first chunk entered at 0 ms and may leave at 250 ms at the earliest; now it is 200 ms.
        clock.Advance(49 * Ms);
        Assert.Equal(0, proxy.Counters.BytesUp);
        clock.Advance(TimeSpan.FromSeconds(1));
        await server.WhenReceivedAsync(sent.Count);
        Assert.Equal(sent, server.Received);
    }

    [Fact]
    public async Task A_paced_link_passes_at_most_rate_times_time_plus_burst()
    {
        const int rate = 1000, burst = 1000, total = 5000;
        var clock = new TestClock();
        await using var server = TcpTestServer.Sink();
        var profile = new LinkProfile { Name = "thin", UpBytesPerSecond = rate, BurstBytes = burst };
        await using var proxy = new LinkProxy(profile, server.EndPoint, timeProvider: clock);
        using var client = await Client.ConnectAsync(proxy.EndPoint);
        var sent = RandomBytes(new Random(1), total);
        await Client.SendAsync(client, sent);

        // Pieces are 512 bytes here: the first leaves at once from the full bucket, the second waits for tokens.
        await clock.WhenArmedAsync();
        await server.WhenReceivedAsync(512);
        Assert.InRange(proxy.Counters.BytesUp, 1, burst);

        for (int step = 0; step < 100; step++)
        {
            await clock.WhenArmedAsync(); // the reader is parked on the clock, so advancing cannot race it
            clock.Advance(10 * Ms);
        }
        // 1 s on, the bucket has given 1000 + 1000 tokens; the reader takes a piece (≤ 512 bytes) whenever it can,
        // so less than one piece's worth is left unused.
        await server.WhenReceivedAsync(rate * 1 + burst - 511);
        Assert.InRange(proxy.Counters.BytesUp, rate * 1 + burst - 511, rate * 1 + burst);

        var delivered = server.WhenReceivedAsync(total);
        while (!delivered.IsCompleted)
        {
            await Task.WhenAny(clock.WhenArmedAsync(), delivered);
            long before = proxy.Counters.BytesUp;
            var elapsed = proxy.SinceStart;
            Assert.True(before <= rate * elapsed.TotalSeconds + burst, $"{before} bytes after {elapsed}");
            if (!delivered.IsCompleted) clock.Advance(100 * Ms);
        }
        await delivered;
        Assert.Equal(sent, server.Received);
        Assert.True(proxy.SinceStart >= TimeSpan.FromSeconds((total - burst) / (double)rate), $"all sent by {proxy.SinceStart}");
    }

    [Fact]
    public async Task A_doomed_connection_is_reset_mid_stream_and_counted()
    {
        await using var server = TcpTestServer.Echo();
        var profile = new LinkProfile
        {
            Name = "doomed",
            Resets = new LinkResets { FractionOfConnections = 1, AfterBytesMin = 1000, AfterBytesMax = 1000 },
        };
        await using var proxy = new LinkProxy(profile, server.EndPoint, new LinkProxyOptions { Seed = 42 });
        var events = new LinkEvents(proxy);
        using var client = await Client.ConnectAsync(proxy.EndPoint);

        var received = Client.ReceiveUntilClosedAsync(client);
        try
        {
            await Client.SendAsync(client, RandomBytes(new Random(2), 4000));
        }
        catch (SocketException)
        {
            // The reset may already have reached us while writing.
        }
        var (echoed, _) = await received;

        await events.WhenAsync(LinkEventKind.Closed);
        Assert.True(echoed.Length < 1000, $"{echoed.Length} bytes came back through a link that dies after 1000");
        Assert.True(server.ReceivedCount <= 1000);
        Assert.Equal(1, proxy.Counters.Resets);
        Assert.Contains(events.Seen, e => e.Kind == LinkEventKind.Reset);
        Assert.Equal(0, proxy.Counters.Active);
    }

    [Fact]
    public async Task The_same_seed_resets_the_same_connections()
    {
        var resets = new LinkResets { FractionOfConnections = 0.3, AfterBytesMin = 100, AfterBytesMax = 3000 };
        var profile = new LinkProfile { Name = "flaky", Resets = resets };
        var expected = Enumerable.Range(1, 20).Where(n => ConnectionPlan.For(resets, 9, n).ResetAfterBytes is not null).ToList();
        Assert.InRange(expected.Count, 1, 19); // the seed gives a mix, or the test would prove nothing

        await using var server = TcpTestServer.Echo();
        await using var proxy = new LinkProxy(profile, server.EndPoint, new LinkProxyOptions { Seed = 9 });
        var events = new LinkEvents(proxy);
        var resetOnes = new List<int>();
        for (int n = 1; n <= 20; n++)
        {
            // One after another, so connection n is the n-th accepted: its fate is fixed by (seed, n).
            using var client = await Client.ConnectAsync(proxy.EndPoint);
            var received = Client.ReceiveUntilClosedAsync(client);
            try
            {
                await Client.SendAsync(client, RandomBytes(new Random(n), 4000));
                client.Shutdown(SocketShutdown.Send);
            }
            catch (SocketException)
            {
            }
            var (echoed, _) = await received;
            if (echoed.Length < 4000) resetOnes.Add(n);
            await events.WhenAsync(LinkEventKind.Closed, n);
        }

        Assert.Equal(expected, resetOnes);
        Assert.Equal(expected.Count, proxy.Counters.Resets);
        Assert.Equal(20, proxy.Counters.Connections);
    }

    [Fact]
    public async Task A_connection_is_reset_when_its_drawn_lifetime_ends()
    {
        var resets = new LinkResets { MeanTimeBetween = TimeSpan.FromSeconds(10) };
        var lifetime = ConnectionPlan.For(resets, 7, 1).ResetAfter!.Value;
        Assert.True(lifetime > TimeSpan.FromSeconds(1), $"seed 7 draws {lifetime}: pick a seed with room before the reset");
        var clock = new TestClock();
        await using var server = TcpTestServer.Echo();
        await using var proxy = new LinkProxy(new LinkProfile { Name = "hazard", Resets = resets }, server.EndPoint, new LinkProxyOptions { Seed = 7 }, clock);
        var events = new LinkEvents(proxy);
        using var client = await Client.ConnectAsync(proxy.EndPoint);

        await events.WhenAsync(LinkEventKind.Accepted);
        await clock.WhenArmedAsync(); // the lifetime timer
        clock.Advance(lifetime - Ms);
        await Client.SendAsync(client, "ping"u8.ToArray());
        Assert.Equal("ping"u8.ToArray(), await Client.ReceiveExactlyAsync(client, 4));
        Assert.Equal(0, proxy.Counters.Resets);

        clock.Advance(Ms);
        var (_, wasReset) = await Client.ReceiveUntilClosedAsync(client);
        Assert.True(wasReset, "the client should see an RST, not an orderly close");
        Assert.Equal(1, proxy.Counters.Resets);
    }

    [Fact]
    public async Task During_an_outage_open_connections_are_cut_new_ones_refused_and_afterwards_it_works()
    {
        var clock = new TestClock();
        await using var server = TcpTestServer.Echo();
        var profile = new LinkProfile { Name = "outage", Outages = [new(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(20))] };
        await using var proxy = new LinkProxy(profile, server.EndPoint, timeProvider: clock);
        var events = new LinkEvents(proxy);

        using var before = await Client.ConnectAsync(proxy.EndPoint);
        await Client.SendAsync(before, "up"u8.ToArray());
        Assert.Equal("up"u8.ToArray(), await Client.ReceiveExactlyAsync(before, 2));

        clock.Advance(TimeSpan.FromSeconds(10));
        var (_, cutWithReset) = await Client.ReceiveUntilClosedAsync(before);
        Assert.True(cutWithReset);
        Assert.Equal(1, proxy.Counters.CutByOutage);
        Assert.True(proxy.IsDown);

        Assert.True(await Client.IsRefusedAsync(proxy.EndPoint)); // at once: no clock advanced
        await events.WhenAsync(LinkEventKind.RefusedDuringOutage);
        Assert.Equal(1, proxy.Counters.RefusedDuringOutage);

        clock.Advance(TimeSpan.FromSeconds(10));
        Assert.False(proxy.IsDown);
        using var after = await Client.ConnectAsync(proxy.EndPoint);
        await Client.SendAsync(after, "back"u8.ToArray());
        Assert.Equal("back"u8.ToArray(), await Client.ReceiveExactlyAsync(after, 4));
        Assert.Equal(2, proxy.Counters.Connections);
    }

    [Fact]
    public async Task One_proxy_serves_many_devices_at_once_each_with_its_own_stream()
    {
        await using var server = TcpTestServer.Echo();
        var profile = new LinkProfile { Name = "shared", Latency = 2 * Ms, Jitter = Ms, UpBytesPerSecond = 2_000_000, DownBytesPerSecond = 2_000_000 };
        await using var proxy = new LinkProxy(profile, server.EndPoint);

        var devices = Enumerable.Range(0, 25).Select(async i =>
        {
            using var client = await Client.ConnectAsync(proxy.EndPoint);
            var bytes = RandomBytes(new Random(100 + i), 20_000);
            var echoed = Client.ReceiveExactlyAsync(client, bytes.Length);
            await Client.SendAsync(client, bytes);
            Assert.Equal(bytes, await echoed);
        });
        await Task.WhenAll(devices);

        Assert.Equal(25, proxy.Counters.Connections);
        Assert.Equal(25 * 20_000, proxy.Counters.BytesUp);
        Assert.Equal(25 * 20_000, proxy.Counters.BytesDown);
    }

    [Fact]
    public async Task A_target_that_is_not_listening_resets_the_device()
    {
        // A port held but not listening: connections to it are refused, and nobody else (the proxy included) can
        // take it while the test runs — a port merely freed could come back as the proxy's own.
        using var held = new Socket(SocketType.Stream, ProtocolType.Tcp);
        held.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        var nowhere = (System.Net.IPEndPoint)held.LocalEndPoint!;
        await using var proxy = new LinkProxy(LinkProfile.Transparent(), nowhere);
        var events = new LinkEvents(proxy);

        Assert.True(await Client.IsRefusedAsync(proxy.EndPoint));
        await events.WhenAsync(LinkEventKind.Closed);
        Assert.Equal(0, proxy.Counters.Resets); // the far end was gone: not the link's doing
    }

    [Fact]
    public async Task A_proxy_refuses_itself_as_its_target()
    {
        using var held = new Socket(SocketType.Stream, ProtocolType.Tcp);
        held.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        var port = ((System.Net.IPEndPoint)held.LocalEndPoint!).Port;
        held.Close(); // the proxy listens on this port next

        var options = new LinkProxyOptions { Listen = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port) };
        var error = Assert.Throws<ArgumentException>(() => new LinkProxy(LinkProfile.Transparent(), new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port), options));
        Assert.Contains("own listening address", error.Message);

        // The port was let go again: a proxy to somewhere else can listen there.
        await using var server = TcpTestServer.Echo();
        await using var proxy = new LinkProxy(LinkProfile.Transparent(), server.EndPoint, options);
        Assert.Equal(port, proxy.Port);
    }

    private static byte[] RandomBytes(Random random, int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }
}
