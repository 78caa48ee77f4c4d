namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>
/// Who owns the send side of a <see cref="ReactorConnection"/> (the output pipe's reader and sending on the
/// socket), and what it waits for. Exactly one thread owns it at a time; only the owner moves it on, and the
/// hand-over between threads goes through the output pipe (a completed read) or the reactor's work queue, both
/// of which publish what the previous owner wrote.
/// </summary>
/// <remarks>
/// The legal moves, all made through <see cref="SendStates.CanMove"/>:
/// <code>
///   Idle ──ReadAsync pending──▶ AwaitingOutput          Idle ──output read──▶ Queued ──end of iteration──▶ (send)
///   AwaitingOutput ──continuation on the reactor──▶ Queued (Idle when closing)
///   AwaitingOutput ──continuation on a thread-pool thread──▶ ThreadPool
///   AwaitingOutput ──continuation on any other thread──▶ ToReactor
///   ThreadPool ──sent everything, next read pending──▶ AwaitingOutput
///   ThreadPool ──socket full, error, completed or cancelled output──▶ ToReactor ──posted work runs──▶ Idle
///   AwaitingOutput ──continuation posted to the reactor──▶ ToReactor ──posted work runs──▶ Queued
///   AwaitingOutput ──continuation on a pool thread, batching reactor running──▶ Gathering ──work item──▶ ToReactor
///   (send) ──socket full──▶ WaitingForWritable ──writable──▶ Idle
///   (send) ──submitted (completion backend, reactor only)──▶ Submitted ──completed──▶ Idle
///   any ──closed──▶ Completed, except Submitted ──closed──▶ Cancelling ──completed──▶ Completed
/// </code>
/// Why the thread-pool state exists: an application flushes from a thread-pool thread. Waking the reactor for
/// every flush costs an eventfd write and, on a busy core, a context switch that preempts the producer so that
/// a batch of responses leaves in pieces; and with another core free, one reactor thread sending for every pool
/// thread is slower than the pool threads sending in parallel. So the flushing thread sends itself, from a work
/// item queued on its own local queue, which runs when the producing work item ends (or sooner, on another thread
/// that steals it): all responses of one work item leave in one gathered send, and the reactor stays asleep or
/// goes on polling. Only a burst that meets a blocked reactor goes to it (one deferred wake-up for the burst); on
/// one processor output goes to the running reactor; and a reactor whose backend batches sends (a ring) gets it
/// from such a work item (Gathering) instead, whole (ReactorConnection.OnOutputReadCompleted has the rule and its
/// measurements). Only the unusual outcomes (EAGAIN, errors, the end of the output) go back to the reactor,
/// which alone closes sockets.
/// </remarks>
internal enum SendState
{
    /// <summary>The reactor owns the send side and is not reading the output pipe (before start, or handling a read).</summary>
    Idle,

    /// <summary>A read of the output pipe is pending; whichever thread runs its continuation becomes the owner.</summary>
    AwaitingOutput,

    /// <summary>A completed output read waits for the end of the current iteration, where the reactor takes and sends it.</summary>
    Queued,

    /// <summary>The socket took less than offered; the reactor resumes when the socket is writable again.</summary>
    WaitingForWritable,

    /// <summary>A thread-pool thread owns the send side: it sends at the end of its work item.</summary>
    ThreadPool,

    /// <summary>The send side is on its way back to the reactor (a posted work item takes it over).</summary>
    ToReactor,

    /// <summary>A thread-pool work item waits for the producer's work item to end, then posts the output to the reactor.</summary>
    Gathering,

    /// <summary>A completion backend's send is in flight: it owns the output's segments until its completion.</summary>
    Submitted,

    /// <summary>Closed while a send was in flight: its completion, which still comes, completes the side.</summary>
    Cancelling,

    /// <summary>The output pipe's reader is completed; nothing is sent any more.</summary>
    Completed,
}

internal static class SendStates
{
    public static bool CanMove(SendState from, SendState to) => (from, to) switch
    {
        (SendState.Completed, _) => false,
        (SendState.Idle, SendState.AwaitingOutput or SendState.Queued or SendState.Completed) => true,
        (SendState.AwaitingOutput, SendState.Queued or SendState.Idle or SendState.ThreadPool or SendState.ToReactor or SendState.Gathering) => true,
        (SendState.Gathering, SendState.ToReactor) => true,
        (SendState.ThreadPool, SendState.AwaitingOutput or SendState.ToReactor) => true,
        (SendState.ToReactor, SendState.Queued or SendState.Idle) => true,
        (SendState.Queued, SendState.Idle or SendState.WaitingForWritable or SendState.Submitted or SendState.Completed) => true,
        (SendState.Submitted, SendState.Idle or SendState.Cancelling) => true,
        (SendState.Cancelling, SendState.Completed) => true,
        (SendState.WaitingForWritable, SendState.Idle or SendState.Completed) => true,
        _ => false,
    };
}
