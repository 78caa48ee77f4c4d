using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Select.Internal;

/// <summary>
/// A non-blocking listening <see cref="Socket"/> made from any endpoint Kestrel can ask for: bound here for an IP
/// or Unix domain socket endpoint, adopted for a <see cref="FileHandleEndPoint"/> (systemd, <c>ListenHandle</c>).
/// </summary>
internal static class SelectListenSocket
{
    /// <summary>Binds and listens synchronously, so that errors surface from BindAsync and port 0 is resolved.</summary>
    public static Socket Bind(EndPoint endPoint, ListenSettings settings)
    {
        Socket socket = endPoint switch
        {
            FileHandleEndPoint inherited => Adopt(inherited),
            _ => new Socket(endPoint.AddressFamily, SocketType.Stream,
                endPoint.AddressFamily == AddressFamily.Unix ? ProtocolType.Unspecified : ProtocolType.Tcp),
        };
        try
        {
            if (endPoint is not FileHandleEndPoint)
            {
                BindNew(socket, endPoint, settings);
            }
            // Listening again on a listening inherited socket only updates its backlog.
            socket.Listen(settings.Backlog);
            socket.Blocking = false;
            return socket;
        }
        catch
        {
            // For an inherited fd this only releases the Socket object: it does not own the fd.
            socket.Dispose();
            throw;
        }
    }

    private static void BindNew(Socket socket, EndPoint endPoint, ListenSettings settings)
    {
        if (endPoint is IPEndPoint ip && ip.Address.Equals(IPAddress.IPv6Any))
        {
            // [::] serves IPv4 too, as with Kestrel's Sockets transport.
            socket.DualMode = true;
        }
        if (settings.ReusePort && endPoint is IPEndPoint)
        {
            SetReusePort(socket, endPoint);
        }
        try
        {
            // .NET sets SO_REUSEADDR itself on Unix (never SO_REUSEPORT), exactly as for Kestrel's Sockets
            // transport, so a restarted server rebinds at once and another process cannot share the port. A Unix
            // socket file that exists is never removed (it may belong to a running server); .NET deletes the
            // file it created when the socket is disposed.
            socket.Bind(endPoint);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw ListenErrors.AddressInUse(endPoint, ex);
        }
        // Before listen, so no client connects through the umask's mode; an abstract socket has no file.
        if (settings.UnixSocketFileMode is { } mode && endPoint is UnixDomainSocketEndPoint unix && UnixSocketFiles.PathOf(unix) is { } path)
        {
            UnixSocketFiles.ApplyMode(path, mode, endPoint);
        }
        // Other SocketExceptions propagate as they are: not IOExceptions, so Kestrel's localhost and any-IP
        // fallbacks keep working on hosts without IPv6.
    }

    /// <summary>
    /// SO_REUSEPORT, which .NET has no name for: its level and number differ between Linux and the BSD family.
    /// </summary>
    private static void SetReusePort(Socket socket, EndPoint endPoint)
    {
        (int level, int name) = OperatingSystem.IsLinux() ? (1, 15) // SOL_SOCKET, SO_REUSEPORT
            : OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() ? (0xFFFF, 0x200)
            : throw new PlatformNotSupportedException(
                $"ReusePort cannot be applied to {endPoint}: this operating system has no SO_REUSEPORT. Leave the option off here.");
        socket.SetRawSocketOption(level, name, BitConverter.GetBytes(1));
    }

    /// <summary>
    /// Wraps a socket the process inherited (systemd, <c>ListenHandle</c>) without owning it: disposing the
    /// listener never closes the handle, which belongs to whoever passed it.
    /// </summary>
    private static Socket Adopt(FileHandleEndPoint endPoint)
    {
        var handle = new SafeSocketHandle(checked((nint)endPoint.FileHandle), ownsHandle: false);
        try
        {
            var socket = new Socket(handle);
            if (socket.SocketType != SocketType.Stream)
            {
                // .NET wraps any fd without complaint; a type it cannot read means the fd is no socket at all.
                var type = socket.SocketType;
                socket.Dispose();
                throw new NotSupportedException(type == SocketType.Unknown
                    ? ListenErrors.HandleNotASocket(endPoint.FileHandle)
                    : ListenErrors.HandleNotAStreamSocket(endPoint.FileHandle));
            }
            return socket;
        }
        catch (SocketException ex)
        {
            throw new SocketException((int)ex.SocketErrorCode,
                $"File handle {endPoint.FileHandle} cannot be used as a listening socket: {ex.Message}. Pass the handle of a bound stream socket (ListenHandle, or a systemd socket unit with ListenStream=).");
        }
    }
}
