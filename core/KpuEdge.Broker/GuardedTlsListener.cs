using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using MQTTnet.Adapter;
using MQTTnet.Diagnostics.Logger;
using MQTTnet.Formatter;
using MQTTnet.Implementations;
using MQTTnet.Server;

namespace KpuEdge.Broker;

/// <summary>
/// The broker's TLS listener, in place of MQTTnet's own (which binds IPv6 besides the address asked for, never times a
/// TLS handshake out, admits any number of connections and sizes a packet's buffer by whatever length it declares):
/// binds exactly one address; admits a connection only within <see cref="ConnectionGate"/>'s bounds; gives its
/// handshake <see cref="BrokerLimits.HandshakeTimeout"/>; then hands MQTTnet a <see cref="PacketLimitChannel"/>. An
/// accept that fails (out of file descriptors) is reported and retried after a pause; it never ends the listener.
/// </summary>
public sealed class GuardedTlsListener : IMqttServerAdapter
{
    private readonly IPEndPoint _endpoint;
    private readonly X509Certificate2 _certificate;
    private readonly Func<X509Certificate?, IPEndPoint, bool> _validateClient;
    private readonly BrokerLimits _limits;
    private readonly TimeProvider _time;
    private readonly Action<BrokerRefusal> _refused;
    private readonly Action<EndPoint, Exception> _failed;
    private readonly CancellationTokenSource _stopping = new();
    private Socket? _socket;
    private Task _accepting = Task.CompletedTask;
    private MqttServerOptions? _serverOptions;
    private IMqttNetLogger _logger = MqttNetNullLogger.Instance;

    /// <param name="validateClient">Checks a client's certificate during the handshake (null: none presented), knowing its source.</param>
    /// <param name="failed">An unexpected failure handling one connection (logged by the host; the listener goes on).</param>
    public GuardedTlsListener(IPEndPoint endpoint, X509Certificate2 certificate, Func<X509Certificate?, IPEndPoint, bool> validateClient,
        BrokerLimits limits, TimeProvider time, Action<BrokerRefusal> refused, Action<EndPoint, Exception> failed)
    {
        if (!certificate.HasPrivateKey) throw new ArgumentException("The broker's TLS certificate comes with its private key.", nameof(certificate));
        _endpoint = endpoint;
        _certificate = certificate;
        _validateClient = validateClient;
        _limits = limits;
        _time = time;
        _refused = refused;
        _failed = failed;
        Gate = new ConnectionGate(limits);
    }

    public Func<IMqttChannelAdapter, Task>? ClientHandler { get; set; }

    public ConnectionGate Gate { get; }

    /// <summary>Where it listens (the port is known once started, also when 0 was asked for).</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint?)_socket?.LocalEndPoint ?? _endpoint;

