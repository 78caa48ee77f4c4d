using System.Net;
using System.Net.Sockets;
using Tmds.Linux;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;
using static Tmds.Linux.LibC;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal.Interop;

/// <summary>The socket calls of the epoll transport through Tmds.LibC; every system call returns a typed result (errno as SocketError).</summary>
internal static unsafe class SocketApi
{
    private static readonly int s_noSignal = MSG_NOSIGNAL;

    /// <summary>A non-blocking, close-on-exec stream socket: TCP for IP families, a Unix domain socket otherwise.</summary>
    public static SocketError CreateStreamSocket(AddressFamily family, out int fd)
    {
        int domain = family switch
        {
            AddressFamily.InterNetwork => AF_INET,
            AddressFamily.InterNetworkV6 => AF_INET6,
            AddressFamily.Unix => AF_UNIX,
            _ => throw new ArgumentOutOfRangeException(nameof(family), family, "Only IPv4, IPv6 and Unix stream sockets are supported."),
        };
        fd = socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        return fd < 0 ? LinuxError.LastAsSocketError() : SocketError.Success;
    }

    /// <summary>The family of a socket someone else created (an inherited fd); fails with NotSocket for a non-socket.</summary>
    public static SocketError GetStreamSocketFamily(int fd, out AddressFamily family)
    {
        family = AddressFamily.Unknown;
        SocketError error = GetInt(fd, SOL_SOCKET, SO_TYPE, out int type);
        if (error != SocketError.Success)
        {
            return error;
        }
        if (type != SOCK_STREAM)
        {
            return SocketError.SocketNotSupported;
        }
        error = GetInt(fd, SOL_SOCKET, SO_DOMAIN, out int domain);
        if (error != SocketError.Success)
        {
            return error;
        }
        family = domain == AF_INET ? AddressFamily.InterNetwork
            : domain == AF_INET6 ? AddressFamily.InterNetworkV6
            : domain == AF_UNIX ? AddressFamily.Unix
            : AddressFamily.Unknown;
        return family == AddressFamily.Unknown ? SocketError.AddressFamilyNotSupported : SocketError.Success;
    }

