using System.Net;
using System.Net.Sockets;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Select.Internal;

/// <summary>
/// The select side of a listener (<see cref="IListenSocket{TAccepted}"/>): the listening socket in the accept
/// reactor's select set while the accept loop waits for a client, <c>Socket.Accept</c>, and the
/// <see cref="SelectConnection"/> made from each accepted socket. The accept loop, its back-off and the fd reserve
/// are the core's (<see cref="ReactorConnectionListener{TAccepted}"/>), so accepting runs on Kestrel's accept loop,
/// never on a reactor shared with connections.
/// </summary>
internal sealed class SelectAcceptor : IListenSocket<Socket>, ISelectHandler
{
    // On the accept reactor: watch the socket until it reports a client.
    private static readonly Action<object?> s_watch = static state =>
    {
        var acceptor = (SelectAcceptor)state!;
        if (acceptor._registration.IsRegistered)
        {
            acceptor._reactor!.Watch(acceptor._registration, SelectInterest.Read);
        }
    };

    private readonly Socket _socket;
    private readonly ConnectionSettings _settings;
    private readonly SelectRegistration _registration;
    private SelectReactor? _reactor;
    private Action? _connectionsWaiting;

    public SelectAcceptor(Socket socket, ConnectionSettings settings)
    {
        _socket = socket;
        _settings = settings;
        _registration = new SelectRegistration(socket, this);
        EndPoint = socket.LocalEndPoint!;
    }

    public EndPoint EndPoint { get; }

    public SocketError Register(ReactorLoop reactor, Action connectionsWaiting)
    {
        _reactor = (SelectReactor)reactor;
        _connectionsWaiting = connectionsWaiting;
        // Not watched yet: the accept loop's first accept comes before any wait.
        _reactor.Register(_registration, SelectInterest.None);
        return SocketError.Success;
    }

    // Level-triggered: watched only from here until the next report, so that a backlog the accept loop is not
    // waiting for (it is busy, paused at the fd reserve, or backing off) is not reported at every select.
    public void WatchForConnections() => _reactor!.Schedule(s_watch, this);

    void ISelectHandler.OnSelectReadable()
    {
        _reactor!.Watch(_registration, SelectInterest.None);
        _connectionsWaiting?.Invoke();
    }

    void ISelectHandler.OnSelectWritable()
    {
    }

    public SocketError TryAccept(out Socket accepted, out int fd)
    {
        // The budget counts by number where it can read the fd; Socket does not say it portably.
        fd = -1;
        try
        {
            accepted = _socket.Accept();
            return SocketError.Success;
        }
        catch (SocketException ex)
        {
            accepted = null!;
            return ex.SocketErrorCode;
        }
        catch (ObjectDisposedException)
        {
            accepted = null!;
            return SocketError.OperationAborted; // unbound meanwhile
        }
    }

    public ReactorConnection CreateConnection(Socket accepted, ReactorLoop reactor)
    {
        accepted.Blocking = false;
        if (_settings.NoDelay && accepted.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)
        {
            accepted.NoDelay = true;
        }
        return new SelectConnection(accepted, (SelectReactor)reactor, _settings);
    }

    public void CloseUnowned(Socket accepted) => accepted.Dispose();

    public void Close()
    {
        _reactor?.Unregister(_registration);
        _socket.Dispose();
    }

    bool IListenBacklog.TryRead(out int queued, out int limit)
    {
        queued = limit = 0;
        if (!OperatingSystem.IsLinux() || _socket.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            return false; // only Linux reports the accept queue, and only for TCP
        }
        Span<byte> info = stackalloc byte[TcpListenQueue.InfoLength];
        try
        {
            int length = _socket.GetRawSocketOption(TcpListenQueue.OptionLevel, TcpListenQueue.OptionName, info);
            return TcpListenQueue.TryParse(info[..length], out queued, out limit);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    bool IListenBacklog.TryRefuseOne()
    {
        // The accepted socket lives for two calls, within the reserve it was kept for.
        if (TryAccept(out Socket refused, out _) != SocketError.Success)
        {
            return false;
        }
        using (refused)
        {
            refused.LingerState = new LingerOption(true, 0);
        }
        return true;
    }
}