    public Task StartAsync(MqttServerOptions options, IMqttNetLogger logger)
    {
        _serverOptions = options;
        _logger = logger;
        var socket = new Socket(_endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // A restarted broker takes its port back at once, while connections of the last run linger in TIME_WAIT.
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            // Exactly the address asked for: an IPv6 socket serves IPv6 only, never IPv4 through mapped addresses.
            if (_endpoint.AddressFamily == AddressFamily.InterNetworkV6) socket.DualMode = false;
            socket.Bind(_endpoint);
            socket.Listen(512);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        _socket = socket;
        _accepting = Task.Run(() => AcceptAsync(socket, _stopping.Token));
        return Task.CompletedTask;
    }

    private async Task AcceptAsync(Socket listener, CancellationToken stopping)
    {
        var pause = TimeSpan.FromMilliseconds(50);
        while (!stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(stopping);
                pause = TimeSpan.FromMilliseconds(50);
            }
            catch (OperationCanceledException) { break; }
            catch (ObjectDisposedException) { break; }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.OperationAborted or SocketError.ConnectionAborted or SocketError.ConnectionReset)
            {
                continue; // the peer gave up before we took it
            }
            catch (Exception e)
            {
                // Out of file descriptors or memory for sockets: refuse by not accepting for a moment, say so, keep going.
                Report(BrokerRefusalKinds.AcceptFailed, null, null, null, $"Accepting a connection failed ({e.Message}); new connections wait {pause.TotalMilliseconds:0} ms.");
                try { await Task.Delay(pause, _time, stopping); }
                catch (OperationCanceledException) { break; }
                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.FromSeconds(2).Ticks));
                continue;
            }
            _ = Task.Run(() => HandleAsync(client, stopping), CancellationToken.None);
        }
    }

    private async Task HandleAsync(Socket socket, CancellationToken stopping)
    {
        var source = socket.RemoteEndPoint as IPEndPoint;
        if (source is null)
        {
            socket.Dispose();
            return;
        }
        var address = source.Address.IsIPv4MappedToIPv6 ? source.Address.MapToIPv4() : source.Address;
        if (Gate.TryEnter(address) is { } full)
        {
            socket.LingerState = new LingerOption(true, 0); // RST: nothing of it is kept
            socket.Dispose();
            Report(BrokerRefusalKinds.ConnectionLimit, source, null, null, $"Connection from {source} closed at once: {full}.");
            return;
        }
        bool handshaking = true;
        SslStream? ssl = null;
        try
        {
            socket.NoDelay = true;
            ssl = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false,
                (_, certificate, _, _) => _validateClient(certificate, source));
            using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(stopping))
            {
                // On the broker's clock (a test's fake one included): a handshake that has not finished by then is cut.
                using var timer = _time.CreateTimer(_ => TryCancel(deadline), null, _limits.HandshakeTimeout, Timeout.InfiniteTimeSpan);
                try
                {
                    await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                    {
                        ServerCertificate = _certificate,
                        ClientCertificateRequired = true,
                        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                        EncryptionPolicy = EncryptionPolicy.RequireEncryption,
                    }, deadline.Token);
                }
                catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
                {
                    Report(BrokerRefusalKinds.HandshakeTimeout, source, null, null,
                        $"Connection from {source} did not finish its TLS handshake within {_limits.HandshakeTimeout.TotalSeconds:0} s.");
                    return;
                }
            }
            Gate.HandshakeOver(address);
            handshaking = false;
            if (ClientHandler is not { } handler || _serverOptions is null) return;
            var certificate = ssl.RemoteCertificate as X509Certificate2
                              ?? (ssl.RemoteCertificate is { } other ? X509CertificateLoader.LoadCertificate(other.Export(X509ContentType.Cert)) : null);
            var channel = new PacketLimitChannel(new MqttTcpChannel(ssl, _endpoint, source, certificate!), _limits,
                refused => Report(BrokerRefusalKinds.PacketTooLarge, source, null, null, refused.Message));
            var formatter = new MqttPacketFormatterAdapter(new MqttBufferWriter(_serverOptions.WriterBufferSize, _serverOptions.WriterBufferSizeMax));
            using var adapter = new MqttChannelAdapter(channel, formatter, _logger);
            await handler(adapter);
        }
        catch (Exception e) when (e is AuthenticationException or IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // A refused certificate (reported by the validation), a peer that went away, a broker stopping: nothing to add.
        }
        catch (Exception e)
        {
            _failed(source, e);
        }
        finally
        {
            if (handshaking) Gate.HandshakeOver(address);
            Gate.Leave(address);
            if (ssl is not null) await ssl.DisposeAsync();
            else socket.Dispose();
        }
    }

    private static void TryCancel(CancellationTokenSource source)
    {
        try { source.Cancel(); }
        catch (ObjectDisposedException) { }
    }

    private void Report(string kind, IPEndPoint? source, string? clientId, string? claimed, string detail) =>
        _refused(new BrokerRefusal { Kind = kind, Ts = _time.GetUtcNow(), Source = source, ClientId = clientId, ClaimedName = claimed, Detail = detail });

    public async Task StopAsync()
    {
        await _stopping.CancelAsync();
        _socket?.Dispose();
        await _accepting;
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _socket?.Dispose();
        _stopping.Dispose();
    }
}
