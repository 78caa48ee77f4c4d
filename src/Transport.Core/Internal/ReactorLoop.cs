using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>
/// One reactor: a dedicated thread that waits on a readiness backend (epoll, select), runs the work posted to
/// it, and sends the output gathered during the iteration. It is the <see cref="PipeScheduler"/> of the
/// transport-side pipe ends of its connections, so every socket operation of a connection runs on this thread.
/// </summary>
/// <remarks>
/// Iteration: wait for readiness (when nothing is queued: first polling for a few tens of microseconds while traffic
/// is steady, see <see cref="IdleSpin"/>, then blocking until the first timer) → dispatch ready handles → run due
/// timers → run posted work → continue reads that yielded for fairness → flush deferred sends. Deferring sends to
/// the end of the iteration lets responses produced by several continuations leave in one gathered send.
/// </remarks>
internal abstract class ReactorLoop : PipeScheduler, IThreadPoolWorkItem
{
    // Reads of one connection per readiness event before yielding to the others; the rest is resumed in the
    // next iteration so that one fast uploader cannot starve a reactor's other connections.
    public const int MaxReceivesPerTurn = 16;

    private readonly ConcurrentQueue<WorkItem> _workQueue = new();
    private readonly Thread _thread;
    private readonly ILogger _logger;
    private readonly PendingConnections _pendingSends = new();
    private readonly PendingConnections _pendingReceives = new();
    private readonly ConcurrentQueue<TimedWork> _newTimers = new();
    // Reactor thread only. A handful at most (accept back-offs and pause rechecks), so a list is enough.
    private readonly List<TimedWork> _timers = [];
    private int _connectionCount;
    private int _threadId;
    private volatile bool _stopRequested;

    // 1 while the thread is (about to be) blocked in the backend wait, until woken or its first timer is due. A poster that
    // flips it back to 0 owns the wake-up; everyone else skips the syscall.
    private int _blocked;

    // What the last wait or poll returned (completions or ready sockets): how busy the reactor is.
    private int _lastEvents;

    // 1 while a deferred wake-up (this reactor as a thread-pool work item) is queued.
    private int _deferredWakeQueued;

    // Reactor thread only.
    private IdleSpin _idleSpin;

    protected ReactorLoop(string name, MemoryPool<byte> memoryPool, ILogger logger, TimeSpan spinDuration)
    {
        _idleSpin = new IdleSpin(spinDuration);
        Name = name;
        MemoryPool = memoryPool;
        _logger = logger;
        _thread = new Thread(static s => ((ReactorLoop)s!).Run())
        {
            IsBackground = true,
            Name = name,
        };
    }

    public string Name { get; }

    public MemoryPool<byte> MemoryPool { get; }

    /// <summary>What this reactor has done so far, for the transport's meter.</summary>
    public ReactorCounters Counters { get; } = new();

    public ILogger Logger => _logger;

    /// <summary>
    /// True while the thread waits for readiness with nothing else to do: work posted now costs a wake-up (a
    /// syscall, and on a busy core a context switch). A hint only: it may change right after it was read.
    /// </summary>
    public bool IsWaiting => Volatile.Read(ref _blocked) == 1;

    /// <summary>
    /// Whether the thread pool has work queued behind the caller's, which decides who sends a response flushed
    /// on a pool thread while this reactor waits. Virtual so that the core's state tests can pin the answer: in a
    /// test process the real pool also runs other tests' timers and continuations.
    /// </summary>
    public virtual bool ThreadPoolHasQueuedWork => System.Threading.ThreadPool.PendingWorkItemCount != 0;

    /// <summary>
    /// The completions or ready sockets the last wait or poll returned: above the processor count, the reactor is
    /// busy enough that sends it batches cost less than sends made in parallel. A hint, as <see cref="IsWaiting"/>.
    /// </summary>
    public int LastEvents => Volatile.Read(ref _lastEvents);

    /// <summary>True on this reactor's own thread.</summary>
    public bool IsCurrentThread => Environment.CurrentManagedThreadId == _threadId;

    public void Start() => _thread.Start(this);

    /// <summary>
    /// Asks the thread to exit once its last connection has completed; connections still unwinding after
    /// their listener went away keep it alive until they are done.
    /// </summary>
    public void RequestStop()
    {
        _stopRequested = true;
        Schedule(static _ => { }, null);
    }

    public override void Schedule(Action<object?> action, object? state)
    {
        _workQueue.Enqueue(new WorkItem(action, state));
        WakeIfBlocked();
    }

