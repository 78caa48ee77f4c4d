namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>
/// What one reactor has done so far, for the transport's meter (<see cref="ReactorMetrics"/>). Counting costs an
/// increment: counts only the reactor thread makes are one store, those thread-pool threads make too (sends,
/// wake-ups) are interlocked. A collector reads them from its own thread, without a lock: a value may be a moment
/// old, never torn.
/// </summary>
/// <remarks>
/// Why "never torn" holds: a 64-bit load or store is atomic in a 64-bit process, and the JIT folds
/// <see cref="Environment.Is64BitProcess"/> to a constant, so there a reactor-only count is a plain increment. In a
/// 32-bit process (Arm32, which the epoll transport supports) a long is written in two halves, so there the one
/// writer stores with <see cref="Interlocked.Exchange(ref long, long)"/>; every reader uses
/// <see cref="Interlocked.Read(ref readonly long)"/>.
/// </remarks>
internal sealed class ReactorCounters
{
    // Written by the reactor thread only.
    private long _iterations;
    private long _readyEvents;
    private long _workItems;
    private long _receivePauses;
    private long _receiveResumes;
    private long _spins;
    private long _spinsThatFoundWork;

    // Written by any thread.
    private long _wakeups;
    private long _sends;
    private long _bytesSent;
    private long _sendsWouldBlock;

    public long Iterations => Interlocked.Read(ref _iterations);

    public long ReadyEvents => Interlocked.Read(ref _readyEvents);

    public long WorkItems => Interlocked.Read(ref _workItems);

    public long ReceivePauses => Interlocked.Read(ref _receivePauses);

    public long ReceiveResumes => Interlocked.Read(ref _receiveResumes);

    public long Spins => Interlocked.Read(ref _spins);

    public long SpinsThatFoundWork => Interlocked.Read(ref _spinsThatFoundWork);

    public long Wakeups => Interlocked.Read(ref _wakeups);

    public long Sends => Interlocked.Read(ref _sends);

    public long BytesSent => Interlocked.Read(ref _bytesSent);

    public long SendsWouldBlock => Interlocked.Read(ref _sendsWouldBlock);

    /// <summary>One iteration of the loop, whose wait returned <paramref name="events"/>. Reactor thread only.</summary>
    public void OnIteration(int events)
    {
        AddOnReactor(ref _iterations, 1);
        AddOnReactor(ref _readyEvents, events);
    }

    public void OnWorkItem() => AddOnReactor(ref _workItems, 1);

    public void OnReceivePause() => AddOnReactor(ref _receivePauses, 1);

    public void OnReceiveResume() => AddOnReactor(ref _receiveResumes, 1);

    public void OnSpin() => AddOnReactor(ref _spins, 1);

    public void OnSpinFoundWork() => AddOnReactor(ref _spinsThatFoundWork, 1);

    public void OnWakeup() => Interlocked.Increment(ref _wakeups);

    public void OnSend(in IoResult result)
    {
        Interlocked.Increment(ref _sends);
        if (result.Bytes > 0)
        {
            Interlocked.Add(ref _bytesSent, result.Bytes);
        }
        if (result.Error == System.Net.Sockets.SocketError.WouldBlock)
        {
            Interlocked.Increment(ref _sendsWouldBlock);
        }
    }

    /// <summary>
    /// A send that the socket's buffer cut short without an EAGAIN: a completion backend's send that waited for room
    /// in the kernel and completed with less than it was given.
    /// </summary>
    public void OnSendFoundBufferFull() => Interlocked.Increment(ref _sendsWouldBlock);

    // The one writer of the count: no read-modify-write race, only the store must be whole.
    private static void AddOnReactor(ref long counter, long value)
    {
        if (Environment.Is64BitProcess)
        {
            counter += value;
        }
        else
        {
            Interlocked.Exchange(ref counter, counter + value);
        }
    }
}

/// <summary>What a transport's listeners have done so far, for its meter. Written by accept loops, interlocked.</summary>
internal sealed class ListenerCounters
{
    private long _acceptBackoffs;
    private long _acceptPauses;

    public long AcceptBackoffs => Interlocked.Read(ref _acceptBackoffs);

    public long AcceptPauses => Interlocked.Read(ref _acceptPauses);

    public void OnAcceptBackoff() => Interlocked.Increment(ref _acceptBackoffs);

    public void OnAcceptPause() => Interlocked.Increment(ref _acceptPauses);
}
