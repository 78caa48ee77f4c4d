using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal.Interop;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal;

/// <summary>A connection on a raw non-blocking fd, owned by one <see cref="EpollReactor"/>.</summary>
internal sealed class EpollConnection : ReactorConnection, IEpollHandler
{
    private readonly EpollReactor _reactor;
    private ulong _token;
    private LeasedSocket _socket;

    public EpollConnection(int fd, EpollReactor reactor, ConnectionSettings settings, EndPoint? localEndPoint, EndPoint? remoteEndPoint)
        : base(reactor, settings, localEndPoint, remoteEndPoint)
    {
        _reactor = reactor;
        _socket = new LeasedSocket(fd, settings.FileDescriptors);
    }

    /// <summary>The connection's socket, for tests and diagnostics that inspect it (socket options, say).</summary>
    internal int FileDescriptor => _socket.Fd;

    void IEpollHandler.OnEpollEvents(int events)
    {
        // Error and hang-up count as both readable and writable: the next recv or send reports what happened.
        bool failed = (events & (EpollApi.Error | EpollApi.HangUp)) != 0;
        if (failed || (events & (EpollApi.In | EpollApi.ReadHangUp)) != 0)
        {
            OnReadable(peerClosed: failed || (events & EpollApi.ReadHangUp) != 0);
        }
        if (failed || (events & EpollApi.Out) != 0)
        {
            OnWritable();
        }
    }

    protected override SocketError RegisterWithReactor() =>
        _reactor.Register(_socket.Fd, EpollApi.In | EpollApi.Out | EpollApi.ReadHangUp, this, out _token);

    // Readiness: every operation is tried at once and never submitted (no Pending).
    protected override IoStart StartReceive(Memory<byte> buffer, out IoResult result)
    {
        SocketError error = SocketApi.Receive(_socket.Fd, buffer.Span, out int received);
        result = new IoResult(received, error);
        return result.AnswerNow;
    }

    protected override IoStart StartSend(in ReadOnlySequence<byte> buffer, out IoResult result) => _socket.Send(buffer, out result);

    protected override void CloseSocket(bool reset)
    {
        if (reset)
        {
            _ = SocketApi.SetAbortiveClose(_socket.Fd);
        }
        else
        {
            _ = SocketApi.ShutdownBoth(_socket.Fd);
        }
        _reactor.Forget(_token);
        _socket.MarkClosed();
    }
}
