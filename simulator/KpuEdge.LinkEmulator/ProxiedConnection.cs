using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace KpuEdge.LinkEmulator;

/// <summary>
/// One device connection through a <see cref="LinkProxy"/>. Each direction is a reader that paces bytes into the
/// link (token bucket) and stamps when each piece may arrive (now + latency ± jitter, never before the previous
/// piece), and a writer that releases the pieces at those times: a delay line that keeps order.
/// </summary>
internal sealed class ProxiedConnection
{
    private enum PieceKind { Data, EndOfStream, Reset }

    private readonly record struct Piece(PieceKind Kind, byte[]? Data, TimeSpan Release);

    // Bounded so a fast sender into an unlimited, delayed link cannot queue without end: at most this many
    // reads are in flight per direction, and the sender's TCP window does the rest.
    private const int PiecesInFlight = 64;
    private const int ReadSize = 16 * 1024;

    private readonly LinkProxy _proxy;
    private readonly Socket _client;
    private readonly Socket _upstream;
    private readonly ConnectionPlan _plan;
    private readonly CancellationTokenSource _cancel;
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _gate = new();
    private ITimer? _resetTimer;
    private long _carried;
    private int _closed;

    public ProxiedConnection(LinkProxy proxy, long id, Socket client, ConnectionPlan plan)
    {
        _proxy = proxy;
        Id = id;
        _client = client;
        _plan = plan;
        _upstream = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        _client.NoDelay = true; // the delay is ours to add, not Nagle's
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(proxy.Stopping);
    }

    public long Id { get; }

    public Task Completion => _completion.Task;

    public void Start() => _ = RunAsync();

