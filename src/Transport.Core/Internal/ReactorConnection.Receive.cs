using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

// The receive side: socket → input pipe. Reactor thread only; its one state is _receiveState (ReceiveState).
internal abstract partial class ReactorConnection
{
    // Kestrel's Sockets transport asks for 2 KiB: smaller tails of a block are not worth a recv.
    private const int MinimumReceiveSize = 2048;

    private readonly Action _onFlushCompleted;
    private ReceiveState _receiveState;
    // A fact from the poller, not a state: hang-up or error was reported, so read until the FIN shows up.
    private bool _peerClosedHint;
    private ValueTaskAwaiter<FlushResult> _flushAwaiter;
    // Why the input ends, kept while the last completion of a cancelled operation is awaited.
    private Exception? _receiveEndReason;

    internal ReceiveState ReceiveSide => _receiveState;

    /// <summary>
    /// Whether the receive side wants to hear about readability: a level-triggered backend (select) watches the
    /// socket only while this is true, so that a paused or finished receive side is not reported ready again and
    /// again. <see cref="OnWaitingForSocketChanged"/> tells it when this changes.
    /// </summary>
    internal bool IsWaitingForReadable => _started && !_socketClosed && _receiveState == ReceiveState.WaitingForData;

    /// <summary>Readiness for reading (a readiness backend). <paramref name="peerClosed"/>: the poller saw hang-up or error.</summary>
    protected void OnReadable(bool peerClosed)
    {
        _peerClosedHint |= peerClosed;
        switch (_receiveState)
        {
            case ReceiveState.WaitingForData:
                ReceiveUntilBlocked();
                break;
            case ReceiveState.Paused:
                MoveTo(ReceiveState.PausedReadable);
                break;
            // Yielded and PausedReadable already know data is waiting; Completed and a completion backend's states
            // (an operation in flight) have nothing to do with readiness.
        }
    }

    /// <summary>The reactor resumes a receive side that yielded for fairness.</summary>
    internal void ContinueReceive()
    {
        if (_receiveState == ReceiveState.Yielded)
        {
            ReceiveUntilBlocked();
        }
    }

    private void MoveTo(ReceiveState next)
    {
        if (!ReceiveStates.CanMove(_receiveState, next))
        {
            ThrowIllegalMove(_receiveState, next);
        }
        bool wasWaiting = _receiveState == ReceiveState.WaitingForData;
        _receiveState = next;
        if (wasWaiting != (next == ReceiveState.WaitingForData))
        {
            OnWaitingForSocketChanged();
        }
    }

    private void ReceiveUntilBlocked()
    {
        if (_socketClosed)
        {
            return;
        }

        int receives = 0;
        bool advanced = false;
        bool drained;
        while (true)
        {
            Memory<byte> memory = DeliversReceivedBytes ? Memory<byte>.Empty : _inputWriter.GetMemory(MinimumReceiveSize);
            IoStart status = StartReceive(memory, out IoResult result);

            if (status == IoStart.Pending)
            {
                if (!SubmitsOperations)
                {
                    // The flush of what was received inline would race with the operation that owns pipe memory now.
                    throw new InvalidOperationException("A readiness backend submitted a receive; only a backend that SubmitsOperations may.");
                }
                MoveTo(ReceiveState.Submitted);
                return;
            }
            if (status == IoStart.WouldBlock)
            {
                drained = true;
                break;
            }

            if (result.IsSuccess)
            {
                if (result.Bytes == 0)
                {
                    TransportLog.ConnectionReadFin(_logger, this);
                    // Complete commits what was advanced but not flushed, so no byte before the FIN is lost.
                    CompleteReceive(null);
                    return;
                }

                _inputWriter.Advance((int)result.Bytes);
                advanced = true;

                // A short read drained the socket; any later data raises a new readiness event. A hang-up seen by
                // the poller raises none, so then keep reading until the FIN (0) shows up.
                if (result.Bytes < memory.Length && !_peerClosedHint)
                {
                    drained = true;
                    break;
                }
                if (++receives == ReactorLoop.MaxReceivesPerTurn)
                {
                    drained = false;
                    break;
                }
                continue;
            }

            if (result.Error == SocketError.Interrupted)
            {
                continue;
            }

            CompleteReceive(CreateSocketError(result.Error));
            return;
        }

        bool paused = advanced && !FlushInput();
        if (IsInputEnding)
        {
            return; // the application completed the input while we flushed
        }
        if (paused)
        {
            Pause(drained ? ReceiveState.Paused : ReceiveState.PausedReadable);
        }
        else if (drained)
        {
            MoveTo(ReceiveState.WaitingForData);
        }
        else
        {
            MoveTo(ReceiveState.Yielded);
            _reactor.QueueReceive(this);
        }
    }

