namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>
/// What one reactor has done so far, for the transport's meter (<see cref="ReactorMetrics"/>). Counting costs an
/// increment: fields that only the reactor thread writes are plain, those that thread-pool threads write too
/// (sends, wake-ups) are interlocked. A collector reads them when it asks, without a lock; a value it reads may be
/// a moment old, never torn.
/// </summary>
internal sealed class ReactorCounters
{
    // Reactor thread only.
    public long Iterations;
    public long ReadyEvents;
    public long WorkItems;
    public long ReceivePauses;
    public long ReceiveResumes;
    public long Spins;
    public long SpinsThatFoundWork;

    // Any thread.
    private long _wakeups;
    private long _sends;
    private long _bytesSent;
    private long _sendsWouldBlock;

    public long Wakeups => Volatile.Read(ref _wakeups);

    public long Sends => Volatile.Read(ref _sends);

    public long BytesSent => Volatile.Read(ref _bytesSent);

    public long SendsWouldBlock => Volatile.Read(ref _sendsWouldBlock);

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
}

/// <summary>What a transport's listeners have done so far, for its meter. Written by accept loops, interlocked.</summary>
internal sealed class ListenerCounters
{
    private long _acceptBackoffs;
    private long _acceptPauses;

    public long AcceptBackoffs => Volatile.Read(ref _acceptBackoffs);

    public long AcceptPauses => Volatile.Read(ref _acceptPauses);

    public void OnAcceptBackoff() => Interlocked.Increment(ref _acceptBackoffs);

    public void OnAcceptPause() => Interlocked.Increment(ref _acceptPauses);
}
