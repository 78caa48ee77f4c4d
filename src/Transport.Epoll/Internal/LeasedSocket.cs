using System.Buffers;
using System.Net.Sockets;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal.Interop;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal;

/// <summary>
/// A connection's socket fd that thread-pool threads send on directly while its reactor may close it: each send
/// holds the <see cref="FileDescriptorLease"/>, and the fd is closed, and given back to the budget, by whichever
/// finishes last of the closer and the senders. Held as a field of the connection (a mutable struct).
/// </summary>
internal struct LeasedSocket(int fd, FileDescriptorBudget fileDescriptors)
{
    private readonly int _fd = fd;
    private readonly FileDescriptorBudget _fileDescriptors = fileDescriptors;
    private FileDescriptorLease _lease;

    /// <summary>The fd, for the reactor's own calls on it (it alone closes it, through <see cref="MarkClosed"/>).</summary>
    public readonly int Fd => _fd;

    /// <summary>A non-blocking gathered send, from any thread; fails with OperationAborted once the fd is closing.</summary>
    public IoStart Send(in ReadOnlySequence<byte> buffer, out IoResult result)
    {
        if (!_lease.TryAcquire())
        {
            result = IoResult.Failed(SocketError.OperationAborted); // closed by the reactor meanwhile
            return IoStart.Completed;
        }
        try
        {
            result = GatheredSend.Send(_fd, buffer);
        }
        finally
        {
            if (_lease.Release())
            {
                Close();
            }
        }
        return result.AnswerNow;
    }

    /// <summary>Forbids new sends; closes the fd now, or the last sender still inside it does.</summary>
    public void MarkClosed()
    {
        if (_lease.MarkClosed())
        {
            Close();
        }
    }

    private readonly void Close()
    {
        _ = SocketApi.Close(_fd);
        _fileDescriptors.OnClosed();
    }
}
