using System.Net;
using System.Net.Sockets;
using KpuEdge.TestSupport.LocalServices;

namespace KpuEdge.TestSupport.Tests;

public sealed class FreePortsTests
{
    [Fact]
    public void Gives_a_port_a_server_can_bind_on_127_0_0_1()
    {
        int port = FreePorts.OnLoopback();

        using var listener = new TcpListener(IPAddress.Loopback, port);
        listener.Start();
        Assert.InRange(port, 1, 65535);
    }
}
