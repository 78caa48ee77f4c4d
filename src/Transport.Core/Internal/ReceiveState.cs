namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>
/// Where the receive side of a <see cref="ReactorConnection"/> is. Reactor thread only, so a plain field.
/// </summary>
/// <remarks>
/// The legal moves, all made through <see cref="ReceiveStates.CanMove"/>:
/// <code>
///   readiness backends (epoll, select):
///   WaitingForData ──readable──▶ (receive) ──drained──▶ WaitingForData
///                                          ──16 reads──▶ Yielded ──next iteration──▶ (receive)
///                                          ──flush pending, drained──────▶ Paused
///                                          ──flush pending, not drained──▶ PausedReadable
///   Paused ──readable──▶ PausedReadable
///   Paused ──flush completes──▶ WaitingForData          PausedReadable ──flush completes──▶ (receive)
///
///   completion backends (an operation in flight):
///   (receive) ──submitted──▶ Submitted ──completed──▶ WaitingForData ──▶ (receive: submitted again)
///                                                                      ──flush pending──▶ PausedReadable
///   Submitted ──bytes delivered, flush pending, stop asked──▶ Pausing ──last completion──▶ PausedReadable
///   Pausing ──flush completes first──▶ Submitted (the stopped operation's end starts the next)
///
///   any ──FIN, error, close──▶ Completed, except with an operation in flight:
///   Submitted, Pausing ──FIN seen by a delivery, error, close──▶ Cancelling ──last completion──▶ Completed
/// </code>
/// Edge-triggered backends report readiness once, so "data is waiting" must be remembered while paused or
/// yielded; it is part of the state instead of a separate flag. An operation in flight owns input-pipe memory (or
/// delivers into the pipe), so the input is completed only once its last completion has come.
/// </remarks>
internal enum ReceiveState
{
    /// <summary>The socket is drained and nothing is in flight; the next readiness event receives.</summary>
    WaitingForData,

    /// <summary>Readable, but this connection had its share of this iteration; the reactor resumes it next iteration.</summary>
    Yielded,

    /// <summary>The application is <c>MaxReadBufferSize</c> behind (the input flush is pending); nothing is read or in flight.</summary>
    Paused,

    /// <summary>
    /// Paused, and a receive is due as soon as the flush completes: the socket has data (or a FIN) waiting, or a
    /// completion backend's next operation is to be submitted.
    /// </summary>
    PausedReadable,

    /// <summary>A completion backend's receive is in flight: it owns input-pipe memory, or delivers what it receives.</summary>
    Submitted,

    /// <summary>
    /// The application fell behind while a delivering receive was in flight: the core asked it to stop; what it
    /// still delivers is written to the pipe, and its last completion moves the side to <see cref="PausedReadable"/>.
    /// </summary>
    Pausing,

    /// <summary>The input is ending (close, error, the application completed it) while an operation is in flight: its last completion completes the input.</summary>
    Cancelling,

    /// <summary>The input pipe is completed (FIN, error or close); nothing is received any more.</summary>
    Completed,
}

internal static class ReceiveStates
{
    public static bool CanMove(ReceiveState from, ReceiveState to) => (from, to) switch
    {
        (ReceiveState.Completed, _) => false,
        // Only an operation's last completion ends a cancellation.
        (ReceiveState.Cancelling, ReceiveState.Completed) => true,
        (ReceiveState.Cancelling, _) => false,
        // With an operation in flight the input cannot complete: the operation is cancelled first.
        (ReceiveState.Submitted or ReceiveState.Pausing, ReceiveState.Cancelling) => true,
        (ReceiveState.Submitted or ReceiveState.Pausing, ReceiveState.Completed) => false,
        (_, ReceiveState.Completed) => true,
        // A readiness event with nothing to read (or a short read) leaves it waiting; a completion backend submits.
        (ReceiveState.WaitingForData, ReceiveState.WaitingForData or ReceiveState.Yielded or ReceiveState.Paused or ReceiveState.PausedReadable or ReceiveState.Submitted) => true,
        (ReceiveState.Yielded, ReceiveState.WaitingForData or ReceiveState.Paused or ReceiveState.PausedReadable) => true,
        // Still yielded after another 16 reads.
        (ReceiveState.Yielded, ReceiveState.Yielded) => true,
        (ReceiveState.Paused, ReceiveState.PausedReadable or ReceiveState.WaitingForData) => true,
        // Resumed with a receive due: the receive loop runs again and ends in any of its outcomes.
        (ReceiveState.PausedReadable, ReceiveState.WaitingForData or ReceiveState.Yielded or ReceiveState.Paused or ReceiveState.PausedReadable or ReceiveState.Submitted) => true,
        // The operation's completion came (nothing is in flight any more), or what it delivered waits for the application.
        (ReceiveState.Submitted, ReceiveState.WaitingForData or ReceiveState.Pausing) => true,
        // The stopped operation's last completion came, or the application caught up first and the operation goes on.
        (ReceiveState.Pausing, ReceiveState.PausedReadable or ReceiveState.Submitted) => true,
        _ => false,
    };
}
