using System.Net;
using System.Net.Sockets;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal.Interop;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal;

/// <summary>A descriptor accept4 returned, with its peer's address; no connection owns it yet.</summary>
internal readonly record struct AcceptedFd(int Fd, EndPoint? RemoteEndPoint);

/// <summary>
/// A listener on a raw fd (<see cref="IListenSocket{TAccepted}"/>): accept4 on Kestrel's accept loop, the options
/// and endpoints of each accepted fd, and the backlog reading; a backend adds how the accept reactor learns of
/// clients and the connection it makes. The accept loop, its back-off and the fd reserve are the core's
/// (<see cref="ReactorConnectionListener{TAccepted}"/>).
/// </summary>
internal abstract class AcceptedFdListenSocket(EpollListenSocket listenSocket, ConnectionSettings settings) : IListenSocket<AcceptedFd>
{
    private readonly FileDescriptorHandle _handle = listenSocket.Handle;
    // Accept loop only: whether accepted sockets come with TCP_NODELAY from the listening socket.
    private NoDelaySource _noDelay;

    private enum NoDelaySource
    {
        NotYetChecked,
        Inherited,
        SetPerConnection,
    }

    public EndPoint EndPoint => listenSocket.EndPoint;

    /// <summary>The listening fd, valid until <see cref="Close"/>; the accept reactor registers it.</summary>
    protected int ListenFd => _handle.DangerousGetFd();

    public abstract SocketError Register(ReactorLoop reactor, Action connectionsWaiting);

    // Registered edge-triggered (or multishot), for good: every arrival is reported, waiting or not.
    public void WatchForConnections()
    {
    }

    public SocketError TryAccept(out AcceptedFd accepted, out int fd)
    {
        SocketError error = Accept(out fd, out EndPoint? remoteEndPoint);
        accepted = new AcceptedFd(fd, remoteEndPoint);
        return error;
    }

    public ReactorConnection CreateConnection(AcceptedFd accepted, ReactorLoop reactor)
    {
        if (settings.NoDelay && listenSocket.IsIP)
        {
            ApplyNoDelay(accepted.Fd);
        }
        EndPoint? localEndPoint = listenSocket.AcceptedLocalEndPoint() ?? SocketApi.GetLocalEndPoint(accepted.Fd);
        return CreateConnection(accepted.Fd, reactor, settings, localEndPoint, accepted.RemoteEndPoint);
    }

    /// <summary>The backend's connection on an accepted fd, which it owns from now on.</summary>
    protected abstract ReactorConnection CreateConnection(int fd, ReactorLoop reactor, ConnectionSettings settings, EndPoint? localEndPoint,
        EndPoint? remoteEndPoint);

    public void CloseUnowned(AcceptedFd accepted) => _ = SocketApi.Close(accepted.Fd);

    public void Close()
    {
        Unregister();
        listenSocket.Close();
    }

    /// <summary>Ends the accept reactor's watch on the listening fd, which is still open. Accept reactor thread.</summary>
    protected abstract void Unregister();

    /// <summary>
    /// TCP_NODELAY on an accepted socket. Linux copies it from the listening socket, on which the transport sets
    /// it when it binds; the first connection shows whether that holds here (an inherited listener, from systemd
    /// say, is never changed and may lack it), and only where it does not is it set on every connection.
    /// </summary>
    private void ApplyNoDelay(int fd)
    {
        if (_noDelay == NoDelaySource.NotYetChecked)
        {
            _noDelay = SocketApi.GetNoDelay(fd, out bool inherited) == SocketError.Success && inherited
                ? NoDelaySource.Inherited
                : NoDelaySource.SetPerConnection;
        }
        if (_noDelay == NoDelaySource.SetPerConnection)
        {
            _ = SocketApi.SetNoDelay(fd);
        }
    }

    bool IListenBacklog.TryRead(out int queued, out int limit)
    {
        queued = limit = 0;
        if (!listenSocket.IsIP)
        {
            return false; // a Unix socket has no tcp_info; its clients see EAGAIN when its backlog is full
        }
        Span<byte> info = stackalloc byte[TcpListenQueue.InfoLength];
        bool added = false;
        try
        {
            // Held, as for accept: an unbind closing the socket meanwhile must not let this reach a reused fd.
            _handle.DangerousAddRef(ref added);
            return SocketApi.GetTcpInfo(_handle.DangerousGetFd(), info, out int length) == SocketError.Success
                && TcpListenQueue.TryParse(info[..length], out queued, out limit);
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
        }
    }

    bool IListenBacklog.TryRefuseOne()
    {
        // The accepted fd lives for two syscalls, within the reserve it was kept for.
        if (Accept(out int fd, out _) != SocketError.Success)
        {
            return false;
        }
        _ = SocketApi.SetAbortiveClose(fd);
        _ = SocketApi.Close(fd);
        return true;
    }

    private SocketError Accept(out int fd, out EndPoint? remoteEndPoint)
    {
        bool added = false;
        try
        {
            // Held for the call: an unbind closing the socket meanwhile must not let accept reach a reused fd.
            _handle.DangerousAddRef(ref added);
            return SocketApi.Accept(_handle.DangerousGetFd(), out fd, out remoteEndPoint);
        }
        catch (ObjectDisposedException)
        {
            fd = -1;
            remoteEndPoint = null;
            return SocketError.OperationAborted;
        }
        finally
        {
            if (added)
            {
                _handle.DangerousRelease();
            }
        }
    }
}
