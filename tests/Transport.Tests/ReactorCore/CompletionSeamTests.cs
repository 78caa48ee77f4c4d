using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.ReactorCore;

/// <summary>
/// The operation-level seam (ReactorConnection.Backend.cs) driven by a fake completion backend
/// (<see cref="CompletionConnection"/>): receives and sends submitted and completed later, bytes delivered from a
/// provided-buffer ring, and the two-phase close — a buffer owned by an operation in flight is never released
/// before its completion, a completion after the close is dropped, and every buffer comes back exactly once.
/// </summary>
public sealed class CompletionSeamTests : IAsyncLifetime
{
    private readonly CountingMemoryPoolFactory _pool = new();
    private readonly ScriptedReactor _reactor;
    private readonly List<CompletionConnection> _connections = [];

    public CompletionSeamTests() => _reactor = new ScriptedReactor(memoryPoolFactory: _pool);

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _reactor.RequestStop();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Receive_SubmittedAtStart_CompletionLandsInTheInputAndTheNextIsSubmitted()
    {
        var connection = await ConnectAsync();
        Assert.Equal((ReceiveState.Submitted, 1), await OnReactor(() => (connection.ReceiveSide, connection.ReceivesStarted)));

        await connection.CompleteReceiveAsync("GET / HTTP/1.1\r\n"u8.ToArray()).WithTimeout();

        Assert.Equal("GET / HTTP/1.1\r\n", await ReadAsync(connection, 16));
        Assert.Equal((ReceiveState.Submitted, 2), await OnReactor(() => (connection.ReceiveSide, connection.ReceivesStarted)));
        Assert.Equal(0, connection.ContractViolations);
    }

    [Fact]
    public async Task Receive_CloseWhileInFlight_InputEndsOnlyAtTheCompletionWhoseBytesAreDropped()
    {
        var connection = await ConnectAsync();
        Task<ReadResult> pendingRead = connection.Transport.Input.ReadAsync().AsTask();

        // Act: the application aborts while the receive owns pipe memory.
        connection.Abort(new ConnectionAbortedException("test abort"));
        await connection.Closed.Task.WithTimeout();
        await _reactor.IterationAsync().WithTimeout();

        // Assert: the operation was asked to end once (by the close), the input is not completed, and the memory the
        // operation writes into is still rented.
        Assert.Equal(ReceiveState.Cancelling, await OnReactor(() => connection.ReceiveSide));
        Assert.False(pendingRead.IsCompleted);
        Assert.True(_pool.OutstandingBytes > 0, "The receive's memory went back to the pool while the operation owned it.");

        // The completion raced with the close and carries bytes: they are dropped, and only now the input ends, with
        // the close's reason (as the Sockets transport's input does).
        await connection.CompleteReceiveAsync("late"u8.ToArray()).WithTimeout();
        var ended = await Assert.ThrowsAsync<ConnectionAbortedException>(() => pendingRead.WithTimeout());
        Assert.Equal("test abort", ended.Message);
        Assert.Equal(ReceiveState.Completed, await OnReactor(() => connection.ReceiveSide));
        Assert.Equal(1, connection.ReceivesStarted);
        Assert.Equal(0, connection.ContractViolations);
        await DisposeAndAssertBuffersReturnedAsync(connection);
    }

    [Fact]
    public async Task Receive_ApplicationCompletesInputWhileInFlight_OperationCancelledThenSideCompletes()
    {
        var connection = await ConnectAsync();

        await connection.Transport.Input.CompleteAsync().WithTimeout();
        // The input's end is seen at the next flush: the completion of the operation in flight.
        await connection.CompleteReceiveAsync("body"u8.ToArray()).WithTimeout();

        Assert.Equal(ReceiveState.Completed, await OnReactor(() => connection.ReceiveSide));
        Assert.False(connection.ReceiveInFlight);
        Assert.Equal(1, connection.ReceivesStarted);
        Assert.Equal(0, connection.ContractViolations);
    }

