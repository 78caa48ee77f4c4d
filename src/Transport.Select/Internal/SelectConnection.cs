using System.Buffers;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Select.Internal;

/// <summary>
/// A connection on a non-blocking <see cref="Socket"/>, owned by one <see cref="SelectReactor"/>. Only the
/// synchronous, non-throwing <c>Receive/Send(..., out SocketError)</c> overloads are used: any async Socket API
/// would start .NET's own epoll/kqueue engine beside the reactors.
/// </summary>
internal sealed class SelectConnection : ReactorConnection, ISelectHandler
{
    // Segments per gathered send: 64 blocks of 4 KiB exceed a typical socket send buffer.
    public const int MaxSegments = 64;

    // Scratch for gathering the segments of one send, per thread: the reactor and thread-pool threads send.
    [ThreadStatic]
    private static List<ArraySegment<byte>>? t_sendSegments;

    private readonly SelectReactor _reactor;
    private readonly SelectRegistration _registration;
    private readonly FileDescriptorBudget _fileDescriptors;

    public SelectConnection(Socket socket, SelectReactor reactor, ConnectionSettings settings)
        : base(reactor, settings, socket.LocalEndPoint, socket.RemoteEndPoint)
    {
        Socket = socket;
        _reactor = reactor;
        _registration = new SelectRegistration(socket, this);
        _fileDescriptors = settings.FileDescriptors;
    }

    public Socket Socket { get; }

    void ISelectHandler.OnSelectReadable() => OnReadable(peerClosed: false);

    void ISelectHandler.OnSelectWritable() => OnWritable();

    private SelectInterest Interest =>
        (IsWaitingForReadable ? SelectInterest.Read : SelectInterest.None) |
        (IsWaitingForWritable ? SelectInterest.Write : SelectInterest.None);

    protected override SocketError RegisterWithReactor()
    {
        _reactor.Register(_registration, Interest);
        return SocketError.Success;
    }

    // After the close both are false, and the unregistered connection is watched for nothing.
    protected override void OnWaitingForSocketChanged() => _reactor.Watch(_registration, Interest);

    // Readiness: every operation is tried at once and never submitted (no Pending).
    protected override IoStart StartReceive(Memory<byte> buffer, out IoResult result)
    {
        int received = Socket.Receive(buffer.Span, SocketFlags.None, out SocketError error);
        result = new IoResult(received, error);
        return result.AnswerNow;
    }

    protected override IoStart StartSend(in ReadOnlySequence<byte> buffer, out IoResult result)
    {
        try
        {
            result = SendGathered(buffer);
        }
        catch (ObjectDisposedException)
        {
            // Closed by the reactor while a thread-pool thread was sending. The Socket's handle keeps the fd safe
            // (its Dispose waits for a send in progress, a non-blocking one, so briefly).
            result = IoResult.Failed(SocketError.OperationAborted);
        }
        return result.AnswerNow;
    }

    private IoResult SendGathered(in ReadOnlySequence<byte> buffer)
    {
        List<ArraySegment<byte>> segments = t_sendSegments ??= new List<ArraySegment<byte>>(MaxSegments);
        SequencePosition position = buffer.Start;
        long total = 0;

        while (true)
        {
            segments.Clear();
            long batchLength = 0;
            while (segments.Count < MaxSegments && buffer.TryGet(ref position, out ReadOnlyMemory<byte> memory))
            {
                if (memory.IsEmpty)
                {
                    continue;
                }
                if (!MemoryMarshal.TryGetArray(memory, out ArraySegment<byte> array))
                {
                    // Memory not backed by an array (a native pool): send what is gathered, then this one alone.
                    IoResult gathered = SendSegments(segments, batchLength, ref total);
                    if (!gathered.IsSuccess)
                    {
                        return gathered;
                    }
                    segments.Clear();
                    batchLength = 0;
                    int sent = Socket.Send(memory.Span, SocketFlags.None, out SocketError error);
                    if (error != SocketError.Success)
                    {
                        return new IoResult(total, error);
                    }
                    total += sent;
                    if (sent < memory.Length)
                    {
                        return new IoResult(total, SocketError.WouldBlock);
                    }
                    continue;
                }
                segments.Add(array);
                batchLength += array.Count;
            }
            if (segments.Count == 0)
            {
                return IoResult.Done(total);
            }
            IoResult result = SendSegments(segments, batchLength, ref total);
            if (!result.IsSuccess)
            {
                return result;
            }
        }
    }

    private IoResult SendSegments(List<ArraySegment<byte>> segments, long batchLength, ref long total)
    {
        if (segments.Count == 0)
        {
            return IoResult.Done(total);
        }
        int sent = Socket.Send(segments, SocketFlags.None, out SocketError error);
        segments.Clear();
        if (error != SocketError.Success)
        {
            return new IoResult(total, error);
        }
        total += sent;
        // A short send means the socket buffer is full; another call now would only report WouldBlock.
        return sent < batchLength ? new IoResult(total, SocketError.WouldBlock) : IoResult.Done(total);
    }

    protected override void CloseSocket(bool reset)
    {
        _reactor.Unregister(_registration);
        try
        {
            if (reset)
            {
                Socket.LingerState = new LingerOption(true, 0);
            }
            else
            {
                Socket.Shutdown(SocketShutdown.Both);
            }
        }
        catch (SocketException)
        {
            // Already reset by the peer: there is nothing left to shut down.
        }
        Socket.Dispose();
        _fileDescriptors.OnClosed();
    }
}
