using System.Net;
using System.Net.Sockets;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;
using Reactors.AspNetCore.Server.Kestrel.Transport.IoUring.Internal.Interop;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.IoUring.Internal;

/// <summary>
/// The io_uring side of a listener: a multishot poll on the accept reactor's ring reports clients (edge-triggered,
/// like epoll's registration), Kestrel's accept loop accepts them with accept4, and each becomes an
/// <see cref="IoUringConnection"/>.
/// </summary>
/// <remarks>
/// Not multishot accept: it would accept on the reactor whether or not the accept loop wants more, past the fd
/// reserve at which the loop pauses and refuses clients; the accept loop pulls, one accept4 per client, as with epoll.
/// </remarks>
internal sealed class IoUringAcceptor(EpollListenSocket listenSocket, ConnectionSettings settings)
    : AcceptedFdListenSocket(listenSocket, settings), IIoUringHandler
{
    private IoUringReactor? _reactor;
    private Action? _connectionsWaiting;
    private ulong _token;
    private bool _closed;

    public override SocketError Register(ReactorLoop reactor, Action connectionsWaiting)
    {
        _reactor = (IoUringReactor)reactor;
        _connectionsWaiting = connectionsWaiting;
        _token = _reactor.Register(this);
        _reactor.SubmitPoll(ListenFd, _token);
        return SocketError.Success;
    }

    void IIoUringHandler.OnCompletion(OperationKind kind, int result, uint flags)
    {
        if ((flags & IoUringAbi.CqeMore) == 0 && !_closed && result >= 0)
        {
            // The kernel ended the poll (it may, when completions back up): watch again before a client arrives
            // unseen. An error ends the watch for good; the accept loop meets it in its next accept4.
            _reactor!.SubmitPoll(ListenFd, _token);
        }
        _connectionsWaiting?.Invoke();
    }

    protected override ReactorConnection CreateConnection(int fd, ReactorLoop reactor, ConnectionSettings settings, EndPoint? localEndPoint,
        EndPoint? remoteEndPoint) =>
        new IoUringConnection(fd, (IoUringReactor)reactor, settings, localEndPoint, remoteEndPoint);

    protected override void Unregister()
    {
        if (_reactor is null || _closed)
        {
            return;
        }
        _closed = true;
        // The poll holds the socket open in the kernel until it ends: cancel it; its last completion finds no handler.
        _reactor.SubmitCancel(IoUringReactor.UserData(_token, OperationKind.Poll));
        _reactor.Unregister(_token);
    }
}