    [Fact]
    public async Task Receive_FinCompletion_EndsTheInputWithoutAnError()
    {
        var connection = await ConnectAsync();
        await connection.CompleteReceiveAsync("last"u8.ToArray()).WithTimeout();

        await connection.CompleteReceiveAsync([]).WithTimeout();

        ReadResult read = await connection.Transport.Input.ReadAsync().AsTask().WithTimeout();
        Assert.Equal("last", Encoding.ASCII.GetString(read.Buffer));
        Assert.True(read.IsCompleted);
        Assert.Equal(ReceiveState.Completed, await OnReactor(() => connection.ReceiveSide));
    }

    [Fact]
    public async Task Receive_ResetCompletion_EndsTheInputWithConnectionReset()
    {
        var connection = await ConnectAsync();

        await connection.FailReceiveAsync(SocketError.ConnectionReset).WithTimeout();

        await Assert.ThrowsAsync<ConnectionResetException>(async () => await connection.Transport.Input.ReadAsync().AsTask().WithTimeout());
    }

    [Fact]
    public async Task Deliver_BytesCopiedIntoTheInput_EveryRingBufferBackOnceEvenAfterClose()
    {
        var connection = await ConnectAsync(delivers: true);
        await connection.DeliverAsync("abc"u8.ToArray()).WithTimeout();
        await connection.DeliverAsync("def"u8.ToArray()).WithTimeout();
        Assert.Equal("abcdef", await ReadAsync(connection, 6));

        // Close with the multishot receive in flight: a delivery that raced with the close is dropped, and its
        // buffer still goes back.
        connection.Abort(new ConnectionAbortedException("test abort"));
        await connection.Closed.Task.WithTimeout();
        await connection.DeliverAsync("ghi"u8.ToArray()).WithTimeout();
        Assert.Equal(ReceiveState.Cancelling, await OnReactor(() => connection.ReceiveSide));
        await connection.FailReceiveAsync(SocketError.OperationAborted).WithTimeout();

        await Assert.ThrowsAsync<ConnectionAbortedException>(() => connection.Transport.Input.ReadAsync().AsTask().WithTimeout());
        Assert.Equal(ReceiveState.Completed, await OnReactor(() => connection.ReceiveSide));
        Assert.Equal(3, connection.RingBuffersTaken);
        Assert.Equal(3, connection.RingBuffersReturned);
        Assert.Equal(0, connection.ContractViolations);
        await DisposeAndAssertBuffersReturnedAsync(connection);
    }

    [Fact]
    public async Task Deliver_ApplicationBehind_StopsTheOperationKeepsWhatStillCameAndResumes()
    {
        // The input pauses at 64 bytes unread.
        var connection = await ConnectAsync(delivers: true, maxReadBufferSize: 64);

        await connection.DeliverAsync(new byte[64]).WithTimeout();
        Assert.Equal((ReceiveState.Pausing, 1), await OnReactor(() => (connection.ReceiveSide, connection.ReceiveCancels)));
        // Delivered before the stop took effect: kept, not lost.
        await connection.DeliverAsync("tail"u8.ToArray()).WithTimeout();
        await connection.FailReceiveAsync(SocketError.OperationAborted).WithTimeout();
        Assert.Equal(ReceiveState.PausedReadable, await OnReactor(() => connection.ReceiveSide));

        // The application catches up: what came while paused is flushed and a new operation is submitted.
        string received = await ReadAsync(connection, 64 + 4);
        Assert.EndsWith("tail", received, StringComparison.Ordinal);
        await _reactor.IterationAsync().WithTimeout();
        Assert.Equal((ReceiveState.Submitted, 2), await OnReactor(() => (connection.ReceiveSide, connection.ReceivesStarted)));
        Assert.Equal(0, connection.ContractViolations);
    }

    [Fact]
    public async Task Deliver_ApplicationCatchesUpBeforeTheStopTakesEffect_TheStoppedOperationsEndStartsTheNext()
    {
        var connection = await ConnectAsync(delivers: true, maxReadBufferSize: 64);
        await connection.DeliverAsync(new byte[64]).WithTimeout();

        Assert.Equal(64, (await ReadAsync(connection, 64)).Length);
        await _reactor.IterationAsync().WithTimeout();
        Assert.Equal(ReceiveState.Submitted, await OnReactor(() => connection.ReceiveSide));
        await connection.FailReceiveAsync(SocketError.OperationAborted).WithTimeout();

        Assert.Equal((ReceiveState.Submitted, 2), await OnReactor(() => (connection.ReceiveSide, connection.ReceivesStarted)));
        Assert.Equal(0, connection.ContractViolations);
    }

