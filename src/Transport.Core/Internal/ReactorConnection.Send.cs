using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

// The send side: output pipe → socket. One owner at a time (SendState): the reactor, or the thread-pool thread
// that flushed the output. The state is read by the reactor while another thread may own it, hence the volatile int.
internal abstract partial class ReactorConnection : IThreadPoolWorkItem
{
    // Gathered sends one thread-pool work item makes before it yields the thread to other work.
    private const int MaxSendsPerWorkItem = 16;

    // Whether another core can run the reactor while a pool thread sends; read once, as the runtime does.
    private static readonly int s_processorCount = Environment.ProcessorCount;
    private static readonly bool s_multiprocessor = s_processorCount > 1;

    private static readonly Action<object?> s_takeBackSend = static s => ((ReactorConnection)s!).TakeBackSend();
    private static readonly Action<object?> s_queueSendOnReactor = static s => ((ReactorConnection)s!).QueueSendOnReactor();

    private readonly Action _onOutputReadCompleted;
    private int _sendState;
    private ValueTaskAwaiter<ReadResult> _readAwaiter;
    // The output read whose segments a submitted send owns, until its completion (a completion backend's).
    private ReadResult _submittedSend;
    // What a thread-pool owner hands back besides the send side itself; read once by the reactor.
    private Exception? _handedBackOutputError;
    private SocketError _handedBackSendError;

    internal SendState SendSide => (SendState)Volatile.Read(ref _sendState);

    /// <summary>Whether unsent output waits for the socket to become writable. Reactor thread only.</summary>
    internal bool IsWaitingForWritable => !_socketClosed && SendSide == SendState.WaitingForWritable;

    protected void OnWritable()
    {
        if (SendSide == SendState.WaitingForWritable)
        {
            MoveTo(SendState.Idle);
            ReadOutput();
        }
    }

    /// <summary>Moves the send side on; only its owner calls this.</summary>
    private void MoveTo(SendState next)
    {
        SendState current = SendSide;
        if (!SendStates.CanMove(current, next))
        {
            ThrowIllegalMove(current, next);
        }
        Volatile.Write(ref _sendState, (int)next);
        if ((current == SendState.WaitingForWritable) != (next == SendState.WaitingForWritable))
        {
            OnWaitingForSocketChanged();
        }
    }

    /// <summary>Reads the output pipe on the reactor (state Idle).</summary>
    private void ReadOutput()
    {
        if (_socketClosed)
        {
            return; // Shutdown completes the send side
        }
#pragma warning disable CA2012 // consumed exactly once, as the flush awaiter of the receive side
        _readAwaiter = _outputReader.ReadAsync().GetAwaiter();
#pragma warning restore CA2012
        if (_readAwaiter.IsCompleted)
        {
            QueueSendOnReactor();
            return;
        }
        // From here on the continuation owns the send side; it may already be running on another thread.
        MoveTo(SendState.AwaitingOutput);
        _readAwaiter.UnsafeOnCompleted(_onOutputReadCompleted);
    }

