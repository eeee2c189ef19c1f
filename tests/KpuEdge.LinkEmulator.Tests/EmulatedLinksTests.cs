using KpuEdge.Core.Regions;

namespace KpuEdge.LinkEmulator.Tests;

public sealed class EmulatedLinksTests
{
    private static readonly LinkProfileSet Profiles = LinkProfileSet.LoadDefault();

    [Fact]
    public async Task Each_device_gets_the_proxy_of_its_assigned_profile_one_proxy_per_profile()
    {
        await using var server = TcpTestServer.Echo();
        await using var links = new EmulatedLinks(Profiles, server.EndPoint, seed: 4);
        var papua = RegionCode.Parse("9101010001001");

        var ids = Enumerable.Range(0, 40).Select(i => $"dev-91010100010{i:D2}").ToList();
        foreach (var id in ids)
        {
            var proxy = links.ProxyFor(papua, id);
            Assert.Equal(Profiles.Regions.ProfileFor(papua, id, 4), proxy.Profile.Name);
            Assert.Equal(proxy.EndPoint, links.EndPointFor(papua, id));
        }
        var used = ids.Select(id => Profiles.Regions.ProfileFor(papua, id, 4)).Distinct().Order().ToList();
        Assert.Equal(used, links.Proxies.Keys.Order().ToList());
        Assert.Equal(used.Count, links.Proxies.Values.Select(p => p.Port).Distinct().Count());
    }

    [Fact]
    public async Task All_proxies_count_outages_from_the_emulator_start()
    {
        var clock = new TestClock();
        await using var server = TcpTestServer.Echo();
        await using var links = new EmulatedLinks(Profiles, server.EndPoint, seed: 1, clock);

        var early = links.ProxyFor("4g");
        clock.Advance(TimeSpan.FromSeconds(45));
        var late = links.ProxyFor("vsat-3t-bad");

        Assert.Equal(TimeSpan.FromSeconds(45), early.SinceStart);
        Assert.Equal(TimeSpan.FromSeconds(45), late.SinceStart);
        Assert.True(late.IsDown, "the bad VSAT's first outage is [30 s, 60 s) after the emulator started, not the proxy");
    }

    [Fact]
    public async Task Traffic_flows_through_an_emulated_fibre_link()
    {
        await using var server = TcpTestServer.Echo();
        await using var links = new EmulatedLinks(Profiles, server.EndPoint);
        using var client = await Client.ConnectAsync(links.ProxyFor("fibre").EndPoint);

        await Client.SendAsync(client, "C1 PPWP"u8.ToArray());
        Assert.Equal("C1 PPWP"u8.ToArray(), await Client.ReceiveExactlyAsync(client, 7));
    }
}
