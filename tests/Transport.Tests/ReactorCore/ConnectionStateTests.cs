using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.ReactorCore;

/// <summary>
/// The transitions of the shared core's receive and send states that matter (ReceiveState.cs, SendState.cs), pinned
/// on a scripted socket: pause and resume, EAGAIN and writability, closing while output is queued or while a
/// thread-pool thread is inside a send, and which thread sends.
/// </summary>
/// <remarks>
/// Not run beside other tests: they time the reactor's waits. Which thread sends depends on whether the thread pool
/// has other work queued; the scripted reactor pins that answer for the tests of both cases.
/// </remarks>
[Collection(nameof(ConnectionStateTests))]
#pragma warning disable CA1001 // the log provider is disposed by IAsyncLifetime.DisposeAsync, after the reactor stops
public sealed class ConnectionStateTests : IAsyncLifetime
#pragma warning restore CA1001
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(10);
    private readonly CapturingLoggerProvider _logs = new();
    private readonly ScriptedReactor _reactor;

    public ConnectionStateTests() => _reactor = new ScriptedReactor(_logs.CreateLogger("scripted"));
    private readonly List<ScriptedConnection> _connections = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var connection in _connections)
        {
            connection.Abort();
            await connection.DisposeAsync().WithTimeout();
        }
        _reactor.RequestStop();
        _logs.Dispose();
    }

    [Fact]
    public async Task Receive_ApplicationBehind_PausesWithoutReadingAndResumesWithWaitingData()
    {
        // Arrange: the input pauses above 8 KiB.
        var connection = Connect(maxReadBufferSize: 8192);
        connection.QueueIncoming(new byte[16384]);

        // Act: readable with more than the pause threshold.
        await connection.SignalReadableAsync().WithTimeout();

        // Assert: paused after draining the socket; a readiness event while paused reads nothing.
        Assert.Equal(ReceiveState.Paused, connection.ReceiveSide);
        int receivesWhilePaused = connection.ReceiveCalls;
        connection.QueueIncoming(Encoding.ASCII.GetBytes("tail"));
        await connection.SignalReadableAsync().WithTimeout();
        Assert.Equal(ReceiveState.PausedReadable, connection.ReceiveSide);
        Assert.Equal(receivesWhilePaused, connection.ReceiveCalls);

        // The application catches up: the reactor resumes and reads what waited, without a new readiness event.
        long received = await ReadInputAsync(connection, 16384 + 4);
        Assert.Equal(16384 + 4, received);
        await _reactor.IterationAsync().WithTimeout();
        Assert.Equal(ReceiveState.WaitingForData, connection.ReceiveSide);
    }

    [Fact]
    public async Task Receive_ReadinessWithNothingToRead_StaysWaitingForData()
    {
        var connection = Connect();

        await connection.SignalReadableAsync().WithTimeout();

        Assert.Equal(ReceiveState.WaitingForData, connection.ReceiveSide);
        Assert.Equal(1, connection.ReceiveCalls);
    }

    [Fact]
    public async Task Send_FlushOnThreadPoolWhileReactorWaits_SentByThatThreadWithoutWakingTheReactor()
    {
        // Arrange
        var connection = Connect();
        await WaitUntilAPoolThreadWouldSendAsync();
        Assert.Equal(SendState.AwaitingOutput, connection.SendSide);
        int wakesBefore = _reactor.Wakes;

        // Act: a thread-pool work item writes and flushes 16 responses (a pipelined batch).
        await Task.Run(async () =>
        {
            for (int i = 0; i < 16; i++)
            {
                await connection.Transport.Output.WriteAsync(Encoding.ASCII.GetBytes($"response-{i:D2};"));
            }
        }).WithTimeout();

        // Assert: sent from thread-pool threads, and the reactor slept through it.
        Assert.True(SpinWait.SpinUntil(() => connection.SentBytes.Length == 16 * 12, Soon), "The responses were not sent.");
        Assert.True(SpinWait.SpinUntil(() => connection.SendSide == SendState.AwaitingOutput, Soon), $"Send side is {connection.SendSide}.");
        // One gathered send on one core; an idle worker on another core may steal the send and split the batch.
        Assert.All(connection.Sends, send => Assert.True(send.OnThreadPool && !send.OnReactor, "A send did not run on a thread-pool thread."));
        Assert.Equal(16 * 12, connection.Sends.Sum(send => send.Offered));
        Assert.Equal(wakesBefore, _reactor.Wakes);
    }

    [Fact]
    public async Task Send_FlushesOfManyConnectionsInOneWorkItem_EachSentOnceWhicheverThreadSends()
    {
        // Arrange
        var connections = Enumerable.Range(0, 8).Select(_ => Connect()).ToArray();
        await _reactor.IterationAsync().WithTimeout();

        // Act: one work item answers every connection. Which thread sends each response depends on what else
        // the thread pool has queued at that moment (a lone response: its thread; a burst: the reactor, woken
        // once; ScheduleWithDeferredWake_BurstFromThreadPool_RunsAllWithFewWakes pins that wake-up count).
        await Task.Run(async () =>
        {
            foreach (var connection in connections)
            {
                await connection.Transport.Output.WriteAsync("response"u8.ToArray());
            }
        }).WithTimeout();

        // Assert: every response leaves, once, in one send, by one of the two owners the hand-off allows.
        foreach (var connection in connections)
        {
            Assert.True(SpinWait.SpinUntil(() => connection.SentBytes.Length == 8, Soon), "A response was not sent.");
            var send = Assert.Single(connection.Sends);
            Assert.True(send.OnReactor || send.OnThreadPool, "A response was sent by neither the reactor nor a pool thread.");
        }
    }

    [Fact]
    public async Task Send_FlushOnThreadPoolWhileReactorWaitsAndMoreWorkIsQueued_PostedToTheReactor()
    {
        // Arrange: the reactor waits, and the pool has work queued behind the flushing work item (a burst).
        var connection = Connect();
        await PinThePoolQueueAndWaitForTheReactorAsync(hasQueuedWork: true);

        // Act
        await Task.Run(async () => await connection.Transport.Output.WriteAsync("response"u8.ToArray())).WithTimeout();

        // Assert: the reactor sends it, woken once the burst has been worked through.
        Assert.True(SpinWait.SpinUntil(() => connection.SentBytes.Length == 8, Soon), "The response was not sent.");
        var send = Assert.Single(connection.Sends);
        Assert.True(send.OnReactor, "A pool thread sent the response although more work was queued behind it.");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Send_BatchFlushedOnThreadPoolWhileABatchingReactorRuns_GatheredForTheReactorOnlyWhenItIsBusy(bool busy)
    {
        // Arrange: a backend whose reactor sends more cheaply than a pool thread (a ring), on more than one core; a
        // reactor that is running (inside posted work) while a pool thread writes a pipelined batch, and whose last
        // wait returned more completions than there are cores (busy) or none.
        Assert.True(Environment.ProcessorCount > 1, "The hand-off to a running reactor differs on one processor; this test needs two.");
        var connection = Connect();
        connection.BatchesSends = true;
        _reactor.EventsPerWait = busy ? Environment.ProcessorCount + 1 : 0;
        await _reactor.IterationAsync().WithTimeout();
        var states = new List<SendState>();
        string expected = string.Concat(Enumerable.Range(0, 16).Select(i => $"response-{i:D2};"));

        // Act: the reactor stays busy until the producer's work item has written all 16 responses.
        await _reactor.RunAsync(() => Task.Run(async () =>
        {
            for (int i = 0; i < 16; i++)
            {
                await connection.Transport.Output.WriteAsync(Encoding.ASCII.GetBytes($"response-{i:D2};"));
                states.Add(connection.SendSide);
            }
        }).Wait(Soon)).WithTimeout();

        // Assert: busy, a work item gathers the batch for the reactor, which sends it whole in one send (posted at
        // once, it would leave in pieces); not busy, pool threads send it (an idle worker may steal the send work
        // item before the producer has written everything, so it may take more than one send).
        Assert.Equal(busy ? SendState.Gathering : SendState.ThreadPool, states[0]);
        Assert.True(SpinWait.SpinUntil(() => connection.SentBytes.Length == expected.Length, Soon), $"Sent {connection.SentBytes.Length} of {expected.Length} bytes.");
        if (busy)
        {
            Assert.True(Assert.Single(connection.Sends).OnReactor, "A pool thread sent the batch itself.");
        }
        else
        {
            Assert.All(connection.Sends, send => Assert.True(send.OnThreadPool, "The reactor sent although it was not busy."));
        }
        Assert.Equal(expected, Encoding.ASCII.GetString(connection.SentBytes));
    }

    [Fact]
    public async Task ScheduleWithDeferredWake_BurstFromThreadPool_RunsAllWithFewWakes()
    {
        await _reactor.IterationAsync().WithTimeout();
        int wakesBefore = _reactor.Wakes;
        const int Posts = 64;
        int ran = 0;
        var allRan = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        await Task.Run(() =>
        {
            for (int i = 0; i < Posts; i++)
            {
                _reactor.ScheduleWithDeferredWake(_ =>
                {
                    if (++ran == Posts)
                    {
                        allRan.SetResult();
                    }
                }, null);
            }
        }).WithTimeout();

        await allRan.Task.WithTimeout();
        Assert.InRange(_reactor.Wakes - wakesBefore, 1, Posts / 4);
    }

    [Fact]
    public async Task Send_FlushOnForeignThread_SentByReactor()
    {
        var connection = Connect();
        await _reactor.IterationAsync().WithTimeout();

        var writer = new Thread(() => connection.Transport.Output.WriteAsync("lone"u8.ToArray()).AsTask().GetAwaiter().GetResult());
        writer.Start();
        Assert.True(writer.Join(Soon));

        Assert.True(SpinWait.SpinUntil(() => connection.SentBytes.Length == 4, Soon), "The response was not sent.");
        Assert.True(Assert.Single(connection.Sends).OnReactor, "A dedicated thread's output must be sent by the reactor.");
    }

    [Fact]
    public async Task Send_SocketFull_WaitsForWritableThenSendsTheRestInOrder()
    {
        // Arrange: the socket takes 10 bytes, then reports WouldBlock.
        var connection = Connect();
        await _reactor.IterationAsync().WithTimeout();
        connection.SendCapacity = 10;
        byte[] payload = Enumerable.Range(0, 100).Select(i => (byte)i).ToArray();

        // Act: flushed on the thread pool; the partial send goes back to the reactor, which retries and waits.
        await Task.Run(async () => await connection.Transport.Output.WriteAsync(payload)).WithTimeout();
        Assert.True(SpinWait.SpinUntil(() => connection.SendSide == SendState.WaitingForWritable, Soon), $"Send side is {connection.SendSide}.");
        Assert.Equal(payload[..10], connection.SentBytes);

        connection.SendCapacity = long.MaxValue;
        await connection.SignalWritableAsync().WithTimeout();
        await _reactor.IterationAsync().WithTimeout();

        // Assert
        Assert.Equal(payload, connection.SentBytes);
        Assert.Equal(SendState.AwaitingOutput, connection.SendSide);
    }

    [Fact]
    public async Task WaitingForSocket_PauseResumeFullWritableClose_EveryChangeReachesTheBackend()
    {
        // A level-triggered backend (select) watches a socket only as OnWaitingForSocketChanged tells it: a missed
        // report would leave a connection unwatched (stalled) or watched while paused (every wait returns at once).
        var connection = Connect(maxReadBufferSize: 8192);
        await AssertWatchedAsync(connection, readable: true, writable: false);

        // The application falls behind: the receive side pauses, and catches up: it waits for data again.
        connection.QueueIncoming(new byte[16384]);
        await connection.SignalReadableAsync().WithTimeout();
        await AssertWatchedAsync(connection, readable: false, writable: false);
        Assert.Equal(16384, await ReadInputAsync(connection, 16384));
        await _reactor.IterationAsync().WithTimeout();
        await AssertWatchedAsync(connection, readable: true, writable: false);

        // The socket fills up: the send side waits for writability, then sends the rest.
        connection.SendCapacity = 10;
        await Task.Run(async () => await connection.Transport.Output.WriteAsync(new byte[100])).WithTimeout();
        Assert.True(SpinWait.SpinUntil(() => connection.SendSide == SendState.WaitingForWritable, Soon), $"Send side is {connection.SendSide}.");
        await AssertWatchedAsync(connection, readable: true, writable: true);
        connection.SendCapacity = long.MaxValue;
        await connection.SignalWritableAsync().WithTimeout();
        await _reactor.IterationAsync().WithTimeout();
        await AssertWatchedAsync(connection, readable: true, writable: false);

        // Closed: nothing is watched any more.
        connection.Abort(new ConnectionAbortedException("test abort"));
        await connection.Closed.Task.WithTimeout();
        await AssertWatchedAsync(connection, readable: false, writable: false);
        Assert.Equal(0, connection.OffReactorWatchChanges);
    }

    [Fact]
    public async Task Close_WhileWaitingForWritable_DropsOutputAndReleasesTheApplication()
    {
        // Arrange: a small output limit so that the application's flush waits for the socket.
        var connection = Connect(maxWriteBufferSize: 1024);
        await _reactor.IterationAsync().WithTimeout();
        connection.SendCapacity = 0;
        ValueTask<FlushResult> flush = default;
        await Task.Run(() => flush = connection.Transport.Output.WriteAsync(new byte[4096])).WithTimeout();
        Assert.True(SpinWait.SpinUntil(() => connection.SendSide == SendState.WaitingForWritable, Soon), $"Send side is {connection.SendSide}.");
        Assert.False(flush.IsCompleted);

        // Act
        connection.Abort(new ConnectionAbortedException("test abort"));

        // Assert: RST, the send side completed, and the blocked flush learns the reader is gone.
        Assert.True(await connection.Closed.Task.WithTimeout());
        FlushResult result = await flush.WithTimeout();
        Assert.True(result.IsCompleted);
        await _reactor.IterationAsync().WithTimeout();
        Assert.Equal(SendState.Completed, connection.SendSide);
        Assert.Equal(1, connection.CloseCalls);
    }

    [Fact]
    public async Task Close_WhileSendQueuedOnReactor_DropsItWithoutSending()
    {
        var connection = Connect();
        await _reactor.IterationAsync().WithTimeout();

        // Flushed on the reactor (as inline-scheduled application code does): queued for the end of the iteration,
        // and the connection fails before that.
        SendState queued = default;
        await _reactor.RunAsync(() =>
        {
            connection.Transport.Output.WriteAsync("never"u8.ToArray()).AsTask().GetAwaiter().GetResult();
            queued = connection.SendSide;
            connection.Fail(new InvalidOperationException("test failure"));
        }).WithTimeout();
        await _reactor.IterationAsync().WithTimeout();

        Assert.Equal(SendState.Queued, queued);
        Assert.Equal(SendState.Completed, connection.SendSide);
        Assert.Empty(connection.Sends);
        Assert.Equal(1, connection.CloseCalls);
    }

    [Fact]
    public async Task Close_WhileThreadPoolThreadIsInsideSend_SendSideComesBackAndCompletes()
    {
        // Arrange: a thread-pool thread owns the send side and is held inside Send.
        var connection = Connect();
        using var gate = new ManualResetEventSlim();
        await HoldThreadPoolSendAsync(connection, gate);
        Assert.Equal(SendState.ThreadPool, connection.SendSide);

        // Act: the reactor closes meanwhile; it cannot complete a send side it does not own.
        connection.Abort(new ConnectionAbortedException("test abort"));
        await connection.Closed.Task.WithTimeout();
        await _reactor.IterationAsync().WithTimeout();
        Assert.NotEqual(SendState.Completed, connection.SendSide);
        gate.Set();

        // Assert: the owner finishes its send, sees the cancellation, hands back; the reactor completes it.
        Assert.True(SpinWait.SpinUntil(() => connection.SendSide == SendState.Completed, Soon), $"Send side is {connection.SendSide}.");
        await connection.DisposeAsync().WithTimeout();
        Assert.Single(connection.Sends);
    }

    [Fact]
    public async Task Close_WhileThreadPoolSendTakesThePeersReset_ResetIsStillLogged()
    {
        // Arrange: a thread-pool thread is inside a send that the kernel answers with ECONNRESET.
        var connection = Connect();
        connection.GatedSendError = SocketError.ConnectionReset;
        using var gate = new ManualResetEventSlim();
        await HoldThreadPoolSendAsync(connection, gate);

        // Act: before it hands the error back, the reactor closes for another reason (Kestrel's abort after the
        // input ended: the kernel reports a reset to one caller only, and the send took it).
        connection.Abort(new ConnectionAbortedException("test abort"));
        await connection.Closed.Task.WithTimeout();
        gate.Set();

        // Assert: the reset is logged once, as Sockets' send loop logs it.
        Assert.True(SpinWait.SpinUntil(() => connection.SendSide == SendState.Completed, Soon), $"Send side is {connection.SendSide}.");
        LogEntry reset = Assert.Single(_logs.Entries, e => e.EventId.Name == "ConnectionReset");
        Assert.Equal(LogLevel.Debug, reset.Level);
    }

    [Fact]
    public async Task Fin_InlineApplicationCompletesOutputInsideTheInputCompletion_ConnectionCountedOnce()
    {
        // Arrange: inline scheduling, so the application's continuation runs on the reactor, inside the
        // transport's completion of the input, and completes the output right there (as an echo handler does).
        var closing = Connect(inlineScheduling: true);
        Connect(); // a second, open connection whose count must survive
        await _reactor.IterationAsync().WithTimeout();
        var applicationDone = closing.Transport.Input.ReadAsync().AsTask().ContinueWith(
            read =>
            {
                closing.Transport.Input.AdvanceTo(read.Result.Buffer.End);
                closing.Transport.Output.Complete();
            },
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

        // Act
        closing.QueueFin();
        await closing.SignalReadableAsync().WithTimeout();
        await applicationDone.WithTimeout();
        await closing.DisposeAsync().WithTimeout();

        // Assert: one connection completed, one still counted.
        int active = -1;
        await _reactor.RunAsync(() => active = _reactor.ActiveConnections).WithTimeout();
        Assert.Equal(1, active);
        Assert.Equal(ReceiveState.Completed, closing.ReceiveSide);
        Assert.Equal(SendState.Completed, closing.SendSide);
    }

    [Fact]
    public void Transitions_TablesAllowOnlyTheDocumentedMoves()
    {
        // A completed side never moves again; the thread-pool owner never completes the send side itself.
        foreach (ReceiveState to in Enum.GetValues<ReceiveState>())
        {
            Assert.False(ReceiveStates.CanMove(ReceiveState.Completed, to));
        }
        foreach (SendState to in Enum.GetValues<SendState>())
        {
            Assert.False(SendStates.CanMove(SendState.Completed, to));
        }
        Assert.False(SendStates.CanMove(SendState.ThreadPool, SendState.Completed));
        Assert.False(SendStates.CanMove(SendState.ThreadPool, SendState.WaitingForWritable));
        Assert.False(SendStates.CanMove(SendState.AwaitingOutput, SendState.Completed));
        Assert.False(ReceiveStates.CanMove(ReceiveState.Paused, ReceiveState.Yielded));
        Assert.True(SendStates.CanMove(SendState.ThreadPool, SendState.ToReactor));
        Assert.True(ReceiveStates.CanMove(ReceiveState.Paused, ReceiveState.PausedReadable));
    }

    /// <summary>On the reactor thread: the connection waits for exactly this, and the backend was told so.</summary>
    private async Task AssertWatchedAsync(ScriptedConnection connection, bool readable, bool writable)
    {
        (bool Readable, bool Writable) now = default, watched = default;
        await _reactor.RunAsync(() => (now, watched) = (connection.WaitingForSocket, connection.Watched)).WithTimeout();
        Assert.Equal((readable, writable), now);
        Assert.Equal(now, watched);
    }

    private ScriptedConnection Connect(long? maxReadBufferSize = null, long? maxWriteBufferSize = null, bool inlineScheduling = false)
    {
        var connection = new ScriptedConnection(_reactor, maxReadBufferSize, maxWriteBufferSize, inlineScheduling);
        _connections.Add(connection);
        return connection;
    }

    /// <summary>
    /// Sets up the hand-off's two conditions for a pool-thread send: no other pool work queued (pinned, as the
    /// process's real queue holds whatever else runs) and the reactor back in its wait, which one iteration does
    /// not guarantee.
    /// </summary>
    private Task WaitUntilAPoolThreadWouldSendAsync() => PinThePoolQueueAndWaitForTheReactorAsync(hasQueuedWork: false);

    private async Task PinThePoolQueueAndWaitForTheReactorAsync(bool hasQueuedWork)
    {
        _reactor.PinnedThreadPoolHasQueuedWork = hasQueuedWork;
        await _reactor.IterationAsync().WithTimeout();
        Assert.True(SpinWait.SpinUntil(() => _reactor.IsWaiting, Soon), "The reactor is not waiting.");
    }

    /// <summary>Writes from a thread-pool thread while the reactor waits, and returns once that thread is held inside Send.</summary>
    private async Task HoldThreadPoolSendAsync(ScriptedConnection connection, ManualResetEventSlim gate)
    {
        await WaitUntilAPoolThreadWouldSendAsync();
        connection.SendGate = gate;
        await Task.Run(async () => await connection.Transport.Output.WriteAsync("in flight"u8.ToArray())).WithTimeout();
        await connection.SendEntered.Task.WithTimeout();
    }

    private static async Task<long> ReadInputAsync(ScriptedConnection connection, long expected)
    {
        long total = 0;
        PipeReader input = connection.Transport.Input;
        while (total < expected)
        {
            ReadResult result = await input.ReadAsync().WithTimeout();
            total += result.Buffer.Length;
            input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }
        return total;
    }
}

[CollectionDefinition(nameof(ConnectionStateTests), DisableParallelization = true)]
public sealed class ConnectionStateTestsRunAlone
{
}