    [Fact]
    public async Task Deliver_ApplicationCompletesInputWhilePausing_TheStoppedOperationsEndCompletesTheSide()
    {
        var connection = await ConnectAsync(delivers: true, maxReadBufferSize: 64);
        await connection.DeliverAsync(new byte[64]).WithTimeout();
        Assert.Equal(ReceiveState.Pausing, await OnReactor(() => connection.ReceiveSide));

        // The application gives up on its input without reading: the pending flush ends, and with it the input.
        await connection.Transport.Input.CompleteAsync().WithTimeout();
        await _reactor.IterationAsync().WithTimeout();
        Assert.Equal(ReceiveState.Cancelling, await OnReactor(() => connection.ReceiveSide));
        await connection.DeliverAsync("dropped"u8.ToArray()).WithTimeout();
        await connection.FailReceiveAsync(SocketError.OperationAborted).WithTimeout();

        Assert.Equal(ReceiveState.Completed, await OnReactor(() => connection.ReceiveSide));
        Assert.Equal(2, connection.RingBuffersReturned);
        Assert.Equal(0, connection.ContractViolations);
    }

    [Fact]
    public async Task Send_SubmittedOnTheReactor_SegmentsStayInThePipeUntilTheCompletion()
    {
        var connection = await ConnectAsync();

        await WriteFromForeignThreadAsync(connection, "first;");
        Assert.True(await OnReactor(() => connection.SendSide == SendState.Submitted));
        // Written while the first send is in flight: it waits for that completion, then leaves in the next send.
        await WriteFromForeignThreadAsync(connection, "second;");
        Assert.Equal((1, 6L), await OnReactor(() => (connection.SendsStarted, connection.InFlightSendLength)));

        await connection.CompleteSendAsync().WithTimeout();
        Assert.Equal((2, 7L), await OnReactor(() => (connection.SendsStarted, connection.InFlightSendLength)));
        await connection.CompleteSendAsync().WithTimeout();

        Assert.Equal("first;second;", Encoding.ASCII.GetString(connection.SentBytes));
        Assert.Equal(SendState.AwaitingOutput, await OnReactor(() => connection.SendSide));
        Assert.Equal(0, connection.ContractViolations);
    }

    [Fact]
    public async Task Send_ShortCompletion_TheRestIsSentNext()
    {
        var connection = await ConnectAsync();
        await WriteFromForeignThreadAsync(connection, "0123456789");

        await connection.CompleteSendAsync(bytes: 4).WithTimeout();
        Assert.Equal((2, 6L), await OnReactor(() => (connection.SendsStarted, connection.InFlightSendLength)));
        await connection.CompleteSendAsync().WithTimeout();

        Assert.Equal("0123456789", Encoding.ASCII.GetString(connection.SentBytes));
    }

    [Fact]
    public async Task Send_CloseWhileInFlight_SideCompletesOnlyAtTheCompletion()
    {
        var connection = await ConnectAsync();
        await WriteFromForeignThreadAsync(connection, "in flight");

        connection.Abort(new ConnectionAbortedException("test abort"));
        await connection.Closed.Task.WithTimeout();
        await _reactor.IterationAsync().WithTimeout();
        Assert.Equal(SendState.Cancelling, await OnReactor(() => connection.SendSide));

        await connection.CompleteSendAsync(error: SocketError.OperationAborted).WithTimeout();
        Assert.Equal(SendState.Completed, await OnReactor(() => connection.SendSide));
        await connection.FailReceiveAsync(SocketError.OperationAborted).WithTimeout();
        Assert.Equal(0, connection.ContractViolations);
        await DisposeAndAssertBuffersReturnedAsync(connection);
    }

