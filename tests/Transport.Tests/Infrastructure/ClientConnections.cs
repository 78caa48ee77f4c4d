using System.Net;
using System.Net.Sockets;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;

/// <summary>
/// How every client of the suite connects: one place that picks the socket for the endpoint, bounds the connect
/// and disposes the socket when it fails; also as <see cref="SocketsHttpHandler.ConnectCallback"/>s for HTTP
/// clients that must see or choose their socket.
/// </summary>
internal static class ClientConnections
{
    /// <summary>
    /// A connected socket: TCP with Nagle off for an IP or DNS endpoint, a stream socket for a Unix domain socket.
    /// Bounded by <paramref name="timeout"/> (the suite's default when null) and <paramref name="cancellationToken"/>.
    /// </summary>
    public static async Task<Socket> ConnectSocketAsync(EndPoint endPoint, TimeSpan? timeout = null, Action<Socket>? beforeConnect = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        var socket = endPoint switch
        {
            UnixDomainSocketEndPoint => new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified),
            IPEndPoint ip => new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true },
            // A host name: a dual-mode socket reaches it over IPv6 or IPv4, whichever it resolves to.
            _ => new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true },
        };
        try
        {
            // Some options only take full effect before the handshake (a receive buffer sets the window scale).
            beforeConnect?.Invoke(socket);
            await socket.ConnectAsync(endPoint, cancellationToken).AsTask().WithTimeout(timeout);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Connects over TCP; <paramref name="connected"/> gets the socket, e.g. to count or reset it later.</summary>
    public static async ValueTask<Stream> ConnectTcpAsync(DnsEndPoint endPoint, Action<Socket>? connected, CancellationToken cancellationToken)
    {
        var socket = await ConnectSocketAsync(endPoint, cancellationToken: cancellationToken);
        connected?.Invoke(socket);
        return new NetworkStream(socket, ownsSocket: true);
    }

    /// <summary>Connects to a Unix domain socket, whatever host the request names.</summary>
    public static async ValueTask<Stream> ConnectUnixAsync(string path, CancellationToken cancellationToken) =>
        new NetworkStream(await ConnectSocketAsync(new UnixDomainSocketEndPoint(path), cancellationToken: cancellationToken), ownsSocket: true);
}
