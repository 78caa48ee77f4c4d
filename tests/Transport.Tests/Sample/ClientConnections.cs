using System.Net;
using System.Net.Sockets;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Sample;

/// <summary><see cref="SocketsHttpHandler.ConnectCallback"/>s for clients that must see or choose their socket.</summary>
internal static class ClientConnections
{
    /// <summary>Connects over TCP; <paramref name="connected"/> gets the socket, e.g. to count or reset it later.</summary>
    public static ValueTask<Stream> ConnectTcpAsync(DnsEndPoint endPoint, Action<Socket>? connected, CancellationToken cancellationToken) =>
        ConnectAsync(new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true }, endPoint, connected, cancellationToken);

    /// <summary>Connects to a Unix domain socket, whatever host the request names.</summary>
    public static ValueTask<Stream> ConnectUnixAsync(string path, CancellationToken cancellationToken) =>
        ConnectAsync(new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified), new UnixDomainSocketEndPoint(path), null, cancellationToken);

    private static async ValueTask<Stream> ConnectAsync(Socket socket, EndPoint endPoint, Action<Socket>? connected, CancellationToken cancellationToken)
    {
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken);
            connected?.Invoke(socket);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
