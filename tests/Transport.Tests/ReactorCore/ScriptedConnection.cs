using System.Buffers;
using System.Net.Sockets;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;
using Reactors.AspNetCore.Server.Kestrel.Transport.Select;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.ReactorCore;

/// <summary>
/// A <see cref="ReactorConnection"/> whose "socket" is a script: bytes the test queued come in, a capacity the
/// test sets decides how much a send takes, and every call is recorded with the thread it ran on.
/// </summary>
internal sealed class ScriptedConnection : ReactorConnection
{
    private readonly ScriptedReactor _reactor;
    private readonly Lock _lock = new();
    private readonly Queue<byte[]> _incoming = new();
    private readonly List<SendCall> _sends = [];
    private readonly MemoryStream _sent = new();
    private long _sendCapacity = long.MaxValue;
    private bool _closed;
    private int _receiveCalls;

    public ScriptedConnection(ScriptedReactor reactor, long? maxReadBufferSize = null, long? maxWriteBufferSize = null, bool inlineScheduling = false)
        : base(reactor, Settings(maxReadBufferSize, maxWriteBufferSize, inlineScheduling), localEndPoint: null, remoteEndPoint: null)
    {
        _reactor = reactor;
        Start();
    }

    /// <summary>Whether the backend says its reactor sends more cheaply than a pool thread (a ring does). Set before any flush.</summary>
    public bool BatchesSends { get; set; }

    protected override bool BatchesSendsOnReactor => BatchesSends;

    /// <summary>What the send held by <see cref="SendGate"/> returns once released (null: it sends as usual).</summary>
    public SocketError? GatedSendError { get; set; }

    /// <summary>Blocks the next send until set, to hold a thread inside <see cref="Send"/>.</summary>
    public ManualResetEventSlim? SendGate { get; set; }

    /// <summary>Set when a send has entered and is waiting at <see cref="SendGate"/>.</summary>
    public TaskCompletionSource SendEntered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource<bool> Closed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int CloseCalls { get; private set; }

    public int ReceiveCalls => Volatile.Read(ref _receiveCalls);

    public IReadOnlyList<SendCall> Sends
    {
        get
        {
            lock (_lock)
            {
                return [.. _sends];
            }
        }
    }

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

    /// <summary>Bytes the socket still takes before it reports WouldBlock.</summary>
    public long SendCapacity
    {
        set
        {
            lock (_lock)
            {
                _sendCapacity = value;
            }
        }
    }

    public void QueueIncoming(byte[] data)
    {
        lock (_lock)
        {
            _incoming.Enqueue(data);
        }
    }

    /// <summary>The peer's FIN, after what was queued before it.</summary>
    public void QueueFin() => QueueIncoming([]);

    /// <summary>The poller reports readability (posted to the reactor, as a real poller's event would run there).</summary>
    public Task SignalReadableAsync() => _reactor.RunAsync(() => OnReadable(peerClosed: false));

    public Task SignalWritableAsync() => _reactor.RunAsync(OnWritable);

    /// <summary>
    /// What a level-triggered backend would be watching: readable and writable as reported at registration and by
    /// every <see cref="OnWaitingForSocketChanged"/> since. Reactor thread only.
    /// </summary>
    public (bool Readable, bool Writable) Watched { get; private set; }

    /// <summary>Reports of <see cref="OnWaitingForSocketChanged"/> made off the reactor thread: a bug, the backend is not thread-safe.</summary>
    public int OffReactorWatchChanges { get; private set; }

    /// <summary>Whether the connection is waiting for the socket in each direction now. Reactor thread only.</summary>
    public (bool Readable, bool Writable) WaitingForSocket => (IsWaitingForReadable, IsWaitingForWritable);

    protected override SocketError RegisterWithReactor()
    {
        Watched = WaitingForSocket;
        return SocketError.Success;
    }

    protected override void OnWaitingForSocketChanged()
    {
        if (!_reactor.IsCurrentThread)
        {
            OffReactorWatchChanges++;
        }
        Watched = WaitingForSocket;
    }

    protected override IoStart StartReceive(Memory<byte> buffer, out IoResult result)
    {
        result = Receive(buffer.Span);
        return result.AnswerNow;
    }

    protected override IoStart StartSend(in ReadOnlySequence<byte> buffer, out IoResult result)
    {
        result = Send(buffer);
        return result.AnswerNow;
    }

    private IoResult Receive(Span<byte> buffer)
    {
        Interlocked.Increment(ref _receiveCalls);
        lock (_lock)
        {
            if (!_incoming.TryPeek(out byte[]? next))
            {
                return IoResult.Failed(SocketError.WouldBlock);
            }
            if (next.Length == 0)
            {
                return IoResult.Done(0); // FIN, and it stays: a socket keeps reporting end of stream
            }
            int count = Math.Min(next.Length, buffer.Length);
            next.AsSpan(0, count).CopyTo(buffer);
            _incoming.Dequeue();
            if (count < next.Length)
            {
                _incoming.Enqueue(next[count..]); // order kept: tests queue one chunk at a time when it matters
            }
            return IoResult.Done(count);
        }
    }

    private IoResult Send(in ReadOnlySequence<byte> buffer)
    {
        var call = new SendCall(buffer.Length, _reactor.IsCurrentThread, Thread.CurrentThread.IsThreadPoolThread);
        ManualResetEventSlim? gate = SendGate;
        if (gate is not null)
        {
            SendGate = null;
            SendEntered.TrySetResult();
            gate.Wait(TimeSpan.FromSeconds(30));
            if (GatedSendError is { } error)
            {
                // The kernel's answer was decided before the close that happened meanwhile.
                lock (_lock)
                {
                    _sends.Add(call);
                }
                return IoResult.Failed(error);
            }
        }

        lock (_lock)
        {
            _sends.Add(call);
            if (_closed)
            {
                return IoResult.Failed(SocketError.OperationAborted); // what the epoll lease reports
            }
            long taken = Math.Min(buffer.Length, _sendCapacity);
            foreach (ReadOnlyMemory<byte> segment in buffer.Slice(0, taken))
            {
                _sent.Write(segment.Span);
            }
            _sendCapacity -= taken;
            return taken < buffer.Length ? new IoResult(taken, SocketError.WouldBlock) : IoResult.Done(taken);
        }
    }

    protected override void CloseSocket(bool reset)
    {
        lock (_lock)
        {
            _closed = true;
            CloseCalls++;
        }
        Closed.TrySetResult(reset);
    }

    private static ConnectionSettings Settings(long? maxReadBufferSize, long? maxWriteBufferSize, bool inlineScheduling)
    {
        var options = new SelectTransportOptions { UnsafePreferInlineScheduling = inlineScheduling };
        if (maxReadBufferSize is not null)
        {
            options.MaxReadBufferSize = maxReadBufferSize;
        }
        if (maxWriteBufferSize is not null)
        {
            options.MaxWriteBufferSize = maxWriteBufferSize;
        }
        return new ConnectionSettings(options);
    }

    /// <summary>One call of <see cref="Send"/>: bytes offered, and the thread it ran on.</summary>
    public readonly record struct SendCall(long Offered, bool OnReactor, bool OnThreadPool);
}
