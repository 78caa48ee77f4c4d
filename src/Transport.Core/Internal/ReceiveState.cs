namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>
/// Where the receive side of a <see cref="ReactorConnection"/> is. Reactor thread only, so a plain field.
/// </summary>
/// <remarks>
/// The legal moves, all made through <see cref="ReceiveStates.CanMove"/>:
/// <code>
///   WaitingForData ──readable──▶ (receive) ──drained──▶ WaitingForData
///                                          ──16 reads──▶ Yielded ──next iteration──▶ (receive)
///                                          ──flush pending, drained──────▶ Paused
///                                          ──flush pending, not drained──▶ PausedReadable
///   Paused ──readable──▶ PausedReadable
///   Paused ──flush completes──▶ WaitingForData          PausedReadable ──flush completes──▶ (receive)
///   any ──FIN, error, close──▶ Completed
/// </code>
/// Edge-triggered backends report readiness once, so "data is waiting" must be remembered while paused or
/// yielded; it is part of the state instead of a separate flag.
/// </remarks>
internal enum ReceiveState
{
    /// <summary>The socket is drained; the next readiness event receives.</summary>
    WaitingForData,

    /// <summary>Readable, but this connection had its share of this iteration; the reactor resumes it next iteration.</summary>
    Yielded,

    /// <summary>The application is <c>MaxReadBufferSize</c> behind (the input flush is pending); nothing is read.</summary>
    Paused,

    /// <summary>Paused, and the socket has data (or a FIN) waiting: receive as soon as the flush completes.</summary>
    PausedReadable,

    /// <summary>The input pipe is completed (FIN, error or close); nothing is received any more.</summary>
    Completed,
}

internal static class ReceiveStates
{
    public static bool CanMove(ReceiveState from, ReceiveState to) => (from, to) switch
    {
        (ReceiveState.Completed, _) => false,
        (_, ReceiveState.Completed) => true,
        // A readiness event with nothing to read (or a short read) leaves it waiting.
        (ReceiveState.WaitingForData, ReceiveState.WaitingForData or ReceiveState.Yielded or ReceiveState.Paused or ReceiveState.PausedReadable) => true,
        (ReceiveState.Yielded, ReceiveState.WaitingForData or ReceiveState.Paused or ReceiveState.PausedReadable) => true,
        // Still yielded after another 16 reads.
        (ReceiveState.Yielded, ReceiveState.Yielded) => true,
        (ReceiveState.Paused, ReceiveState.PausedReadable or ReceiveState.WaitingForData) => true,
        // Resumed with data waiting: the receive loop runs again and ends in any of its outcomes.
        (ReceiveState.PausedReadable, ReceiveState.WaitingForData or ReceiveState.Yielded or ReceiveState.Paused or ReceiveState.PausedReadable) => true,
        _ => false,
    };
}