    public static SocketError SetNonBlocking(int fd)
    {
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || ((flags & O_NONBLOCK) == 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0))
        {
            return LinuxError.LastAsSocketError();
        }
        return SocketError.Success;
    }

    public static SocketError SetReuseAddress(int fd) => SetInt(fd, SOL_SOCKET, SO_REUSEADDR, 1);

    public static SocketError SetReusePort(int fd) => SetInt(fd, SOL_SOCKET, SO_REUSEPORT, 1);

    public static SocketError SetIPv6Only(int fd, bool value) => SetInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, value ? 1 : 0);

    public static SocketError SetNoDelay(int fd) => SetInt(fd, IPPROTO_TCP, TCP_NODELAY, 1);

    public static SocketError GetNoDelay(int fd, out bool noDelay)
    {
        SocketError error = GetInt(fd, IPPROTO_TCP, TCP_NODELAY, out int value);
        noDelay = value != 0;
        return error;
    }

    /// <summary>SO_LINGER {1, 0}: the following close sends RST and drops unsent data.</summary>
    public static SocketError SetAbortiveClose(int fd)
    {
        linger value = default;
        value.l_onoff = 1;
        value.l_linger = 0;
        return setsockopt(fd, SOL_SOCKET, SO_LINGER, &value, (socklen_t)sizeof(linger)) < 0
            ? LinuxError.LastAsSocketError()
            : SocketError.Success;
    }

    private static SocketError SetInt(int fd, int level, int name, int value) =>
        setsockopt(fd, level, name, &value, (socklen_t)sizeof(int)) < 0 ? LinuxError.LastAsSocketError() : SocketError.Success;

    private static SocketError GetInt(int fd, int level, int name, out int value)
    {
        int result = 0;
        socklen_t length = sizeof(int);
        if (getsockopt(fd, level, name, &result, &length) < 0)
        {
            value = 0;
            return LinuxError.LastAsSocketError();
        }
        value = result;
        return SocketError.Success;
    }

    /// <summary>getsockopt(IPPROTO_TCP, TCP_INFO) into <paramref name="info"/>; the number of bytes the kernel filled.</summary>
    public static SocketError GetTcpInfo(int fd, Span<byte> info, out int length)
    {
        socklen_t size = (socklen_t)info.Length;
        fixed (byte* pointer = info)
        {
            if (getsockopt(fd, IPPROTO_TCP, TcpListenQueue.OptionName, pointer, &size) < 0)
            {
                length = 0;
                return LinuxError.LastAsSocketError();
            }
        }
        length = (int)size;
        return SocketError.Success;
    }

    public static SocketError Bind(int fd, EndPoint endPoint)
    {
        byte* address = stackalloc byte[SocketAddressCodec.MaxSize];
        int length = SocketAddressCodec.Write(endPoint, new Span<byte>(address, SocketAddressCodec.MaxSize));
        return bind(fd, (sockaddr*)address, (socklen_t)length) < 0 ? LinuxError.LastAsSocketError() : SocketError.Success;
    }

    public static SocketError Listen(int fd, int backlog) =>
        listen(fd, backlog) < 0 ? LinuxError.LastAsSocketError() : SocketError.Success;

    public static EndPoint? GetLocalEndPoint(int fd)
    {
        byte* address = stackalloc byte[SocketAddressCodec.MaxSize];
        socklen_t length = SocketAddressCodec.MaxSize;
        if (getsockname(fd, (sockaddr*)address, &length) < 0)
        {
            return null;
        }
        return SocketAddressCodec.Read(new ReadOnlySpan<byte>(address, (int)length));
    }

    /// <summary>accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC; the peer's address comes back with the fd.</summary>
    public static SocketError Accept(int listenFd, out int fd, out EndPoint? remoteEndPoint)
    {
        byte* address = stackalloc byte[SocketAddressCodec.MaxSize];
        socklen_t length = SocketAddressCodec.MaxSize;
        fd = accept4(listenFd, (sockaddr*)address, &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
        {
            remoteEndPoint = null;
            return LinuxError.LastAsSocketError();
        }
        try
        {
            remoteEndPoint = SocketAddressCodec.Read(new ReadOnlySpan<byte>(address, (int)length));
        }
        catch
        {
            // Out of memory for the address: nothing would ever close the fd.
            _ = close(fd);
            throw;
        }
        return SocketError.Success;
    }

    public static SocketError Receive(int fd, Span<byte> buffer, out int received)
    {
        fixed (byte* pointer = buffer)
        {
            long result = recv(fd, pointer, (size_t)buffer.Length, 0);
            if (result < 0)
            {
                received = 0;
                return LinuxError.LastAsSocketError();
            }
            received = (int)result;
            return SocketError.Success;
        }
    }

    /// <summary>One sendmsg of <paramref name="count"/> iovecs, with MSG_NOSIGNAL so a dead peer is an error, not SIGPIPE.</summary>
    public static SocketError SendMessage(int fd, iovec* vectors, int count, out long sent)
    {
        msghdr message = default;
        message.msg_iov = vectors;
        message.msg_iovlen = count;
        long result = sendmsg(fd, &message, s_noSignal);
        if (result < 0)
        {
            sent = 0;
            return LinuxError.LastAsSocketError();
        }
        sent = result;
        return SocketError.Success;
    }

    /// <returns>NotConnected when the peer reset first: there is nothing left to shut down.</returns>
    public static SocketError ShutdownBoth(int fd) => shutdown(fd, SHUT_RDWR) < 0 ? LinuxError.LastAsSocketError() : SocketError.Success;

    /// <returns>An error only for a bad fd; the fd is released in any case (Linux never retries close).</returns>
    public static SocketError Close(int fd) => close(fd) < 0 ? LinuxError.LastAsSocketError() : SocketError.Success;
}
