using System.Net;
using System.Net.Sockets;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal.Interop;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal;

/// <summary>
/// The epoll side of a listener: the listening fd registered edge-triggered with the accept reactor, and an
/// <see cref="EpollConnection"/> made from each accepted fd.
/// </summary>
internal sealed class EpollAcceptor(EpollListenSocket listenSocket, ConnectionSettings settings)
    : AcceptedFdListenSocket(listenSocket, settings), IEpollHandler
{
    private EpollReactor? _reactor;
    private Action? _connectionsWaiting;
    private ulong _token;

    public override SocketError Register(ReactorLoop reactor, Action connectionsWaiting)
    {
        _reactor = (EpollReactor)reactor;
        _connectionsWaiting = connectionsWaiting;
        return _reactor.Register(ListenFd, EpollApi.In, this, out _token);
    }

    // Edge-triggered: one report per burst of clients, which the accept loop drains itself.
    void IEpollHandler.OnEpollEvents(int events) => _connectionsWaiting?.Invoke();

    protected override ReactorConnection CreateConnection(int fd, ReactorLoop reactor, ConnectionSettings settings, EndPoint? localEndPoint,
        EndPoint? remoteEndPoint) =>
        new EpollConnection(fd, (EpollReactor)reactor, settings, localEndPoint, remoteEndPoint);

    protected override void Unregister() => _reactor?.Unregister(ListenFd, _token);
}
