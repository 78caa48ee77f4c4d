using System.Text;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.ReactorCore;

/// <summary>
/// A reactor that ran out of work polls for a while before it blocks (<see cref="IdleSpin"/>): work posted meanwhile
/// needs no wake-up, output flushed on a pool thread meanwhile is sent by that thread without waking the reactor, and
/// after a long idle gap the reactor blocks at once. Driven on a scripted reactor, whose spin duration the test chooses.
/// </summary>
/// <remarks>Not run beside other tests: which thread sends depends on what else the thread pool is doing.</remarks>
[Collection(nameof(ConnectionStateTests))]
public sealed class IdleSpinTests
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(10);

    // Far longer than any stall of a loaded CI machine between two steps of a test, so "soon after" is certain.
    private static readonly TimeSpan LongSpin = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Spin_WorkPostedSoonAfterTheReactorRanOutOfWork_RunsWithoutAWakeUp()
    {
        // Arrange: a reactor with a connection (a reactor without connections never spins) that ran out of work.
        await using var fixture = await SpinFixture.StartAsync(LongSpin);
        await WaitUntilSpinningAsync(fixture.Reactor);
        int wakesBefore = fixture.Reactor.Wakes;
        long foundBefore = fixture.Reactor.Counters.SpinsThatFoundWork;

        // Act: more work, while it polls.
        await fixture.Reactor.RunAsync(static () => { }).WithTimeout();

        // Assert: the poll found it; nobody had to wake the reactor.
        Assert.Equal(wakesBefore, fixture.Reactor.Wakes);
        Assert.True(fixture.Reactor.Counters.SpinsThatFoundWork > foundBefore, "No spin found the posted work.");
        Assert.False(fixture.Reactor.IsWaiting, "A polling reactor must not look blocked to posters.");
    }

    [Fact]
    public async Task Spin_FlushOnThreadPoolWhileTheReactorPolls_SentByThatThreadWithoutAWakeUp()
    {
        // Arrange
        await using var fixture = await SpinFixture.StartAsync(LongSpin);
        await WaitUntilSpinningAsync(fixture.Reactor);
        int wakesBefore = fixture.Reactor.Wakes;

        // Act: a lone response flushed on a thread-pool thread.
        await Task.Run(async () => await fixture.Connection.Transport.Output.WriteAsync("lone response"u8.ToArray())).WithTimeout();

        // Assert: no wake-up is spent. With another core the pool thread sends in parallel with the reactor; with one
        // processor the polling reactor, which runs on it anyway, sends it.
        Assert.True(SpinWait.SpinUntil(() => fixture.Connection.SentBytes.Length == 13, Soon), "The response was not sent.");
        Assert.Equal("lone response", Encoding.ASCII.GetString(fixture.Connection.SentBytes));
        var send = Assert.Single(fixture.Connection.Sends);
        if (Environment.ProcessorCount > 1)
        {
            Assert.True(send.OnThreadPool && !send.OnReactor, "The output of a pool-thread flush while the reactor polls must be sent by a pool thread.");
        }
        else
        {
            Assert.True(send.OnReactor, "With one processor the output of a pool-thread flush while the reactor polls must be sent by the reactor.");
        }
        Assert.Equal(wakesBefore, fixture.Reactor.Wakes);
    }

    [Fact]
    public async Task Spin_AfterALongIdleGap_ReactorBlocksWithoutPolling()
    {
        // Arrange: a spin so short that it always gives up; the reactor then blocks, and stays idle for a gap far
        // longer than twice the spin (the scenario itself, not a wait for another thread).
        await using var fixture = await SpinFixture.StartAsync(TimeSpan.FromTicks(10)); // 1 µs
        await WaitUntilBlockedAsync(fixture.Reactor);
        var gap = System.Diagnostics.Stopwatch.StartNew();
        SpinWait.SpinUntil(() => gap.Elapsed > TimeSpan.FromMilliseconds(1));
        long spinsBefore = fixture.Reactor.Counters.Spins;
        int wakesBefore = fixture.Reactor.Wakes;

        // Act: work after the gap; then the reactor runs out of work again.
        await fixture.Reactor.RunAsync(static () => { }).WithTimeout();
        Assert.True(SpinWait.SpinUntil(() => fixture.Reactor.IsWaiting, Soon), "The reactor did not block.");

        // Assert: woken for the work, and blocked again at once, without polling first.
        Assert.Equal(wakesBefore + 1, fixture.Reactor.Wakes);
        Assert.Equal(spinsBefore, fixture.Reactor.Counters.Spins);
    }

    [Fact]
    public async Task Spin_ZeroDuration_NeverPolls()
    {
        await using var fixture = await SpinFixture.StartAsync(TimeSpan.Zero);

        for (int i = 0; i < 10; i++)
        {
            await fixture.Reactor.RunAsync(static () => { }).WithTimeout();
        }
        await WaitUntilBlockedAsync(fixture.Reactor);

        Assert.Equal(0, fixture.Reactor.Counters.Spins);
    }

    /// <summary>Lets the reactor finish an iteration and returns once it polls for more (a spin has begun).</summary>
    private static async Task WaitUntilSpinningAsync(ScriptedReactor reactor)
    {
        long spins = reactor.Counters.Spins;
        await reactor.RunAsync(static () => { }).WithTimeout();
        Assert.True(SpinWait.SpinUntil(() => reactor.Counters.Spins > spins, Soon), "The reactor did not poll once idle.");
    }

    private static async Task WaitUntilBlockedAsync(ScriptedReactor reactor)
    {
        await reactor.IterationAsync().WithTimeout();
        Assert.True(SpinWait.SpinUntil(() => reactor.IsWaiting, Soon), "The reactor did not block.");
    }

    /// <summary>A scripted reactor with the given spin and one started connection.</summary>
    private sealed class SpinFixture : IAsyncDisposable
    {
        private SpinFixture(ScriptedReactor reactor, ScriptedConnection connection)
        {
            Reactor = reactor;
            Connection = connection;
        }

        public ScriptedReactor Reactor { get; }

        public ScriptedConnection Connection { get; }

        public static async Task<SpinFixture> StartAsync(TimeSpan spinDuration)
        {
            var reactor = new ScriptedReactor(spinDuration: spinDuration);
            var connection = new ScriptedConnection(reactor);
            await reactor.IterationAsync().WithTimeout();
            return new SpinFixture(reactor, connection);
        }

        public async ValueTask DisposeAsync()
        {
            Connection.Abort();
            await Connection.DisposeAsync().WithTimeout();
            Reactor.RequestStop();
        }
    }
}
