using System.Buffers;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using MQTTnet.Channel;

namespace KpuEdge.Broker;

/// <summary>A packet declared more bytes than the broker takes: the connection is closed before the body is read.</summary>
public sealed class PacketTooLargeException(string message) : IOException(message);

/// <summary>
/// A client's MQTT channel that reads each packet's fixed header as the bytes go by and refuses — before the body is
/// read or any buffer is sized for it — a packet declaring more than its bound: the first packet (CONNECT) at most
/// <see cref="BrokerLimits.MaxConnectPacketBytes"/>, every later one at most <see cref="BrokerLimits.MaxPacketBytes"/>.
/// MQTTnet's server allocates a packet's whole declared length (up to 256 MB) before reading it; this is where that stops.
/// </summary>
public sealed class PacketLimitChannel(IMqttChannel inner, BrokerLimits limits, Action<PacketTooLargeException> onRefused) : IMqttChannel
{
    // Where we are in the byte stream: at a fixed header's first byte, inside its remaining-length varint, or in a body.
    private bool _inLength;
    private int _lengthBytes, _multiplier = 1, _declared;
    private long _bodyLeft;
    private int _packets;
    private byte _type;

    public X509Certificate2 ClientCertificate => inner.ClientCertificate;
    public EndPoint RemoteEndPoint => inner.RemoteEndPoint;
    public EndPoint LocalEndPoint => inner.LocalEndPoint;
    public bool IsSecureConnection => inner.IsSecureConnection;

    public Task ConnectAsync(CancellationToken cancellationToken) => inner.ConnectAsync(cancellationToken);

    public Task DisconnectAsync(CancellationToken cancellationToken) => inner.DisconnectAsync(cancellationToken);

    public Task WriteAsync(ReadOnlySequence<byte> buffer, bool isEndOfPacket, CancellationToken cancellationToken) =>
        inner.WriteAsync(buffer, isEndOfPacket, cancellationToken);

    public async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        int read = await inner.ReadAsync(buffer, offset, count, cancellationToken);
        Inspect(buffer.AsSpan(offset, read));
        return read;
    }

    private void Inspect(ReadOnlySpan<byte> bytes)
    {
        for (int i = 0; i < bytes.Length;)
        {
            if (_bodyLeft > 0)
            {
                int skip = (int)Math.Min(_bodyLeft, bytes.Length - i);
                _bodyLeft -= skip;
                i += skip;
                continue;
            }
            byte b = bytes[i++];
            if (!_inLength)
            {
                _type = (byte)(b >> 4);
                _inLength = true;
                _lengthBytes = 0;
                _multiplier = 1;
                _declared = 0;
                continue;
            }
            _declared += (b & 0x7F) * _multiplier;
            _multiplier *= 128;
            _lengthBytes++;
            if ((b & 0x80) != 0 && _lengthBytes < 4) continue;
            // The remaining length is known (or malformed: MQTTnet refuses a fifth length byte itself).
            _inLength = false;
            int limit = _packets++ == 0 ? limits.MaxConnectPacketBytes : limits.MaxPacketBytes;
            long packet = 1 + _lengthBytes + (long)_declared;
            if (packet > limit)
            {
                var refused = new PacketTooLargeException(
                    $"{PacketName(_type)} packet declares {packet} bytes; this broker takes at most {limit}{(limit == limits.MaxConnectPacketBytes && _packets == 1 ? " for CONNECT" : "")}.");
                onRefused(refused);
                throw refused;
            }
            _bodyLeft = _declared;
        }
    }

    private static string PacketName(byte type) => type switch
    {
        1 => "CONNECT", 3 => "PUBLISH", 8 => "SUBSCRIBE", 10 => "UNSUBSCRIBE", 15 => "AUTH", _ => $"type {type}",
    };

    public void Dispose() => inner.Dispose();
}
