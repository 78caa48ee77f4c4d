using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.ReactorCore;

/// <summary>
/// The reactor's own timers (<c>RunAfter</c>), which the accept loops back off with because a .NET timer may need a
/// thread the process cannot start when it runs out of descriptors.
/// </summary>
public sealed class ReactorTimerTests : IDisposable
{
    private readonly ScriptedReactor _reactor = new();

    public void Dispose() => _reactor.RequestStop();

    [Fact]
    public async Task RunAfter_WhileTheReactorWaits_WakesItAndRunsOnItsThreadOnceDue()
    {
        await _reactor.IterationAsync(); // blocked now, with no timer: only a wake-up can end its wait
        var ran = new TaskCompletionSource<(bool OnReactor, long At)>(TaskCreationOptions.RunContinuationsAsynchronously);
        long start = Environment.TickCount64;

        _reactor.RunAfter(100, _ => ran.SetResult((_reactor.IsCurrentThread, Environment.TickCount64)), null);

        var (onReactor, at) = await ran.Task.WithTimeout();
        Assert.True(onReactor);
        Assert.InRange(at - start, 99, 10_000); // TickCount64 ticks in milliseconds
    }

    [Fact]
    public async Task RunAfter_Several_RunInTheOrderTheyAreDue()
    {
        var order = new List<int>();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        _reactor.RunAfter(60, _ => order.Add(2), null);
        _reactor.RunAfter(20, _ => order.Add(1), null);
        _reactor.RunAfter(100, _ =>
        {
            order.Add(3);
            done.SetResult();
        }, null);

        await done.Task.WithTimeout();
        Assert.Equal([1, 2, 3], order);
    }

    [Fact]
    public async Task RunAfter_ActionThrows_LaterTimersStillRun()
    {
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        _reactor.RunAfter(10, _ => throw new InvalidOperationException("a failing timer"), null);
        _reactor.RunAfter(30, _ => ran.SetResult(), null);

        await ran.Task.WithTimeout();
    }
}
