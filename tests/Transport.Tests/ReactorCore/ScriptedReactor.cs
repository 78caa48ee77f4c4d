using Microsoft.Extensions.Logging.Abstractions;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.ReactorCore;

/// <summary>
/// A reactor with no poller: readiness is whatever the test posts (<see cref="ScriptedConnection"/>), so the shared
/// core's state machines can be driven step by step, with no socket and no timing in the way.
/// </summary>
#pragma warning disable CA1001 // the semaphore is disposed by the reactor thread when it exits (DisposeBackend)
internal sealed class ScriptedReactor : ReactorLoop
#pragma warning restore CA1001
{
    private readonly SemaphoreSlim _wakeSignal = new(0);
    private int _wakes;

    public ScriptedReactor(Microsoft.Extensions.Logging.ILogger? logger = null, TimeSpan spinDuration = default,
        Microsoft.AspNetCore.Connections.IMemoryPoolFactory<byte>? memoryPoolFactory = null)
        : base("scripted-reactor", ReactorMemoryPool.Create(memoryPoolFactory), logger ?? NullLogger.Instance, spinDuration)
    {
        Start();
    }

    /// <summary>
    /// What the reactor's core is told about the thread pool's queue (null: the real pool's answer). The real
    /// answer depends on whatever else runs in the test process at that moment.
    /// </summary>
    public bool? PinnedThreadPoolHasQueuedWork { get; set; }

    public override bool ThreadPoolHasQueuedWork => PinnedThreadPoolHasQueuedWork ?? base.ThreadPoolHasQueuedWork;

    /// <summary>What each wait reports, as if that many sockets were ready: how busy the core believes the reactor is.</summary>
    public int EventsPerWait { get; set; }

    /// <summary>How often a poster had to wake this reactor out of its wait.</summary>
    public int Wakes => Volatile.Read(ref _wakes);

    /// <summary>Runs <paramref name="action"/> on the reactor thread and returns when it has run.</summary>
    public Task RunAsync(Action action)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Schedule(_ =>
        {
            try
            {
                action();
                done.SetResult();
            }
            catch (Exception ex)
            {
                done.SetException(ex);
            }
        }, null);
        return done.Task;
    }

    /// <summary>Returns once the reactor has finished a whole iteration (posted work, deferred sends) after this call.</summary>
    public async Task IterationAsync()
    {
        // The second work item runs in the iteration after the first one's, so the first iteration ended.
        await RunAsync(static () => { });
        await RunAsync(static () => { });
    }

    protected override int WaitAndDispatch(int timeoutMilliseconds)
    {
        if (timeoutMilliseconds != 0)
        {
            _wakeSignal.Wait(timeoutMilliseconds);
        }
        return EventsPerWait; // readiness comes as posted work here, not as events
    }

    protected override void Wake()
    {
        Interlocked.Increment(ref _wakes);
        _wakeSignal.Release();
    }

    protected override void DisposeBackend() => _wakeSignal.Dispose();
}
