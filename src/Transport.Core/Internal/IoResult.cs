using System.Net.Sockets;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>
/// The outcome of one non-blocking socket operation, in the backend-neutral vocabulary of
/// <see cref="SocketError"/>: backends translate errno (or the OS error) at the call site, once.
/// </summary>
internal readonly struct IoResult(long bytes, SocketError error)
{
    public long Bytes { get; } = bytes;

    public SocketError Error { get; } = error;

    public bool IsSuccess => Error == SocketError.Success;

    /// <summary>
    /// How a readiness backend answers the start of an operation with this outcome: <see cref="IoStart.WouldBlock"/>
    /// when the socket would block (a send's partial count included), else <see cref="IoStart.Completed"/>.
    /// </summary>
    public IoStart AnswerNow => Error == SocketError.WouldBlock ? IoStart.WouldBlock : IoStart.Completed;

    public static IoResult Done(long bytes) => new(bytes, SocketError.Success);

    public static IoResult Failed(SocketError error) => new(0, error);

    public static bool IsConnectionReset(SocketError error) =>
        error is SocketError.ConnectionReset or SocketError.Shutdown or SocketError.ConnectionAborted;
}
