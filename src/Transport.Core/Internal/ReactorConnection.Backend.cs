using System.Buffers;
using System.Net.Sockets;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>How a backend answered the start of a receive or a send (named apart from System.Buffers.OperationStatus).</summary>
internal enum IoStart
{
    /// <summary>Done now: the result is in the <c>out</c> parameter.</summary>
    Completed,

    /// <summary>
    /// A readiness backend could not go on now (EAGAIN) and holds nothing: it reports readiness
    /// (<c>OnReadable</c>, <c>OnWritable</c>) and the core starts again. For a send, the result says how much was taken.
    /// A readiness backend answers with <see cref="IoResult.AnswerNow"/> of the call's outcome.
    /// </summary>
    WouldBlock,

    /// <summary>
    /// A completion backend submitted an operation: it owns the buffer (input-pipe memory, or the output's segments)
    /// until it reports the operation's completion, exactly once.
    /// </summary>
    Pending,
}

// Where a backend plugs in: everything a socket backend (epoll, select, a completion ring, the tests' fakes)
// implements is in this file, and it calls back (reactor thread only) with:
//   readiness:  OnReadable(peerClosed), OnWritable()
//   completion: OnReceived(bytes), OnReceiveCompleted(result), OnSendCompleted(result)
// The state machines on the other side are ReactorConnection.Receive.cs and ReactorConnection.Send.cs, the same for
// every backend; docs/backend-seam.md draws both paths side by side.
//
// Ownership, the rule every method below keeps:
// - Input-pipe memory handed to StartReceive belongs to the backend from a Pending start until its
//   OnReceiveCompleted; the core neither advances nor completes the input pipe meanwhile (a close waits for that
//   completion: ReceiveState.Cancelling).
// - Bytes a backend delivers through OnReceived are copied before the call returns: the backend's buffer is its own
//   again at once, whatever state the connection is in.
// - Output segments handed to StartSend belong to the backend from a Pending start until its OnSendCompleted; the
//   core leaves them unconsumed in the output pipe meanwhile (a close waits for that completion:
//   SendState.Cancelling).
// - Closing is two-phase: CloseSocket shuts the socket and asks every operation in flight to end; the connection
//   completes (and its buffers go back to the pool) only when the last of those completions has come.
internal abstract partial class ReactorConnection
{
    /// <summary>Registers the socket with the reactor's poller or ring; any error but Success fails the connection.</summary>
    protected abstract SocketError RegisterWithReactor();

    /// <summary>
    /// Whether this is a completion backend: it answers every start with <see cref="IoStart.Pending"/> and reports
    /// completions, and the core submits the first receive as soon as the socket is registered (a readiness backend
    /// is never asked before it reports readability). A constant per backend.
    /// </summary>
    protected virtual bool SubmitsOperations => false;

    /// <summary>
    /// Whether the backend receives into buffers of its own choosing (a provided-buffer ring) and delivers the bytes
    /// through <see cref="OnReceived"/>; then <see cref="StartReceive"/> gets no buffer. A constant per backend.
    /// </summary>
    protected virtual bool DeliversReceivedBytes => false;

    /// <summary>
    /// Whether a running reactor sends more cheaply than the pool thread that flushed the output: a ring's send is
    /// one more entry in the submission the reactor makes each iteration anyway, where a readiness backend's reactor
    /// would make the same system call as the pool thread, one connection after another instead of in parallel. A
    /// constant per backend; it decides who sends on more than one processor (ReactorConnection.Send.cs).
    /// </summary>
    protected virtual bool BatchesSendsOnReactor => false;

    /// <summary>Starts a receive. Reactor thread only.</summary>
    /// <param name="buffer">Input-pipe memory to receive into; empty when <see cref="DeliversReceivedBytes"/>.</param>
    /// <param name="result">
    /// With <see cref="IoStart.Completed"/>: the bytes received (0: the peer's FIN) or the error (with
    /// WouldBlock: <see cref="SocketError.WouldBlock"/>).
    /// </param>
    /// <returns>
    /// <see cref="IoStart.Completed"/> (a readiness backend that tried and got an answer);
    /// <see cref="IoStart.WouldBlock"/> (nothing to read: <see cref="OnReadable"/> comes when there is);
    /// <see cref="IoStart.Pending"/> (an operation is in flight: <see cref="OnReceiveCompleted"/> ends it,
    /// after any number of <see cref="OnReceived"/> when the backend delivers). Only a backend that
    /// <see cref="SubmitsOperations"/> returns Pending, and it returns nothing else.
    /// </returns>
    protected abstract IoStart StartReceive(Memory<byte> buffer, out IoResult result);

    /// <summary>
    /// Asks the receive in flight to end early (the application is behind, or the input ends): its completion still
    /// comes, later, through <see cref="OnReceiveCompleted"/>: with <see cref="SocketError.OperationAborted"/>, or
    /// with the bytes it had received already (never 0 bytes for a cancelled receive: 0 means the peer's FIN).
    /// Reactor thread only; only called while an operation is in flight. Never completes inline: completions reach
    /// the core from the reactor's own loop, after this returns.
    /// </summary>
    protected virtual void CancelReceive()
    {
    }

    /// <summary>
    /// Starts sending <paramref name="buffer"/> (the output pipe's segments), by the send side's owner: the reactor,
    /// or a thread-pool thread that flushed. Off the reactor thread a backend must answer at once
    /// (<see cref="IoStart.Completed"/> or <see cref="IoStart.WouldBlock"/>, a direct non-blocking
    /// send): only the reactor submits operations, so the core hands what would block back to it.
    /// </summary>
    /// <param name="buffer">What to send; with Pending, the backend owns (pins) its segments until the completion.</param>
    /// <param name="result">
    /// The bytes the socket took now, or the error; with WouldBlock, fewer bytes than offered and the error
    /// <see cref="SocketError.WouldBlock"/>.
    /// </param>
    /// <returns>
    /// <see cref="IoStart.Completed"/>, <see cref="IoStart.WouldBlock"/> (<see cref="OnWritable"/>
    /// comes when the socket takes more), or <see cref="IoStart.Pending"/> (reactor thread only:
    /// <see cref="OnSendCompleted"/> ends it). A send may run while the reactor closes the socket: then it fails,
    /// and never reaches a descriptor that was reused.
    /// </returns>
    protected abstract IoStart StartSend(in ReadOnlySequence<byte> buffer, out IoResult result);

    /// <summary>
    /// Phase one of closing: shuts the socket abortively (RST) or both ways (FIN), unregisters it and asks the
    /// operations in flight to end (their completions still come, from the reactor's loop after this returns, never
    /// inline, and end phase two). Reactor thread only, once.
    /// The descriptor itself may be released only when no operation and no thread-pool send can reach it any more.
    /// </summary>
    protected abstract void CloseSocket(bool reset);

    /// <summary>
    /// <see cref="IsWaitingForReadable"/> or <see cref="IsWaitingForWritable"/> changed (a state moved in or out of
    /// waiting for the socket). A level-triggered backend updates what its poller watches here; an edge-triggered
    /// one watches both directions all along, and a completion backend has operations instead. Reactor thread only.
    /// </summary>
    protected virtual void OnWaitingForSocketChanged()
    {
    }
}