    [Fact]
    public void ReceiveStates_AnOperationInFlightIsCancelledBeforeTheInputCompletes()
    {
        // Legal: submitting, the completion, a stop while paused, cancelling, and only a completion ends that.
        (ReceiveState From, ReceiveState To)[] legal =
        [
            (ReceiveState.WaitingForData, ReceiveState.Submitted), (ReceiveState.PausedReadable, ReceiveState.Submitted),
            (ReceiveState.Submitted, ReceiveState.WaitingForData), (ReceiveState.Submitted, ReceiveState.Pausing),
            (ReceiveState.Submitted, ReceiveState.Cancelling), (ReceiveState.Pausing, ReceiveState.PausedReadable),
            (ReceiveState.Pausing, ReceiveState.Submitted), (ReceiveState.Pausing, ReceiveState.Cancelling),
            (ReceiveState.Cancelling, ReceiveState.Completed),
        ];
        (ReceiveState From, ReceiveState To)[] illegal =
        [
            (ReceiveState.Submitted, ReceiveState.Completed), (ReceiveState.Pausing, ReceiveState.Completed),
            (ReceiveState.Cancelling, ReceiveState.WaitingForData), (ReceiveState.Cancelling, ReceiveState.Submitted),
            (ReceiveState.Submitted, ReceiveState.Yielded), (ReceiveState.Paused, ReceiveState.Submitted),
        ];
        Assert.All(legal, move => Assert.True(ReceiveStates.CanMove(move.From, move.To), $"{move.From} -> {move.To}"));
        Assert.All(illegal, move => Assert.False(ReceiveStates.CanMove(move.From, move.To), $"{move.From} -> {move.To}"));
    }

    [Fact]
    public void SendStates_OnlyTheReactorSubmitsAndOnlyACompletionEndsIt()
    {
        (SendState From, SendState To)[] legal =
        [
            (SendState.Queued, SendState.Submitted), (SendState.Submitted, SendState.Idle),
            (SendState.Submitted, SendState.Cancelling), (SendState.Cancelling, SendState.Completed),
        ];
        (SendState From, SendState To)[] illegal =
        [
            (SendState.Submitted, SendState.Completed), (SendState.Cancelling, SendState.Idle),
            (SendState.ThreadPool, SendState.Submitted), (SendState.AwaitingOutput, SendState.Submitted),
        ];
        Assert.All(legal, move => Assert.True(SendStates.CanMove(move.From, move.To), $"{move.From} -> {move.To}"));
        Assert.All(illegal, move => Assert.False(SendStates.CanMove(move.From, move.To), $"{move.From} -> {move.To}"));
    }

    private async Task<CompletionConnection> ConnectAsync(bool delivers = false, long? maxReadBufferSize = null)
    {
        var connection = new CompletionConnection(_reactor, delivers, maxReadBufferSize);
        _connections.Add(connection);
        await _reactor.IterationAsync().WithTimeout();
        return connection;
    }

    private Task<T> OnReactor<T>(Func<T> read)
    {
        T value = default!;
        return _reactor.RunAsync(() => value = read()).ContinueWith(_ => value, TaskScheduler.Default).WithTimeout();
    }

    // An application thread the transport cannot hand to the pool: its output reaches the reactor, which submits.
    private async Task WriteFromForeignThreadAsync(CompletionConnection connection, string text)
    {
        await ForeignThread.RunAsync(() => connection.Transport.Output.WriteAsync(Encoding.ASCII.GetBytes(text)).AsTask().GetAwaiter().GetResult()).WithTimeout();
        await _reactor.IterationAsync().WithTimeout();
    }

    private static async Task<string> ReadAsync(CompletionConnection connection, int count)
    {
        PipeReader input = connection.Transport.Input;
        while (true)
        {
            ReadResult read = await input.ReadAsync().AsTask().WithTimeout();
            if (read.Buffer.Length >= count || read.IsCompleted)
            {
                ReadOnlySequence<byte> taken = read.Buffer.Slice(0, Math.Min(count, read.Buffer.Length));
                string text = Encoding.ASCII.GetString(taken);
                input.AdvanceTo(taken.End);
                return text;
            }
            input.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }
    }

    private async Task DisposeAndAssertBuffersReturnedAsync(CompletionConnection connection)
    {
        await connection.DisposeAsync().WithTimeout();
        await _reactor.IterationAsync().WithTimeout();
        Assert.Equal(0, _pool.OutstandingBytes);
    }
}
