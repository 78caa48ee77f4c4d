using System.Net;
using System.Net.Sockets;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>
/// What a backend supplies to <see cref="ReactorConnectionListener{TAccepted}"/>: its bound listening socket's
/// registration with a reactor, the accept call, the connection made from an accepted socket, and the close.
/// Everything else of a listener's life (the accept loop, error classification, back-off, the fd reserve and its
/// refusals, unbinding) is the core's and the same for every backend.
/// </summary>
/// <typeparam name="TAccepted">An accepted socket that no connection owns yet (an fd, a <see cref="Socket"/>).</typeparam>
/// <remarks>
/// Threads: <see cref="Register"/> and <see cref="Close"/> run on the accept reactor, the one thread that touches
/// the listening socket's registration; <see cref="WatchForConnections"/>, <see cref="TryAccept"/>,
/// <see cref="CreateConnection"/> and <see cref="CloseUnowned"/> run on the thread of Kestrel's accept loop, one
/// call at a time, possibly while the reactor closes the socket (then accept must fail, never reach a reused fd).
/// </remarks>
internal interface IListenSocket<TAccepted> : IListenBacklog
{
    /// <summary>The endpoint bound, as the kernel reports it (the real port for port 0).</summary>
    EndPoint EndPoint { get; }

    /// <summary>
    /// Registers the socket with <paramref name="reactor"/>, which calls <paramref name="connectionsWaiting"/> on
    /// its thread when a client may be waiting to be accepted. Accept reactor thread.
    /// </summary>
    SocketError Register(ReactorLoop reactor, Action connectionsWaiting);

    /// <summary>
    /// The accept loop found the backlog empty and waits: from now on, report the next client. An edge-triggered
    /// backend reports every arrival anyway and has nothing to do; a level-triggered one watches the socket again
    /// (it stops at each report, or an idle accept loop would hear of the same backlog at every wait).
    /// </summary>
    void WatchForConnections();

    /// <summary>Accepts the oldest waiting client without blocking.</summary>
    /// <param name="accepted">The accepted socket, which the caller now owns.</param>
    /// <param name="fd">Its descriptor number for the fd budget, -1 when the backend does not know it.</param>
    /// <returns>
    /// <see cref="SocketError.WouldBlock"/> when nobody waits; <see cref="SocketError.OperationAborted"/> or
    /// <see cref="SocketError.InvalidArgument"/> once the socket is closed; any other error as the OS said it.
    /// </returns>
    SocketError TryAccept(out TAccepted accepted, out int fd);

    /// <summary>Sets up the accepted socket (options, endpoints) and makes its connection on <paramref name="reactor"/>, not started.</summary>
    /// <exception cref="Exception">Anything: the caller then closes the socket with <see cref="CloseUnowned"/>.</exception>
    ReactorConnection CreateConnection(TAccepted accepted, ReactorLoop reactor);

    /// <summary>Closes an accepted socket that no connection owns (its set-up failed).</summary>
    void CloseUnowned(TAccepted accepted);

    /// <summary>Unregisters and closes the listening socket (an inherited one is only unregistered). Accept reactor thread, once.</summary>
    void Close();
}
