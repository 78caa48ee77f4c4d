using System.Buffers;
using System.Net.Sockets;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;
using Reactors.AspNetCore.Server.Kestrel.Transport.Select;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.ReactorCore;

/// <summary>
/// A <see cref="ReactorConnection"/> on a fake completion backend, to prove the operation-level seam before a real
/// ring exists: every receive and every send the reactor starts is submitted (<see cref="IoStart.Pending"/>) and
/// stays in flight, owning its buffer, until the test completes it, the way a ring's completion queue would; a
/// close only asks the operations to end. Delivering mode receives into a fake provided-buffer ring of its own and
/// hands the bytes over through <c>OnReceived</c>, counting every buffer taken from and given back to the ring.
/// </summary>
internal sealed class CompletionConnection : ReactorConnection
{
    private const int RingBufferSize = 64;

    private readonly ScriptedReactor _reactor;
    private readonly bool _delivers;
    private readonly Lock _lock = new();
    private readonly MemoryStream _sent = new();
    private readonly Stack<byte[]> _ring = new();
    private Memory<byte> _receiveBuffer;
    private ReadOnlySequence<byte> _sendBuffer;

    public CompletionConnection(ScriptedReactor reactor, bool delivers = false, long? maxReadBufferSize = null)
        : base(reactor, Settings(maxReadBufferSize), localEndPoint: null, remoteEndPoint: null)
    {
        _reactor = reactor;
        _delivers = delivers;
        for (int i = 0; i < 4; i++)
        {
            _ring.Push(new byte[RingBufferSize]);
        }
        Start();
    }

    public int ReceivesStarted { get; private set; }

    public int ReceiveCancels { get; private set; }

    public int SendsStarted { get; private set; }

    public bool ReceiveInFlight { get; private set; }

    public bool SendInFlight { get; private set; }

    /// <summary>Buffers taken from the fake provided-buffer ring, and given back to it.</summary>
    public int RingBuffersTaken { get; private set; }

    public int RingBuffersReturned { get; private set; }

    /// <summary>Calls that broke the seam's rules: a second operation started while one was in flight, a start off the reactor.</summary>
    public int ContractViolations { get; private set; }

    public int CloseCalls { get; private set; }

    public TaskCompletionSource<bool> Closed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public byte[] SentBytes
    {
        get
        {
            lock (_lock)
            {
                return _sent.ToArray();
            }
        }
    }

    /// <summary>Bytes offered to the send in flight (owned by the "kernel" until it completes).</summary>
    public long InFlightSendLength { get; private set; }

    protected override bool SubmitsOperations => true;

    protected override bool DeliversReceivedBytes => _delivers;

    protected override SocketError RegisterWithReactor() => SocketError.Success;

    protected override IoStart StartReceive(Memory<byte> buffer, out IoResult result)
    {
        result = default;
        if (ReceiveInFlight || !_reactor.IsCurrentThread || (_delivers && !buffer.IsEmpty))
        {
            ContractViolations++;
        }
        ReceiveInFlight = true;
        ReceivesStarted++;
        _receiveBuffer = buffer;
        return IoStart.Pending;
    }

    protected override void CancelReceive()
    {
        if (!ReceiveInFlight)
        {
            ContractViolations++;
        }
        ReceiveCancels++;
    }

    protected override IoStart StartSend(in ReadOnlySequence<byte> buffer, out IoResult result)
    {
        if (!_reactor.IsCurrentThread)
        {
            // A thread-pool thread that flushed: a direct, non-blocking send, never an operation.
            Write(buffer);
            result = IoResult.Done(buffer.Length);
            return IoStart.Completed;
        }
        if (SendInFlight)
        {
            ContractViolations++;
        }
        SendInFlight = true;
        SendsStarted++;
        _sendBuffer = buffer;
        InFlightSendLength = buffer.Length;
        result = default;
        return IoStart.Pending;
    }

    protected override void CloseSocket(bool reset)
    {
        CloseCalls++;
        Closed.TrySetResult(reset);
    }

    /// <summary>The receive in flight wrote <paramref name="data"/> into the pipe memory it owns (empty: the FIN) and completes.</summary>
    public Task CompleteReceiveAsync(byte[] data) => _reactor.RunAsync(() =>
    {
        TakeReceive();
        data.CopyTo(_receiveBuffer.Span);
        _receiveBuffer = default;
        OnReceiveCompleted(IoResult.Done(data.Length));
    });

    /// <summary>The receive in flight ends with <paramref name="error"/> (OperationAborted: the cancellation asked for).</summary>
    public Task FailReceiveAsync(SocketError error) => _reactor.RunAsync(() =>
    {
        TakeReceive();
        _receiveBuffer = default;
        OnReceiveCompleted(IoResult.Failed(error));
    });

    /// <summary>The delivering receive in flight took a ring buffer, received <paramref name="data"/> into it and hands it over.</summary>
    public Task DeliverAsync(byte[] data) => _reactor.RunAsync(() =>
    {
        if (!ReceiveInFlight || data.Length > RingBufferSize)
        {
            ContractViolations++;
        }
        byte[] buffer = _ring.Pop();
        RingBuffersTaken++;
        data.CopyTo(buffer, 0);
        OnReceived(buffer.AsSpan(0, data.Length));
        // The core copied it: the buffer goes straight back to the ring.
        Array.Clear(buffer);
        _ring.Push(buffer);
        RingBuffersReturned++;
    });

    /// <summary>The send in flight took <paramref name="bytes"/> (null: all it was offered) or failed, and completes.</summary>
    public Task CompleteSendAsync(long? bytes = null, SocketError error = SocketError.Success) => _reactor.RunAsync(() =>
    {
        if (!SendInFlight)
        {
            ContractViolations++;
        }
        SendInFlight = false;
        long taken = error == SocketError.Success ? bytes ?? _sendBuffer.Length : 0;
        Write(_sendBuffer.Slice(0, taken));
        _sendBuffer = default;
        OnSendCompleted(error == SocketError.Success ? IoResult.Done(taken) : IoResult.Failed(error));
    });

    private void TakeReceive()
    {
        if (!ReceiveInFlight)
        {
            ContractViolations++;
        }
        ReceiveInFlight = false;
    }

    private void Write(in ReadOnlySequence<byte> bytes)
    {
        lock (_lock)
        {
            foreach (ReadOnlyMemory<byte> segment in bytes)
            {
                _sent.Write(segment.Span);
            }
        }
    }

    private static ConnectionSettings Settings(long? maxReadBufferSize)
    {
        var options = new SelectTransportOptions();
        if (maxReadBufferSize is not null)
        {
            options.MaxReadBufferSize = maxReadBufferSize;
        }
        return new ConnectionSettings(options);
    }
}
