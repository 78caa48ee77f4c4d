using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal.Interop;

/// <summary>
/// The one place errno becomes a typed result. Values are Linux's generic errno numbers (the same on x64,
/// arm64 and arm); the mapping follows .NET's own (SocketErrorPal.Unix), so errors read the same as with Sockets.
/// </summary>
internal static class LinuxError
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int EINTR = 4;
    public const int EBADF = 9;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int EACCES = 13;
    public const int EINVAL = 22;
    public const int ENFILE = 23;
    public const int EMFILE = 24;
    public const int EPIPE = 32;
    public const int EPROTO = 71;
    public const int ENOTSOCK = 88;
    public const int EPROTONOSUPPORT = 93;
    public const int EOPNOTSUPP = 95;
    public const int EAFNOSUPPORT = 97;
    public const int EADDRINUSE = 98;
    public const int EADDRNOTAVAIL = 99;
    public const int ENETDOWN = 100;
    public const int ENETUNREACH = 101;
    public const int ECONNABORTED = 103;
    public const int ECONNRESET = 104;
    public const int ENOBUFS = 105;
    public const int ENOTCONN = 107;
    public const int ETIMEDOUT = 110;
    public const int EHOSTUNREACH = 113;

    /// <summary>errno of the last Tmds.LibC call on this thread; read it before any other P/Invoke.</summary>
    public static int Last => Marshal.GetLastPInvokeError();

    public static SocketError ToSocketError(int errno) => errno switch
    {
        0 => SocketError.Success,
        EAGAIN => SocketError.WouldBlock,
        EINTR => SocketError.Interrupted,
        ECONNRESET => SocketError.ConnectionReset,
        // .NET maps EPIPE to Shutdown: the peer is gone, which Kestrel treats as a reset.
        EPIPE => SocketError.Shutdown,
        ECONNABORTED => SocketError.ConnectionAborted,
        // EPROTO from accept is a connection that died in the backlog: as good as aborted.
        EPROTO => SocketError.ConnectionAborted,
        EADDRINUSE => SocketError.AddressAlreadyInUse,
        // ENOENT: a Unix socket path whose folder does not exist.
        EADDRNOTAVAIL or ENOENT => SocketError.AddressNotAvailable,
        EAFNOSUPPORT => SocketError.AddressFamilyNotSupported,
        EPROTONOSUPPORT => SocketError.ProtocolNotSupported,
        EOPNOTSUPP => SocketError.OperationNotSupported,
        EMFILE or ENFILE => SocketError.TooManyOpenSockets,
        ENOBUFS or ENOMEM => SocketError.NoBufferSpaceAvailable,
        EACCES or EPERM => SocketError.AccessDenied,
        EBADF => SocketError.OperationAborted,
        EINVAL => SocketError.InvalidArgument,
        ENOTSOCK => SocketError.NotSocket,
        ENOTCONN => SocketError.NotConnected,
        ETIMEDOUT => SocketError.TimedOut,
        ENETDOWN => SocketError.NetworkDown,
        ENETUNREACH => SocketError.NetworkUnreachable,
        EHOSTUNREACH => SocketError.HostUnreachable,
        _ => SocketError.SocketError,
    };

    public static SocketError LastAsSocketError() => ToSocketError(Last);
}
