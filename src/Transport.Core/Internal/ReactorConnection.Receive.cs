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

    internal ReceiveState ReceiveSide => _receiveState;

    /// <summary>
    /// Whether the receive side wants to hear about readability: a level-triggered backend (select) watches the
    /// socket only while this is true, so that a paused or finished receive side is not reported ready again and
    /// again. <see cref="OnWaitingForSocketChanged"/> tells it when this changes.
    /// </summary>
    internal bool IsWaitingForReadable => _started && !_socketClosed && _receiveState == ReceiveState.WaitingForData;

    /// <summary>Readiness for reading. <paramref name="peerClosed"/>: the poller saw hang-up or error.</summary>
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
            // Yielded and PausedReadable already know data is waiting; Completed ignores it.
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
            Memory<byte> memory = _inputWriter.GetMemory(MinimumReceiveSize);
            IoResult result = Receive(memory.Span);

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

            if (result.Error == SocketError.WouldBlock)
            {
                drained = true;
                break;
            }
            if (result.Error == SocketError.Interrupted)
            {
                continue;
            }

            CompleteReceive(CreateSocketError(result.Error));
            return;
        }

        bool paused = advanced && !FlushInput();
        if (_receiveState == ReceiveState.Completed)
        {
            return; // the application completed the input while we flushed
        }
        if (paused)
        {
            MoveTo(drained ? ReceiveState.Paused : ReceiveState.PausedReadable);
            TransportLog.ConnectionPause(_logger, this);
            _reactor.Counters.OnReceivePause();
            _flushAwaiter.UnsafeOnCompleted(_onFlushCompleted);
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
        TransportLog.ConnectionResume(_logger, this);
        _reactor.Counters.OnReceiveResume();
        bool dataWaiting = _receiveState == ReceiveState.PausedReadable;
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
        HandleFlushResult(result);
        if (_receiveState == ReceiveState.Completed)
        {
            return;
        }
        if (dataWaiting)
        {
            ReceiveUntilBlocked();
        }
        else
        {
            MoveTo(ReceiveState.WaitingForData);
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

    private void CompleteReceive(Exception? error)
    {
        if (_receiveState == ReceiveState.Completed)
        {
            return;
        }
        MoveTo(ReceiveState.Completed);
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
                return;
            case ReceiveState.Paused:
            case ReceiveState.PausedReadable:
                // The paused flush's continuation sees the cancellation and completes the input.
                _inputWriter.CancelPendingFlush();
                return;
            default:
                CompleteReceive(_shutdownReason);
                return;
        }
    }
}
