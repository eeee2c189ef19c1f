using MQTTnet;

namespace KpuEdge.Broker;

/// <summary>
/// Socket buffers of our MQTT clients. MQTTnet sets a client socket's send and receive buffers to 8 KB unless told
/// otherwise, which also switches off the kernel's window autotuning: a connection can then never have more than
/// ~16 KB on the way. On a satellite link (600 ms round trip) that caps a device at ~25 KB/s however fast the link;
/// on the cloud's ingest connection, which carries every form in and every receipt out, one stall (a garbage
/// collection, a busy core) left the kernel pruning a full 16 KB receive queue and acknowledging late, and the
/// national run fell from 2,700 to 150 forms/s for minutes after the stall had passed.
/// </summary>
public static class ClientSockets
{
    /// <summary>The cloud's ingest: thousands of forms and receipts a second over one connection.</summary>
    public const int IngestBufferBytes = 4 * 1024 * 1024;

    /// <summary>A device or PPK station: a full window of photo chunks across a satellite round trip.</summary>
    public const int DeviceBufferBytes = 512 * 1024;

    /// <summary>Sets the socket buffers of a TCP client's options (options of another transport are left as they are).</summary>
    public static MqttClientOptions WithSocketBuffers(this MqttClientOptions options, int bytes)
    {
        if (options.ChannelOptions is MqttClientTcpOptions tcp) tcp.BufferSize = bytes;
        return options;
    }
}