    /// <summary>Kills both sides with an RST; false if the connection was already closing.</summary>
    public bool Abort(LinkEventKind why)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return false;
        // Counted before the RST goes out, so whoever sees the reset also sees it counted.
        if (why == LinkEventKind.Reset) _proxy.CountReset();
        if (why == LinkEventKind.CutByOutage) _proxy.CountCut();
        lock (_gate) _cancel.Cancel(); // not while RunAsync disposes it
        LinkProxy.Abort(_client);
        LinkProxy.Abort(_upstream);
        if (why is LinkEventKind.Reset or LinkEventKind.CutByOutage) _proxy.Raise(new LinkEvent(why, Id));
        return true;
    }

    private async Task RunAsync()
    {
        try
        {
            if (_plan.ResetAfter is { } after)
            {
                _resetTimer = _proxy.Time.CreateTimer(_ => ResetNow(), null, after, Timeout.InfiniteTimeSpan);
            }
            try
            {
                await _upstream.ConnectAsync(_proxy.Target, _cancel.Token).ConfigureAwait(false);
                // TCP can connect a socket to itself when nothing listens on a local target port and the kernel
                // happens to pick that port as the source: that is no far end at all.
                if (_upstream.LocalEndPoint is IPEndPoint local && local.Equals(_upstream.RemoteEndPoint))
                {
                    throw new SocketException((int)SocketError.ConnectionRefused);
                }
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
            {
                Abort(LinkEventKind.Closed); // the device sees its connection reset, as if the far end were gone
                return;
            }
            await Task.WhenAll(
                PumpAsync(LinkDirection.Up, _client, _upstream),
                PumpAsync(LinkDirection.Down, _upstream, _client)).ConfigureAwait(false);

            if (Interlocked.Exchange(ref _closed, 1) == 0)
            {
                // Both ends said goodbye (FIN each way) and the link delivered it: an orderly close.
                _client.Dispose();
                _upstream.Dispose();
            }
        }
        finally
        {
            Abort(LinkEventKind.Closed); // a no-op unless something unexpected ended the run with the sockets open
            if (_resetTimer is not null) await _resetTimer.DisposeAsync().ConfigureAwait(false);
            lock (_gate) _cancel.Dispose();
            _proxy.Forget(Id);
            _proxy.Raise(new LinkEvent(LinkEventKind.Closed, Id));
            _completion.TrySetResult();
        }
    }

    private void ResetNow() => Abort(LinkEventKind.Reset);

    private async Task PumpAsync(LinkDirection direction, Socket from, Socket to)
    {
        var line = Channel.CreateBounded<Piece>(new BoundedChannelOptions(PiecesInFlight) { SingleReader = true, SingleWriter = true });
        await Task.WhenAll(ReadAsync(direction, from, line.Writer), WriteAsync(direction, to, line.Reader)).ConfigureAwait(false);
    }

    private async Task ReadAsync(LinkDirection direction, Socket from, ChannelWriter<Piece> line)
    {
        var token = _cancel.Token;
        var profile = _proxy.Profile;
        var random = Randomness.For(_proxy.Seed, Id, Randomness.StreamFor(direction));
        var bucket = profile.BytesPerSecond(direction) is { } rate
            ? new TokenBucket(rate, profile.BurstFor(rate), _proxy.SinceStart)
            : null;
        int pieceSize = bucket?.PieceSize ?? ReadSize;
        var buffer = new byte[ReadSize];
        var lastRelease = TimeSpan.Zero;

        TimeSpan ReleaseTime()
        {
            double spread = profile.Jitter.Ticks * (2 * random.NextDouble() - 1);
            var arrives = _proxy.SinceStart + TimeSpan.FromTicks(Math.Max(0, profile.Latency.Ticks + (long)spread));
            // The line is FIFO, so a piece never overtakes the one before; monotonic stamps make that explicit.
            lastRelease = arrives > lastRelease ? arrives : lastRelease;
            return lastRelease;
        }

        try
        {
            while (true)
            {
                int read = await from.ReceiveAsync(buffer, SocketFlags.None, token).ConfigureAwait(false);
                if (read == 0)
                {
                    await line.WriteAsync(new Piece(PieceKind.EndOfStream, null, ReleaseTime()), token).ConfigureAwait(false);
                    return;
                }
                for (int offset = 0; offset < read;)
                {
                    int length = Math.Min(pieceSize, read - offset);
                    bool resetAfter = false;
                    if (_plan.ResetAfterBytes is { } limit)
                    {
                        long carried = Interlocked.Add(ref _carried, length);
                        if (carried - length >= limit) return; // the other direction reached the limit first
                        if (carried >= limit)
                        {
                            length -= (int)(carried - limit); // the link dies in the middle of this piece
                            resetAfter = true;
                        }
                    }
                    if (bucket is not null) await bucket.TakeAsync(length, () => _proxy.SinceStart, _proxy.Time, token).ConfigureAwait(false);
                    var piece = buffer.AsSpan(offset, length).ToArray();
                    var release = ReleaseTime();
                    await line.WriteAsync(new Piece(PieceKind.Data, piece, release), token).ConfigureAwait(false);
                    _proxy.Raise(new LinkEvent(LinkEventKind.Received, Id, direction, length));
                    if (resetAfter)
                    {
                        await line.WriteAsync(new Piece(PieceKind.Reset, null, release), token).ConfigureAwait(false);
                        return;
                    }
                    offset += length;
                }
            }
        }
        catch (Exception)
        {
            // The sender reset its end, we are closing, or something broke: pass a reset on rather than a clean
            // end, and never leave a half-dead connection holding its device.
            Abort(LinkEventKind.Closed);
        }
        finally
        {
            line.TryComplete();
        }
    }

    private async Task WriteAsync(LinkDirection direction, Socket to, ChannelReader<Piece> line)
    {
        var token = _cancel.Token;
        try
        {
            await foreach (var piece in line.ReadAllAsync(token).ConfigureAwait(false))
            {
                await ClockWait.UntilAsync(_proxy.Time, () => _proxy.SinceStart, piece.Release, token).ConfigureAwait(false);
                switch (piece.Kind)
                {
                    case PieceKind.Data:
                        // Counted before sending, so an end that has the bytes also finds them counted.
                        _proxy.CountDelivered(direction, piece.Data!.Length);
                        for (int sent = 0; sent < piece.Data.Length;)
                        {
                            sent += await to.SendAsync(piece.Data.AsMemory(sent), SocketFlags.None, token).ConfigureAwait(false);
                        }
                        _proxy.Raise(new LinkEvent(LinkEventKind.Delivered, Id, direction, piece.Data.Length));
                        break;
                    case PieceKind.EndOfStream:
                        to.Shutdown(SocketShutdown.Send);
                        return;
                    case PieceKind.Reset:
                        ResetNow();
                        return;
                }
            }
        }
        catch (Exception)
        {
            Abort(LinkEventKind.Closed); // as in ReadAsync: any failure ends the connection with a reset
        }
    }
}
