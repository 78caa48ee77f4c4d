namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>
/// The process's file descriptors as the accept loops see them: how many the transports hold for connections,
/// an estimate of all the others, and the limit. One per process, shared by every listener of every transport,
/// because the fd table is the process's.
/// </summary>
/// <remarks>
/// The estimate of the others is raised for free on every accept (the kernel hands out the lowest free number,
/// so every number below an accepted fd is in use) and corrected by a count of /proc/self/fd, which the accept
/// loops ask for near the limit (see <see cref="AcceptThrottle"/>). The hot path (an accept with room to spare)
/// is a few volatile reads, an increment and a compare.
/// </remarks>
internal sealed class FileDescriptorBudget
{
    // A count walks the whole table (a few milliseconds at 10,000 descriptors): often enough to notice the others
    // closing theirs, rarely enough to cost nothing while a listener is paused.
    public const int MinRecountIntervalMilliseconds = 100;

    private readonly IFileDescriptorTable _table;
    private readonly Func<long> _clock;
    private readonly Lock _waitersLock = new();
    private readonly List<(Action<object?> Callback, object? State)> _waiters = [];
    private long _limit;
    private int _held;
    private int _others;
    private int _waiterCount;
    private long _lastRecount = long.MinValue;

    public FileDescriptorBudget(IFileDescriptorTable table, Func<long>? clock = null)
    {
        _table = table;
        _clock = clock ?? (static () => Environment.TickCount64);
        _limit = table.ReadLimit() ?? long.MaxValue;
        if (_limit != long.MaxValue)
        {
            _others = table.CountOpen() ?? 0;
        }
    }

    public static FileDescriptorBudget Process { get; } = new(ProcessFileDescriptors.Instance);

    /// <summary>Milliseconds on the budget's clock (<see cref="Environment.TickCount64"/> outside tests).</summary>
    public long Now => _clock();

    /// <summary>The soft RLIMIT_NOFILE as last read; <see cref="long.MaxValue"/> when there is none.</summary>
    public long Limit => Volatile.Read(ref _limit);

    /// <summary>Descriptors held by the transports' connections (accepted and not yet closed).</summary>
    public int Held => Volatile.Read(ref _held);

    /// <summary>The estimate of every open descriptor of the process.</summary>
    public long OpenEstimate => (long)Volatile.Read(ref _held) + Volatile.Read(ref _others);

    /// <summary>Whether one more descriptor can be taken and still leave <paramref name="reserve"/> free.</summary>
    public bool HasRoom(int reserve) =>
        reserve == 0 || OpenEstimate + 1 + reserve <= Volatile.Read(ref _limit);

    /// <summary>
    /// Counts the open descriptors again (and re-reads the limit, which the process may have raised); false when
    /// the last count is more recent than <paramref name="minIntervalMilliseconds"/>. A read that fails (no
    /// descriptor left to open the file with) means the table is full, against the limit last read.
    /// </summary>
    public bool Recount(int minIntervalMilliseconds = MinRecountIntervalMilliseconds)
    {
        long now = _clock();
        long last = Volatile.Read(ref _lastRecount);
        if ((last != long.MinValue && now - last < minIntervalMilliseconds)
            || Interlocked.CompareExchange(ref _lastRecount, now, last) != last)
        {
            return false;
        }
        long limit = _table.ReadLimit() ?? Volatile.Read(ref _limit);
        Volatile.Write(ref _limit, limit);
        int heldBefore = Volatile.Read(ref _held);
        long open = _table.CountOpen() ?? Math.Min(limit, int.MaxValue);
        // Connections open and close while the table is walked. Of the two readings, the larger leaves the
        // smaller estimate of the others: an error of a few descriptors into the reserve, instead of a pause
        // that the churn made up.
        int held = Math.Max(heldBefore, Volatile.Read(ref _held));
        Volatile.Write(ref _others, (int)Math.Max(0, open - held));
        return true;
    }

    /// <summary>A transport took descriptor number <paramref name="fd"/> for a connection (-1 when unknown).</summary>
    public void OnOpened(int fd)
    {
        int held = Interlocked.Increment(ref _held);
        // Numbers 0..fd are all open; a lower estimate means something else opened descriptors meanwhile.
        long lowerBound = (long)fd + 1;
        if (lowerBound > held + (long)Volatile.Read(ref _others))
        {
            Volatile.Write(ref _others, (int)(lowerBound - held));
        }
    }

    /// <summary>A transport closed a connection's descriptor: a paused listener may go on.</summary>
    public void OnClosed()
    {
        Interlocked.Decrement(ref _held);
        if (Volatile.Read(ref _waiterCount) != 0)
        {
            NotifyWaiters();
        }
    }

    /// <summary>
    /// Calls <paramref name="callback"/> once, on the thread that closes the next connection's descriptor (or at
    /// once, on this thread, when there is room again already). Keep it short: it runs inside a close.
    /// </summary>
    public void WaitForRoom(int reserve, Action<object?> callback, object? state)
    {
        lock (_waitersLock)
        {
            _waiters.Add((callback, state));
            // A full fence: the read of the held count below must not move before this store, or a close that
            // reads no waiter and this registration that reads no room could miss each other.
            Interlocked.Exchange(ref _waiterCount, _waiters.Count);
        }
        // A close between the caller's check and the registration above would have found no waiter.
        if (HasRoom(reserve))
        {
            NotifyWaiters();
        }
    }

    private void NotifyWaiters()
    {
        (Action<object?> Callback, object? State)[] waiters;
        lock (_waitersLock)
        {
            if (_waiters.Count == 0)
            {
                return;
            }
            waiters = [.. _waiters];
            _waiters.Clear();
            _waiterCount = 0;
        }
        foreach (var (callback, state) in waiters)
        {
            // Runs inside some connection's close: a failing callback must neither stop that close nor the
            // other waiters' signals.
            try
            {
                callback(state);
            }
            catch (Exception)
            {
            }
        }
    }

    /// <summary>Forgets a waiter that will never need the signal (its listener was unbound).</summary>
    public void StopWaiting(object? state)
    {
        lock (_waitersLock)
        {
            _waiters.RemoveAll(w => ReferenceEquals(w.State, state));
            Interlocked.Exchange(ref _waiterCount, _waiters.Count);
        }
    }
}
