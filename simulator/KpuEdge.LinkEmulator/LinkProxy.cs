using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace KpuEdge.LinkEmulator;

/// <summary>Where a <see cref="LinkProxy"/> listens and how its randomness and outage schedule are anchored.</summary>
public sealed record LinkProxyOptions
{
    /// <summary>Seed of the reset model and the jitter; connection n of a run with the same seed meets the same fate.</summary>
    public int Seed { get; init; }

    /// <summary>Defaults to 127.0.0.1 on a free port (see <see cref="LinkProxy.EndPoint"/>).</summary>
    public IPEndPoint Listen { get; init; } = new(IPAddress.Loopback, 0);

    /// <summary>
    /// The <see cref="TimeProvider.GetTimestamp"/> the outage offsets count from; null for the proxy's own start.
    /// <see cref="EmulatedLinks"/> gives all its proxies its own start, so their outages line up.
    /// </summary>
    public long? StartTimestamp { get; init; }
}

/// <summary>
/// A TCP proxy in user space that behaves like a link of a <see cref="LinkProfile"/>: it listens on
/// <see cref="EndPoint"/> from construction, forwards every accepted connection to the target, and on the way
/// delays, paces, resets and cuts per the profile. Many devices can share one proxy; each connection gets its own
/// link (own rate, own fate). All timing goes through the <see cref="TimeProvider"/>, so a fake clock drives it.
/// </summary>
public sealed class LinkProxy : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly TimeProvider _time;
    private readonly long _startTimestamp;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<long, ProxiedConnection> _connections = new();
    private readonly List<ITimer> _outageTimers = [];
    private readonly Task _acceptLoop;
    private long _sequence, _connectionCount, _resets, _cuts, _refused, _bytesUp, _bytesDown;

    public LinkProxy(LinkProfile profile, EndPoint target, LinkProxyOptions? options = null, TimeProvider? timeProvider = null)
    {
        profile.Validate();
        options ??= new LinkProxyOptions();
        Profile = profile;
        Target = target;
        Seed = options.Seed;
        _time = timeProvider ?? TimeProvider.System;
        _startTimestamp = options.StartTimestamp ?? _time.GetTimestamp();

        _listener = new Socket(options.Listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(options.Listen);
        _listener.Listen(1024);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        if (IsSelf(target))
        {
            _listener.Dispose();
            // Each accepted connection would open another to itself, until the process runs out of sockets.
            throw new ArgumentException($"The link's target {target} is the proxy's own listening address.", nameof(target));
        }

        var now = SinceStart;
        foreach (var outage in profile.Outages.Where(o => o.Start > now))
        {
            _outageTimers.Add(_time.CreateTimer(_ => CutAll(), null, outage.Start - now, Timeout.InfiniteTimeSpan));
        }
        _acceptLoop = AcceptLoopAsync();
    }

    public LinkProfile Profile { get; }

    public EndPoint Target { get; }

    public int Seed { get; }

    /// <summary>Where devices connect instead of the target.</summary>
    public IPEndPoint EndPoint { get; }

    public int Port => EndPoint.Port;

    /// <summary>Time since the start the outage schedule counts from, on the injected clock.</summary>
    public TimeSpan SinceStart => _time.GetElapsedTime(_startTimestamp);

    public bool IsDown => Profile.IsDown(SinceStart, out _);

    public LinkCounters Counters => new(
        Interlocked.Read(ref _connectionCount),
        _connections.Count,
        Interlocked.Read(ref _resets),
        Interlocked.Read(ref _cuts),
        Interlocked.Read(ref _refused),
        Interlocked.Read(ref _bytesUp),
        Interlocked.Read(ref _bytesDown));

    /// <summary>
    /// Raised synchronously on the proxy's own tasks (and, for outages and timed resets, on the clock's timer
    /// callback): keep handlers short. An exception from a handler is ignored so it cannot break the link.
    /// </summary>
    public event Action<LinkEvent>? Observed;

    internal TimeProvider Time => _time;

    internal CancellationToken Stopping => _stopping.Token;

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException && _stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionAborted or SocketError.ConnectionReset)
            {
                continue; // the client gave up between SYN and accept; nothing to forward
            }
            catch (SocketException)
            {
                // Out of descriptors or buffers: back off on the real clock (this is not link time) instead of spinning.
                await Task.Delay(TimeSpan.FromMilliseconds(50)).ConfigureAwait(false);
                continue;
            }

            long id = Interlocked.Increment(ref _sequence);
            if (IsDown)
            {
                Interlocked.Increment(ref _refused);
                Abort(client);
                Raise(new LinkEvent(LinkEventKind.RefusedDuringOutage, id));
                continue;
            }
            ProxiedConnection connection;
            try
            {
                connection = new ProxiedConnection(this, id, client, ConnectionPlan.For(Profile.Resets, Seed, id));
            }
            catch (SocketException)
            {
                // No socket for the far side (out of descriptors): the device sees a reset and retries, as it would
                // on a congested link; the proxy keeps accepting.
                Abort(client);
                Raise(new LinkEvent(LinkEventKind.Closed, id));
                await Task.Delay(TimeSpan.FromMilliseconds(50)).ConfigureAwait(false);
                continue;
            }
            Interlocked.Increment(ref _connectionCount);
            _connections[id] = connection;
            Raise(new LinkEvent(LinkEventKind.Accepted, id));
            // An outage may have begun between the check above and the registration: its cut missed this one.
            if (IsDown) connection.Abort(LinkEventKind.CutByOutage);
            connection.Start();
        }
    }

    /// <summary>True if <paramref name="target"/> is this proxy's own listener (the port on loopback or any address).</summary>
    private bool IsSelf(EndPoint target) =>
        target is IPEndPoint ip && ip.Port == EndPoint.Port
        && (ip.Address.Equals(EndPoint.Address) || EndPoint.Address.Equals(IPAddress.Any) || IPAddress.IsLoopback(ip.Address) && IPAddress.IsLoopback(EndPoint.Address));

    private void CutAll()
    {
        foreach (var connection in _connections.Values) connection.Abort(LinkEventKind.CutByOutage);
    }

    internal void CountReset() => Interlocked.Increment(ref _resets);

    internal void CountCut() => Interlocked.Increment(ref _cuts);

    internal void CountDelivered(LinkDirection direction, int bytes) =>
        Interlocked.Add(ref direction == LinkDirection.Up ? ref _bytesUp : ref _bytesDown, bytes);

    internal void Forget(long id) => _connections.TryRemove(id, out _);

    internal void Raise(LinkEvent e)
    {
        try
        {
            Observed?.Invoke(e);
        }
        catch (Exception)
        {
            // An observer's bug must not change what the link does.
        }
    }

    /// <summary>Closes abruptly: linger 0 makes the close send an RST instead of a FIN, as a dropped link does.</summary>
    internal static void Abort(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already closed by the other end: disposing is all that is left.
        }
        socket.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested) return;
        _stopping.Cancel();
        _listener.Dispose();
        foreach (var timer in _outageTimers) await timer.DisposeAsync().ConfigureAwait(false);
        await _acceptLoop.ConfigureAwait(false);
        var open = _connections.Values.ToList();
        foreach (var connection in open) connection.Abort(LinkEventKind.Closed);
        await Task.WhenAll(open.Select(c => c.Completion)).ConfigureAwait(false);
        _stopping.Dispose();
    }
}