    /// <summary>
    /// Posts work that may wait until the thread pool has run what is queued now: the wake-up this needs is queued
    /// behind that work, once for all that is posted meanwhile, so a burst of output from thread-pool threads
    /// costs one wake-up instead of one per item. A reactor that runs meanwhile picks the work up at no cost.
    /// </summary>
    public void ScheduleWithDeferredWake(Action<object?> action, object? state)
    {
        _workQueue.Enqueue(new WorkItem(action, state));
        if (Interlocked.Exchange(ref _deferredWakeQueued, 1) == 0)
        {
            System.Threading.ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    /// <summary>
    /// Runs <paramref name="action"/> on this thread once <paramref name="delayMilliseconds"/> have passed. For
    /// rare events such as an accept loop backing off: unlike a .NET timer, it needs no thread or descriptor that
    /// might not exist when the process runs out of them.
    /// </summary>
    public void RunAfter(int delayMilliseconds, Action<object?> action, object? state)
    {
        _newTimers.Enqueue(new TimedWork(Environment.TickCount64 + delayMilliseconds, action, state));
        WakeIfBlocked();
    }

    /// <summary>The deferred wake-up: runs on the thread pool, behind the work that was queued before it.</summary>
    void IThreadPoolWorkItem.Execute()
    {
        // Reset first: work posted from now on queues another wake-up, so none is lost.
        Volatile.Write(ref _deferredWakeQueued, 0);
        WakeIfBlocked();
    }

    /// <summary>Wakes the thread if it is blocked in its wait; whoever flips "blocked" back owns the wake-up.</summary>
    private void WakeIfBlocked()
    {
        if (Interlocked.CompareExchange(ref _blocked, 0, 1) == 1)
        {
            Counters.OnWakeup();
            Wake();
        }
    }

    /// <summary>Waits for readiness for at most <paramref name="timeoutMilliseconds"/> (-1: forever) and dispatches it.</summary>
    /// <returns>The readiness events the wait returned (a wake-up included).</returns>
    protected abstract int WaitAndDispatch(int timeoutMilliseconds);

    /// <summary>Interrupts a blocked <see cref="WaitAndDispatch"/>. Thread-safe.</summary>
    protected abstract void Wake();

    /// <summary>Releases the backend's handles once the thread is done.</summary>
    protected abstract void DisposeBackend();

    /// <summary>
    /// Runs first on the reactor's own thread, before any wait: for a backend whose kernel object belongs to the
    /// thread that uses it (an io_uring ring set up for a single issuer).
    /// </summary>
    protected virtual void OnThreadStarted()
    {
    }

    /// <summary>
    /// Connections started and not yet completed on this reactor. Changed by the reactor thread only; read by the
    /// meter from its own thread too (an int is never torn, and a moment-old count is all a gauge promises).
    /// </summary>
    internal int ActiveConnections => Volatile.Read(ref _connectionCount);

    internal void ConnectionStarted() => _connectionCount++;

    internal void ConnectionCompleted() => _connectionCount--;

    internal void QueueSend(ReactorConnection connection) => _pendingSends.Add(connection);

    internal void QueueReceive(ReactorConnection connection) => _pendingReceives.Add(connection);

    /// <summary>Reports an exception that escaped a connection's handler, without stopping the reactor.</summary>
    protected void OnHandlerError(ReactorConnection? connection, Exception ex)
    {
        if (connection is not null && connection.Fail(ex))
        {
            TransportLog.ReactorError(_logger, Name, connection.ConnectionId, ex);
        }
        else
        {
            TransportLog.ReactorWorkError(_logger, Name, ex);
        }
    }

    private void Run()
    {
        _threadId = Environment.CurrentManagedThreadId;
        try
        {
            OnThreadStarted();
            while (true)
            {
                int events;
                if (_pendingReceives.IsEmpty && _pendingSends.IsEmpty && _workQueue.IsEmpty)
                {
                    if (_stopRequested && _connectionCount == 0)
                    {
                        break;
                    }
                    events = WaitForWork();
                }
                else
                {
                    events = WaitAndDispatch(0);
                }
                Counters.OnIteration(events);
                Volatile.Write(ref _lastEvents, events);

                if (_timers.Count != 0 || !_newTimers.IsEmpty)
                {
                    RunDueTimers();
                }

                RunPostedWork();
                RunPendingReceives();
                FlushPendingSends();
            }
        }
        catch (Exception ex)
        {
            // Only a broken loop invariant (the poller itself failing) lands here; per-connection faults are
            // contained in their handlers. Continuing would strand every connection of this reactor silently.
            TransportLog.ReactorFailed(_logger, Name, ex);
            Environment.FailFast($"Reactor {Name} failed: {ex.Message}", ex);
        }
        finally
        {
            DisposeBackend();
            MemoryPool.Dispose();
        }
    }

    /// <summary>
    /// Nothing is queued: polls while traffic is steady (<see cref="IdleSpin"/>), then blocks until readiness, posted
    /// work or the first timer.
    /// </summary>
    /// <returns>The readiness events of the poll or wait that found work (a wake-up included).</returns>
    private int WaitForWork()
    {
        long idleSince = Stopwatch.GetTimestamp();
        if (_connectionCount > 0 && _idleSpin.ShouldSpin)
        {
            int polled = Spin(idleSince);
            if (polled >= 0)
            {
                return polled;
            }
        }

        Interlocked.Exchange(ref _blocked, 1);
        // Re-check after publishing "blocked": work posted before the flag was visible has no wake-up coming, so it
        // must be seen here.
        int events = WaitAndDispatch(_workQueue.IsEmpty ? MillisecondsToNextTimer() : 0);
        Volatile.Write(ref _blocked, 0);
        _idleSpin.OnIdleEnded(idleSince, Stopwatch.GetTimestamp());
        return events;
    }

    /// <summary>
    /// Polls for readiness and posted work until either shows up or the spin's deadline passes, yielding the core
    /// between polls to any other thread that is ready to run on it. "Blocked" stays clear meanwhile, so posters
    /// queue work without a wake-up and the poll sees it.
    /// </summary>
    /// <returns>The readiness events of the poll that found work; -1 when nothing came in time.</returns>
    private int Spin(long idleSince)
    {
        long deadline = _idleSpin.Deadline(idleSince);
        Counters.OnSpin();
        while (true)
        {
            int events = WaitAndDispatch(0);
            long now = Stopwatch.GetTimestamp();
            if (events > 0 || !_workQueue.IsEmpty || !_newTimers.IsEmpty)
            {
                Counters.OnSpinFoundWork();
                _idleSpin.OnIdleEnded(idleSince, now);
                return events;
            }
            if (now >= deadline)
            {
                return -1;
            }
            Thread.Yield();
        }
    }

    /// <summary>-1 without timers, else the wait until the first is due. Called after publishing "blocked".</summary>
    private int MillisecondsToNextTimer()
    {
        TakeNewTimers();
        if (_timers.Count == 0)
        {
            return -1;
        }
        long first = long.MaxValue;
        foreach (TimedWork timer in _timers)
        {
            first = Math.Min(first, timer.Due);
        }
        return (int)Math.Clamp(first - Environment.TickCount64, 0, int.MaxValue);
    }

    private void RunDueTimers()
    {
        TakeNewTimers();
        long now = Environment.TickCount64;
        for (int i = _timers.Count - 1; i >= 0; i--)
        {
            TimedWork timer = _timers[i];
            if (timer.Due > now)
            {
                continue;
            }
            _timers.RemoveAt(i);
            try
            {
                timer.Action(timer.State);
            }
            catch (Exception ex)
            {
                OnHandlerError(null, ex);
            }
        }
    }

    private void TakeNewTimers()
    {
        while (_newTimers.TryDequeue(out TimedWork timer))
        {
            _timers.Add(timer);
        }
    }

    private void RunPostedWork()
    {
        // Bounded by what is queued now: work that posts more work waits for the next iteration instead of
        // starving readiness processing.
        int count = _workQueue.Count;
        while (count-- > 0 && _workQueue.TryDequeue(out WorkItem item))
        {
            Counters.OnWorkItem();
            try
            {
                item.Action(item.State);
            }
            catch (Exception ex)
            {
                // Posted by a connection, or a pipe continuation of one (a delegate on the connection).
                OnHandlerError(item.State as ReactorConnection ?? (item.State as Delegate)?.Target as ReactorConnection, ex);
            }
        }
    }

    private void RunPendingReceives()
    {
        ReadOnlySpan<ReactorConnection> batch = _pendingReceives.TakeBatch(out ReactorConnection[] array);
        foreach (ReactorConnection connection in batch)
        {
            try
            {
                connection.ContinueReceive();
            }
            catch (Exception ex)
            {
                OnHandlerError(connection, ex);
            }
        }
        _pendingReceives.Return(array, batch.Length);
    }

    private void FlushPendingSends()
    {
        ReadOnlySpan<ReactorConnection> batch = _pendingSends.TakeBatch(out ReactorConnection[] array);
        foreach (ReactorConnection connection in batch)
        {
            try
            {
                connection.FlushPendingSend();
            }
            catch (Exception ex)
            {
                OnHandlerError(connection, ex);
            }
        }
        _pendingSends.Return(array, batch.Length);
    }

    private readonly record struct WorkItem(Action<object?> Action, object? State);

    private readonly record struct TimedWork(long Due, Action<object?> Action, object? State);
}
