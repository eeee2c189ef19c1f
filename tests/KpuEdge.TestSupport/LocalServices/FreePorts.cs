using System.Net;
using System.Net.Sockets;

namespace KpuEdge.TestSupport.LocalServices;

/// <summary>Free TCP ports on the loopback address, for servers that a test or the simulator starts.</summary>
public static class FreePorts
{
    /// <summary>
    /// A TCP port free on 127.0.0.1 when asked (the kernel picks it). Another process may take it before the caller
    /// binds it, so a server started on it should be retried on another when its bind fails, as
    /// <see cref="LocalPostgres"/> and <see cref="LocalRedis"/> do.
    /// </summary>
    public static int OnLoopback()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
