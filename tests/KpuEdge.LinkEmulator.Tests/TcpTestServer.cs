using System.Net;
using System.Net.Sockets;

namespace KpuEdge.LinkEmulator.Tests;

/// <summary>
/// A real TCP server on 127.0.0.1 standing in for the broker: it records every byte it receives and, as an echo
/// server, sends each back, so a test sees both directions of the link.
/// </summary>
internal sealed class TcpTestServer : IAsyncDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly MemoryStream _received = new();
    private readonly List<(long Bytes, TaskCompletionSource Done)> _waiters = [];
    private readonly List<Socket> _connections = [];
    private readonly bool _echo;
    private readonly Task _accepting;

    private TcpTestServer(bool echo)
    {
        _echo = echo;
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(128);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        _accepting = AcceptAsync();
    }

    public static TcpTestServer Echo() => new(echo: true);

    public static TcpTestServer Sink() => new(echo: false);

    public IPEndPoint EndPoint { get; }

    public long ReceivedCount
    {
        get
        {
            lock (_gate) return _received.Length;
        }
    }

    /// <summary>Everything received, connection after connection (tests with one connection read it as one stream).</summary>
    public byte[] Received
    {
        get
        {
            lock (_gate) return _received.ToArray();
        }
    }

    public Task WhenReceivedAsync(long bytes)
    {
        lock (_gate)
        {
            if (_received.Length >= bytes) return Task.CompletedTask;
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((bytes, done));
            return done.Task.WaitAsync(Bounds.Wait);
        }
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var socket = await _listener.AcceptAsync(_stop.Token);
                lock (_gate) _connections.Add(socket);
                _ = ServeAsync(socket);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                int read = await socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (read == 0)
                {
                    socket.Shutdown(SocketShutdown.Send);
                    return;
                }
                Record(buffer.AsSpan(0, read));
                if (_echo) await socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // The link reset us: that is what several tests are about.
        }
    }

    private void Record(ReadOnlySpan<byte> bytes)
    {
        List<TaskCompletionSource> ready = [];
        lock (_gate)
        {
            _received.Write(bytes);
            foreach (var w in _waiters.Where(w => _received.Length >= w.Bytes).ToList())
            {
                _waiters.Remove(w);
                ready.Add(w.Done);
            }
        }
        foreach (var done in ready) done.TrySetResult();
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        await _accepting;
        lock (_gate)
        {
            foreach (var s in _connections) s.Dispose();
        }
        _stop.Dispose();
    }
}

/// <summary>The device's side: a plain socket, as the MQTT client has.</summary>
internal static class Client
{
    public static async Task<Socket> ConnectAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endPoint).WaitAsync(Bounds.Wait);
        return socket;
    }

    /// <summary>
    /// True if a connection attempt ends without a byte: the reset can beat the connect's completion (the connect
    /// then fails) or come just after it (the first read ends).
    /// </summary>
    public static async Task<bool> IsRefusedAsync(IPEndPoint endPoint)
    {
        Socket socket;
        try
        {
            socket = await ConnectAsync(endPoint);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused)
        {
            return true;
        }
        using (socket)
        {
            var (bytes, _) = await ReceiveUntilClosedAsync(socket);
            return bytes.Length == 0;
        }
    }

    public static async Task SendAsync(Socket socket, ReadOnlyMemory<byte> bytes)
    {
        for (int sent = 0; sent < bytes.Length;)
        {
            sent += await socket.SendAsync(bytes[sent..], SocketFlags.None).AsTask().WaitAsync(Bounds.Wait);
        }
    }

    public static async Task<byte[]> ReceiveExactlyAsync(Socket socket, int count)
    {
        var bytes = new byte[count];
        for (int got = 0; got < count;)
        {
            int read = await socket.ReceiveAsync(bytes.AsMemory(got), SocketFlags.None).AsTask().WaitAsync(Bounds.Wait);
            if (read == 0) throw new EndOfStreamException($"Closed after {got} of {count} bytes.");
            got += read;
        }
        return bytes;
    }

    /// <summary>Reads until the connection ends; says whether it ended with a reset rather than an orderly close.</summary>
    public static async Task<(byte[] Bytes, bool WasReset)> ReceiveUntilClosedAsync(Socket socket)
    {
        var all = new MemoryStream();
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                int read = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Bounds.Wait);
                if (read == 0) return (all.ToArray(), false);
                all.Write(buffer, 0, read);
            }
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
        {
            return (all.ToArray(), true);
        }
    }
}
