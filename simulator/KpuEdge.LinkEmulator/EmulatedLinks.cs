using System.Net;
using KpuEdge.Core.Regions;

namespace KpuEdge.LinkEmulator;

/// <summary>
/// The links of a whole simulated election: one <see cref="LinkProxy"/> per profile in front of the same target
/// (the broker), started on first use, all sharing one start so the outage schedules line up. A device connects to
/// <see cref="EndPointFor"/> its region and id instead of the broker.
/// </summary>
public sealed class EmulatedLinks : IAsyncDisposable
{
    private readonly EndPoint _target;
    private readonly TimeProvider _time;
    private readonly long _startTimestamp;
    private readonly Dictionary<string, LinkProxy> _proxies = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private bool _disposed;

    public EmulatedLinks(LinkProfileSet profiles, EndPoint target, int seed = 0, TimeProvider? timeProvider = null)
    {
        Profiles = profiles;
        Seed = seed;
        _target = target;
        _time = timeProvider ?? TimeProvider.System;
        _startTimestamp = _time.GetTimestamp();
    }

    public LinkProfileSet Profiles { get; }

    public int Seed { get; }

    /// <summary>The proxies started so far, by profile name.</summary>
    public IReadOnlyDictionary<string, LinkProxy> Proxies
    {
        get
        {
            lock (_lock) return new Dictionary<string, LinkProxy>(_proxies);
        }
    }

    public LinkProxy ProxyFor(string profileName)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_proxies.TryGetValue(profileName, out var proxy)) return proxy;
            var profile = Profiles[profileName];
            // Each profile's proxy has its own stream of fates, still fixed by the one seed.
            int index = Profiles.Profiles.ToList().IndexOf(profile);
            proxy = new LinkProxy(profile, _target,
                new LinkProxyOptions { Seed = unchecked(Seed * 1_000_003 + index), StartTimestamp = _startTimestamp }, _time);
            _proxies.Add(profileName, proxy);
            return proxy;
        }
    }

    /// <summary>The proxy of the profile the region assignment gives this device.</summary>
    public LinkProxy ProxyFor(RegionCode region, string deviceId) => ProxyFor(Profiles.Regions.ProfileFor(region, deviceId, Seed));

    /// <summary>Where this device should connect instead of the target.</summary>
    public IPEndPoint EndPointFor(RegionCode region, string deviceId) => ProxyFor(region, deviceId).EndPoint;

    public async ValueTask DisposeAsync()
    {
        List<LinkProxy> proxies;
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            proxies = [.. _proxies.Values];
        }
        foreach (var proxy in proxies) await proxy.DisposeAsync().ConfigureAwait(false);
    }
}
