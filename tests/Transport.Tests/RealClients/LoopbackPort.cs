using System.Net;
using System.Net.Sockets;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.RealClients;

/// <summary>Ports for programs that take no port 0 (nginx, systemd-socket-activate).</summary>
internal static class LoopbackPort
{
    /// <summary>
    /// A TCP port on 127.0.0.1 that was free a moment ago. Another process can take it before the program binds
    /// it, so callers try again with a new one when the bind fails with "Address already in use".
    /// </summary>
    public static int FindFree()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }
}