    /// <summary>
    /// The output pipe has something (or was completed or cancelled). Runs inline on the thread that caused it:
    /// the application's thread inside its FlushAsync or Complete, or the reactor.
    /// </summary>
    private void OnOutputReadCompleted()
    {
        // Read once: the reactor may block or wake between two reads, and the branches below assume one answer.
        bool reactorWaiting = _reactor.IsWaiting;
        if (_reactor.IsCurrentThread)
        {
            QueueSendOnReactor();
        }
        else if (!Thread.CurrentThread.IsThreadPoolThread)
        {
            // A dedicated thread of the application's: the reactor sends, within one iteration.
            MoveTo(SendState.ToReactor);
            _reactor.Schedule(s_queueSendOnReactor, this);
        }
        else if (reactorWaiting ? !_reactor.ThreadPoolHasQueuedWork : s_multiprocessor && !(BatchesSendsOnReactor && _reactor.LastEvents > s_processorCount))
        {
            // Send from this thread, from its local queue: that runs right after the producer's current work item,
            // so every response that work item writes (a pipelined batch) leaves in one send; an idle worker may
            // steal it sooner, so a producer that blocks after flushing does not hold its output back.
            // - The reactor waits and nothing else is queued (a lone response): waking it would cost an eventfd
            //   write and a context switch.
            // - The reactor runs (or polls before it blocks), there is another core, and the reactor would make the
            //   same system call as this thread, or it batches sends but is not busy: posting would make the one
            //   reactor thread send what the pool's threads can send in parallel, later, and cost it the time it
            //   polls with; on two cores this sent 19 % more responses at 16 connections and 15 % more pipelined,
            //   but at 256 connections, where both cores are busy anyway, it cost 0.6-1.3 µs of CPU per response
            //   (docs/request-path.md).
            MoveTo(SendState.ThreadPool);
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: true);
        }
        else if (!reactorWaiting && s_multiprocessor)
        {
            // The reactor runs or polls, its backend batches sends (a ring), and its last wait returned more
            // completions than there are cores: it submits this send with the rest of its iteration, which costs
            // less than this thread's own sendmsg and its hand-over. Not at once: the reactor on the other core would
            // take a pipelined batch in pieces, so a work item on this thread's local queue, which runs right after
            // the producer's, posts the whole of it. On two cores (io_uring, 5 fresh processes each) this made
            // 1.03-1.12x the responses of the pool-thread send at every point, one connection included; gathering
            // whatever the load lost one connection (0.90x), posting at once lost pipelined (0.89x)
            // (docs/request-path.md).
            MoveTo(SendState.Gathering);
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: true);
        }
        else if (reactorWaiting)
        {
            // More work is queued behind this one, likely more responses: let the reactor send them all, woken
            // once when the thread pool has worked through what is queued now, instead of once per response (a
            // woken reactor preempts the producer on a busy core and sends each batch in pieces; on one core each
            // response sent on its own made the client's next request wake the reactor every time, at half the
            // throughput).
            MoveTo(SendState.ToReactor);
            _reactor.ScheduleWithDeferredWake(s_queueSendOnReactor, this);
        }
        else
        {
            // One processor, and the reactor is running on it anyway: posting costs no wake-up, and it gathers what
            // this and other connections write before it sends (a pool-thread send here measured 1.3-1.6x slower).
            MoveTo(SendState.ToReactor);
            _reactor.Schedule(s_queueSendOnReactor, this);
        }
    }

    /// <summary>
    /// A completed output read reached the reactor: the result is taken at the end of the iteration, not now, so
    /// that what else is flushed meanwhile (the other responses of a pipelined batch that inline handlers produce
    /// after the first flush) leaves in the same send.
    /// </summary>
    private void QueueSendOnReactor()
    {
        if (_socketClosed)
        {
            // A close cancelled the read (or output came after it): drop what is unsent.
            MoveTo(SendState.Idle);
            try
            {
                _outputReader.AdvanceTo(_readAwaiter.GetResult().Buffer.End);
            }
            catch (Exception)
            {
                // The application completed its output with an error: nothing is sent anyway.
            }
            CompleteSend();
            return;
        }
        MoveTo(SendState.Queued);
        _reactor.QueueSend(this);
    }

    /// <summary>Sends what was queued during the iteration; the reactor calls it at the end of each iteration.</summary>
    internal void FlushPendingSend()
    {
        if (SendSide != SendState.Queued)
        {
            return; // a close in this iteration completed the send side
        }

        ReadResult read;
        try
        {
            read = _readAwaiter.GetResult();
        }
        catch (Exception ex)
        {
            MoveTo(SendState.Idle);
            FailOutput(ex);
            return;
        }

        if (read.IsCanceled || (read.IsCompleted && read.Buffer.IsEmpty))
        {
            _outputReader.AdvanceTo(read.Buffer.End);
            MoveTo(SendState.Idle);
            Shutdown(null, reset: false);
            return;
        }

        ReadOnlySequence<byte> buffer = read.Buffer;
        IoStart status = SendCounted(buffer, out IoResult result);
        if (status == IoStart.Pending)
        {
            // The backend owns the segments until its completion: they stay unconsumed in the pipe.
            _submittedSend = read;
            MoveTo(SendState.Submitted);
            return;
        }
        if (status == IoStart.WouldBlock)
        {
            // Keep the unsent tail in the pipe (consumed = examined = what was sent) and wait for writability;
            // the output pipe's pause threshold now holds the application back.
            _outputReader.AdvanceTo(buffer.GetPosition(result.Bytes));
            MoveTo(SendState.WaitingForWritable);
            return;
        }
        EndSendOperation(read, result);
    }

    /// <summary>
    /// A completion backend's send operation ended; exactly once per <see cref="IoStart.Pending"/> start.
    /// Reactor thread only.
    /// </summary>
    /// <param name="result">The bytes the socket took (fewer than offered: the rest is sent next), or the error.</param>
    protected void OnSendCompleted(IoResult result)
    {
        ReadResult read = _submittedSend;
        _submittedSend = default;
        _reactor.Counters.OnSend(result);
        switch (SendSide)
        {
            case SendState.Cancelling:
                // Closed meanwhile: what the operation did not send is dropped with the rest of the output.
                _outputReader.AdvanceTo(read.Buffer.End);
                CompleteSend();
                return;
            case SendState.Submitted:
                if (result.IsSuccess && result.Bytes < read.Buffer.Length)
                {
                    // A short send: consume what went, and read the rest again (with whatever came meanwhile).
                    _outputReader.AdvanceTo(read.Buffer.GetPosition(result.Bytes));
                    MoveTo(SendState.Idle);
                    ReadOutput();
                    return;
                }
                EndSendOperation(read, result);
                return;
            default:
                throw new InvalidOperationException($"A send completed with none in flight (send side {SendSide}).");
        }
    }

    /// <summary>A send took everything it was offered, or failed: consume it and go on (reactor thread).</summary>
    private void EndSendOperation(in ReadResult read, IoResult result)
    {
        _outputReader.AdvanceTo(read.Buffer.End);
        MoveTo(SendState.Idle);
        if (!result.IsSuccess)
        {
            FailSend(result.Error);
        }
        else if (read.IsCompleted)
        {
            Shutdown(null, reset: false);
        }
        else
        {
            ReadOutput();
        }
    }

    /// <summary>
    /// Sends on the thread pool (state ThreadPool; anything but a complete send goes back to the reactor), or posts
    /// the gathered output to the reactor (state Gathering): either way, after the producer's work item.
    /// </summary>
    void IThreadPoolWorkItem.Execute()
    {
        if (SendSide == SendState.Gathering)
        {
            MoveTo(SendState.ToReactor);
            _reactor.Schedule(s_queueSendOnReactor, this);
            return;
        }
        try
        {
            SendOnThreadPool();
        }
        catch (Exception ex) when (SendSide == SendState.ThreadPool)
        {
            // A bug, not an I/O error (those are results): the reactor fails the connection instead of the
            // exception ending the process on a thread-pool thread.
            _handedBackOutputError = ex;
            HandBackToReactor();
        }
    }

    private void SendOnThreadPool()
    {
        for (int sends = 0; ; sends++)
        {
            ReadResult result;
            try
            {
                result = _readAwaiter.GetResult();
            }
            catch (Exception ex)
            {
                _handedBackOutputError = ex;
                HandBackToReactor();
                return;
            }

            if (result.IsCanceled || result.IsCompleted)
            {
                // Closing and the end of the output are the reactor's business: leave the output unread for it.
                // A cancellation comes only from the reactor closing the socket, which it sees when it takes over.
                _outputReader.AdvanceTo(result.Buffer.Start);
                HandBackToReactor();
                return;
            }

            ReadOnlySequence<byte> buffer = result.Buffer;
            if (SendCounted(buffer, out IoResult sent) == IoStart.Pending)
            {
                // Only the reactor may submit: a backend that did so here broke the contract, and the segments it
                // now owns cannot be handed back safely.
                throw new InvalidOperationException("The backend submitted a send off its reactor thread.");
            }
            if (!sent.IsSuccess)
            {
                // The socket is full (only the reactor sees it become writable, so it retries from here) or failed.
                bool full = sent.Error == SocketError.WouldBlock;
                _outputReader.AdvanceTo(full ? buffer.GetPosition(sent.Bytes) : buffer.End);
                _handedBackSendError = full ? SocketError.Success : sent.Error;
                HandBackToReactor();
                return;
            }
            _outputReader.AdvanceTo(buffer.End);

#pragma warning disable CA2012 // consumed exactly once, here or in the continuation
            _readAwaiter = _outputReader.ReadAsync().GetAwaiter();
#pragma warning restore CA2012
            if (!_readAwaiter.IsCompleted)
            {
                MoveTo(SendState.AwaitingOutput);
                _readAwaiter.UnsafeOnCompleted(_onOutputReadCompleted);
                return;
            }
            if (sends == MaxSendsPerWorkItem)
            {
                // A producer on another thread keeps this one busy: continue in a fresh work item, behind others.
                ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
                return;
            }
        }
    }

    private void HandBackToReactor()
    {
        MoveTo(SendState.ToReactor);
        _reactor.Schedule(s_takeBackSend, this);
    }

    private IoStart SendCounted(in ReadOnlySequence<byte> buffer, out IoResult result)
    {
        IoStart status = StartSend(buffer, out result);
        if (status != IoStart.Pending)
        {
            _reactor.Counters.OnSend(result); // a submitted one counts at its completion
        }
        return status;
    }

    /// <summary>The reactor takes the send side back from a thread-pool thread.</summary>
    private void TakeBackSend()
    {
        MoveTo(SendState.Idle);
        Exception? outputError = _handedBackOutputError;
        SocketError sendError = _handedBackSendError;
        _handedBackOutputError = null;
        _handedBackSendError = SocketError.Success;

        if (_socketClosed)
        {
            // The pool thread's send took the peer's reset just before the reactor closed for another reason (an
            // abort that followed the reset's FIN-like end of input): the kernel reports a reset to one caller
            // only, so this is the one chance to log it, as Sockets' send loop does. Only ECONNRESET: a send that
            // met our own shutdown gets EPIPE, which is no reset of the peer's.
            if (sendError == SocketError.ConnectionReset)
            {
                _ = CreateSocketError(sendError);
            }
            CompleteSend();
        }
        else if (outputError is not null)
        {
            FailOutput(outputError);
        }
        else if (sendError != SocketError.Success)
        {
            FailSend(sendError);
        }
        else
        {
            ReadOutput();
        }
    }

    private void FailOutput(Exception error)
    {
        // The application completed its output with an error: close abortively, as Sockets does.
        Shutdown(error, reset: !s_finOnError);
    }

    private void FailSend(SocketError error)
    {
        // The peer is gone: this also ends a receive side that was paused and would never see it otherwise.
        Shutdown(CreateSocketError(error), reset: !s_finOnError);
    }

    /// <summary>Ends the send side as part of closing: at once if the reactor owns it, else when it is handed back.</summary>
    private void EndSend()
    {
        switch (SendSide)
        {
            case SendState.Completed:
                return;
            case SendState.Queued:
                // Unsent output is dropped on close, as with Sockets (the read's result is never taken).
            case SendState.Idle:
            case SendState.WaitingForWritable:
                CompleteSend();
                return;
            case SendState.Submitted:
                // The operation owns the segments: the close asked it to end, and its completion completes the side.
                MoveTo(SendState.Cancelling);
                return;
            case SendState.Cancelling:
                return;
            default:
                // AwaitingOutput, ThreadPool, Gathering, ToReactor: the owner's current or next read sees the
                // cancellation (a pending read's continuation runs right here, inline) and the send side comes back
                // to the reactor, which completes it then. Safe from any state: without a pending read it cancels
                // the next one.
                _outputReader.CancelPendingRead();
                return;
        }
    }

    private void CompleteSend()
    {
        MoveTo(SendState.Completed);
        _outputReader.Complete();
        CheckProcessingCompleted();
    }
}
