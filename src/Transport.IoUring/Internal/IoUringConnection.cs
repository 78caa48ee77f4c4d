using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal.Interop;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;
using Reactors.AspNetCore.Server.Kestrel.Transport.IoUring.Internal.Interop;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.IoUring.Internal;

/// <summary>
/// A connection on a raw fd whose operations are submitted to its <see cref="IoUringReactor"/>'s ring: one multishot
/// receive into the reactor's provided buffers while the application keeps up, and one send of the output's
/// pinned segments at a time. A thread-pool thread that flushed and is not to hand its output to the reactor
/// (ReactorConnection.Send.cs decides) sends directly (non-blocking sendmsg), as with epoll: it cannot submit to a
/// ring that only its reactor's thread may use.
/// </summary>
/// <remarks>
/// The fd is closed only once nothing can reach it any more: no operation in flight on the ring (their last
/// completions come after <see cref="CloseSocket"/> asked them to end) and no thread-pool send inside it
/// (<see cref="LeasedSocket"/>); the token is released with it, so a completion never reaches a reused fd or
/// another connection.
/// </remarks>
internal sealed class IoUringConnection : ReactorConnection, IIoUringHandler
{
    private readonly IoUringReactor _reactor;
    private ulong _token;
    private LeasedSocket _socket;
    // Reactor thread only: the operations in flight, and how far closing is.
    private bool _receiving;
    private PinnedSend? _sending;
    private bool _closeRequested;
    private bool _released;

    public IoUringConnection(int fd, IoUringReactor reactor, ConnectionSettings settings, EndPoint? localEndPoint, EndPoint? remoteEndPoint)
        : base(reactor, settings, localEndPoint, remoteEndPoint)
    {
        _reactor = reactor;
        _socket = new LeasedSocket(fd, settings.FileDescriptors);
    }

    /// <summary>The connection's socket, for tests and diagnostics that inspect it.</summary>
    internal int FileDescriptor => _socket.Fd;

    /// <summary>What the connection's reactor has counted, for tests that look at one server's reactor alone.</summary>
    internal ReactorCounters ReactorCounters => _reactor.Counters;

    protected override bool SubmitsOperations => true;

    protected override bool DeliversReceivedBytes => true;

    protected override bool BatchesSendsOnReactor => true;

    protected override SocketError RegisterWithReactor()
    {
        _token = _reactor.Register(this);
        return SocketError.Success;
    }

    protected override IoStart StartReceive(Memory<byte> buffer, out IoResult result)
    {
        result = default;
        _reactor.SubmitReceive(_socket.Fd, _token);
        _receiving = true;
        return IoStart.Pending;
    }

    protected override void CancelReceive()
    {
        if (_receiving)
        {
            _reactor.SubmitCancel(IoUringReactor.UserData(_token, OperationKind.Receive));
        }
    }

    protected override IoStart StartSend(in ReadOnlySequence<byte> buffer, out IoResult result)
    {
        if (!_reactor.IsCurrentThread)
        {
            return _socket.Send(buffer, out result); // direct and non-blocking: only the reactor submits
        }
        if (buffer.IsEmpty)
        {
            result = IoResult.Done(0);
            return IoStart.Completed;
        }
        PinnedSend send = _reactor.RentSend();
        send.Pin(buffer);
        _reactor.SubmitSend(_socket.Fd, _token, send);
        _sending = send;
        result = default;
        return IoStart.Pending;
    }

    void IIoUringHandler.OnCompletion(OperationKind kind, int result, uint flags)
    {
        if (kind == OperationKind.Receive)
        {
            OnReceiveCompletion(result, flags);
        }
        else
        {
            OnSendCompletion(result);
        }
        ReleaseWhenIdle();
    }

    private void OnReceiveCompletion(int result, uint flags)
    {
        bool more = (flags & IoUringAbi.CqeMore) != 0;
        if (!more)
        {
            _receiving = false; // before the core hears of it: it may submit the next receive at once
        }
        if ((flags & IoUringAbi.CqeBuffer) != 0)
        {
            ushort id = (ushort)(flags >> IoUringAbi.CqeBufferShift);
            try
            {
                if (result > 0)
                {
                    OnReceived(_reactor.Buffers.Received(id, result));
                }
            }
            finally
            {
                _reactor.Buffers.Return(id);
            }
        }
        if (more)
        {
            return;
        }
        if (result > 0)
        {
            IoUringEvents.OnReceiveEndedEarly();
        }
        else if (result == -LinuxError.ENOBUFS)
        {
            IoUringEvents.OnReceiveOutOfBuffers();
        }
        OnReceiveCompleted(result switch
        {
            // A multishot receive may end after delivering (the kernel decides, e.g. when completions back up):
            // the core submits the next one, as after running out of buffers.
            > 0 => IoResult.Failed(SocketError.Interrupted),
            0 => IoResult.Done(0),
            -LinuxError.ENOBUFS => IoResult.Failed(SocketError.Interrupted),
            -Errno.ECANCELED => IoResult.Failed(SocketError.OperationAborted),
            _ => IoResult.Failed(LinuxError.ToSocketError(-result)),
        });
    }

    private void OnSendCompletion(int result)
    {
        PinnedSend? send = _sending;
        if (send is null)
        {
            throw new InvalidOperationException("A send completion came for a connection with no send in flight.");
        }
        _sending = null;
        if (result >= 0 && result < send.Length)
        {
            IoUringEvents.OnShortSend();
            _reactor.Counters.OnSendFoundBufferFull();
        }
        _reactor.ReturnSend(send);
        OnSendCompleted(result switch
        {
            >= 0 => IoResult.Done(result),
            -Errno.ECANCELED => IoResult.Failed(SocketError.OperationAborted),
            _ => IoResult.Failed(LinuxError.ToSocketError(-result)),
        });
    }

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
        if (_receiving)
        {
            _reactor.SubmitCancel(IoUringReactor.UserData(_token, OperationKind.Receive));
        }
        if (_sending is not null)
        {
            _reactor.SubmitCancel(IoUringReactor.UserData(_token, OperationKind.Send));
        }
        _closeRequested = true;
        ReleaseWhenIdle();
    }

    /// <summary>After the close, once the last operation has completed: the token goes, and the fd with the last user.</summary>
    private void ReleaseWhenIdle()
    {
        if (!_closeRequested || _released || _receiving || _sending is not null)
        {
            return;
        }
        _released = true;
        _reactor.Unregister(_token);
        _socket.MarkClosed();
    }
}