    /// <summary>
    /// Bytes a completion backend received into a buffer of its own (a provided-buffer ring) while its receive is in
    /// flight. Copied into the input pipe before this returns, whatever the state: the buffer is the backend's again
    /// at once. Reactor thread only.
    /// </summary>
    protected void OnReceived(ReadOnlySpan<byte> bytes)
    {
        switch (_receiveState)
        {
            case ReceiveState.Submitted:
                _inputWriter.Write(bytes);
                if (!FlushInput() && !IsInputEnding)
                {
                    // The application is behind: ask the operation to stop; what it still delivers is kept.
                    Pause(ReceiveState.Pausing);
                    CancelReceive();
                }
                return;
            case ReceiveState.Pausing:
                // Flushed once the application catches up (OnFlushCompleted).
                _inputWriter.Write(bytes);
                return;
            case ReceiveState.Cancelling:
            case ReceiveState.Completed:
                // The input is ending or ended: what came after that is dropped.
                return;
            default:
                throw new InvalidOperationException($"Bytes were delivered with no receive in flight (receive side {_receiveState}).");
        }
    }

    /// <summary>
    /// A completion backend's receive operation ended; exactly once per <see cref="IoStart.Pending"/> start.
    /// Reactor thread only.
    /// </summary>
    /// <param name="result">
    /// For a receive into input-pipe memory: the bytes written there, 0 for the peer's FIN, or the error. For a
    /// delivering backend (whose bytes came through <see cref="OnReceived"/>): 0 for the FIN, or the error.
    /// <see cref="SocketError.OperationAborted"/> after <see cref="CancelReceive"/> or a close.
    /// </param>
    protected void OnReceiveCompleted(IoResult result)
    {
        switch (_receiveState)
        {
            case ReceiveState.Cancelling:
                // What the operation received after the input began to end is dropped; the input ends now.
                MoveTo(ReceiveState.Completed);
                EndInput(_receiveEndReason);
                return;
            case ReceiveState.Pausing:
                // The stop asked for while the application is behind took effect: receive again once it catches up.
                MoveTo(ReceiveState.PausedReadable);
                break;
            case ReceiveState.Submitted:
                MoveTo(ReceiveState.WaitingForData);
                break;
            default:
                throw new InvalidOperationException($"A receive completed with none in flight (receive side {_receiveState}).");
        }

        bool paused = _receiveState == ReceiveState.PausedReadable;
        if (!result.IsSuccess)
        {
            if (result.Error is not (SocketError.OperationAborted or SocketError.Interrupted))
            {
                CompleteReceive(CreateSocketError(result.Error));
            }
            else if (!paused)
            {
                ReceiveUntilBlocked(); // a stop that is no longer wanted (the application caught up): go on
            }
            return;
        }
        if (result.Bytes == 0)
        {
            TransportLog.ConnectionReadFin(_logger, this);
            CompleteReceive(null);
            return;
        }
        if (paused)
        {
            return;
        }
        if (!DeliversReceivedBytes)
        {
            // Into the memory GetMemory handed to StartReceive, which nothing else touched meanwhile.
            _inputWriter.Advance((int)result.Bytes);
            if (!FlushInput())
            {
                if (!IsInputEnding)
                {
                    Pause(ReceiveState.PausedReadable);
                }
                return;
            }
            if (IsInputEnding)
            {
                return;
            }
        }
        ReceiveUntilBlocked();
    }

    private bool IsInputEnding => _receiveState is ReceiveState.Completed or ReceiveState.Cancelling;

    /// <summary>The input flush is pending: stop receiving (in <paramref name="state"/>) until it completes.</summary>
    private void Pause(ReceiveState state)
    {
        MoveTo(state);
        WaitForFlush();
    }

    /// <summary>Resumes in <see cref="OnFlushCompleted"/> once the pending input flush completes.</summary>
    private void WaitForFlush()
    {
        TransportLog.ConnectionPause(_logger, this);
        _reactor.Counters.OnReceivePause();
        _flushAwaiter.UnsafeOnCompleted(_onFlushCompleted);
    }

    /// <summary>Flushes what was received; false when the flush is pending (the application is behind).</summary>
    private bool FlushInput()
    {
        // The awaiter is consumed exactly once (GetResult, inline or in the continuation); keeping it in a field
        // instead of awaiting avoids an async state machine per flush on the reactor.
#pragma warning disable CA2012
        _flushAwaiter = _inputWriter.FlushAsync().GetAwaiter();
#pragma warning restore CA2012
        if (!_flushAwaiter.IsCompleted)
        {
            return false;
        }
        HandleFlushResult(_flushAwaiter.GetResult());
        return true;
    }

    private void OnFlushCompleted()
    {
        FlushResult result;
        try
        {
            result = _flushAwaiter.GetResult();
        }
        catch (Exception ex)
        {
            CompleteReceive(ex);
            return;
        }
        if (IsInputEnding)
        {
            return; // ended while paused (a delivering operation's end or error); the awaiter is consumed
        }
        TransportLog.ConnectionResume(_logger, this);
        _reactor.Counters.OnReceiveResume();
        ReceiveState paused = _receiveState;
        HandleFlushResult(result);
        if (IsInputEnding)
        {
            return;
        }
        // What a delivering operation wrote while paused is still unflushed.
        if (_inputWriter.UnflushedBytes > 0)
        {
            bool flushed = FlushInput();
            if (IsInputEnding)
            {
                return; // the application completed the input meanwhile
            }
            if (!flushed)
            {
                WaitForFlush(); // still paused, in the same state
                return;
            }
        }
        switch (paused)
        {
            case ReceiveState.Pausing:
                // Caught up before the stopped operation ended: it goes on, and its end starts the next one.
                MoveTo(ReceiveState.Submitted);
                break;
            case ReceiveState.PausedReadable:
                ReceiveUntilBlocked();
                break;
            default:
                MoveTo(ReceiveState.WaitingForData);
                break;
        }
    }

    private void HandleFlushResult(FlushResult result)
    {
        // Completed: the application is done with the input. Canceled: the socket closed while paused.
        if (result.IsCompleted || result.IsCanceled || _socketClosed)
        {
            CompleteReceive(_shutdownReason);
        }
    }

    /// <summary>
    /// Ends the input with <paramref name="error"/> (null: the peer's FIN). With an operation in flight, which owns
    /// pipe memory or still delivers, the operation is cancelled first and its last completion ends the input.
    /// </summary>
    private void CompleteReceive(Exception? error)
    {
        switch (_receiveState)
        {
            case ReceiveState.Completed:
            case ReceiveState.Cancelling:
                return;
            case ReceiveState.Submitted:
            case ReceiveState.Pausing:
                if (_receiveState == ReceiveState.Pausing)
                {
                    // Its continuation then runs now and finds the input ending, instead of whenever the application reads.
                    _inputWriter.CancelPendingFlush();
                }
                _receiveEndReason = error;
                MoveTo(ReceiveState.Cancelling);
                if (!_socketClosed)
                {
                    CancelReceive(); // a close has asked every operation to end already
                }
                return;
        }
        MoveTo(ReceiveState.Completed);
        EndInput(error);
    }

    private void EndInput(Exception? error)
    {
        _inputWriter.Complete(_shutdownReason ?? error);

        // Kestrel reacts to this token by aborting or disposing; running that inline on the reactor (or under
        // a lock) would re-enter the transport, so it always goes through the thread pool.
        ThreadPool.UnsafeQueueUserWorkItem(static c => c.CancelConnectionClosed(), this, preferLocal: false);
        CheckProcessingCompleted();
    }

    private void CancelConnectionClosed()
    {
        try
        {
            _connectionClosedSource.Cancel();
        }
        catch (Exception ex)
        {
            // An application callback threw; the connection is already closing, so only report it.
            TransportLog.ConnectionError(_logger, this, ex);
        }
    }

    private void EndReceive()
    {
        switch (_receiveState)
        {
            case ReceiveState.Completed:
            case ReceiveState.Cancelling:
                return;
            case ReceiveState.Paused:
            case ReceiveState.PausedReadable:
                // The paused flush's continuation sees the cancellation and completes the input.
                _inputWriter.CancelPendingFlush();
                return;
            default:
                // With an operation in flight (Submitted, Pausing), the input ends when its last completion comes.
                CompleteReceive(_shutdownReason);
                return;
        }
    }
}
