using System.Net;
using System.Net.Sockets;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal.Interop;

/// <summary>The socket calls of the epoll transport through Tmds.LibC; every call returns a typed result.</summary>
internal static unsafe class SocketApi
{
    private static readonly int s_noSignal = MSG_NOSIGNAL;

    public static SocketError CreateTcpSocket(AddressFamily family, out int fd)
    {
        int domain = family == AddressFamily.InterNetworkV6 ? AF_INET6 : AF_INET;
        fd = socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
        return fd < 0 ? LinuxError.LastAsSocketError() : SocketError.Success;
    }

    public static SocketError SetReuseAddress(int fd) => SetInt(fd, SOL_SOCKET, SO_REUSEADDR, 1);

    public static SocketError SetIPv6Only(int fd, bool value) => SetInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, value ? 1 : 0);

    public static SocketError SetNoDelay(int fd) => SetInt(fd, IPPROTO_TCP, TCP_NODELAY, 1);

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

    public static SocketError Bind(int fd, IPEndPoint endPoint)
    {
        byte* address = stackalloc byte[SocketAddressCodec.MaxSize];
        int length = SocketAddressCodec.Write(endPoint, new Span<byte>(address, SocketAddressCodec.MaxSize));
        return bind(fd, (sockaddr*)address, (socklen_t)length) < 0 ? LinuxError.LastAsSocketError() : SocketError.Success;
    }

    public static SocketError Listen(int fd, int backlog) =>
        listen(fd, backlog) < 0 ? LinuxError.LastAsSocketError() : SocketError.Success;

    public static IPEndPoint? GetLocalEndPoint(int fd)
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
    public static SocketError Accept(int listenFd, out int fd, out IPEndPoint? remoteEndPoint)
    {
        byte* address = stackalloc byte[SocketAddressCodec.MaxSize];
        socklen_t length = SocketAddressCodec.MaxSize;
        fd = accept4(listenFd, (sockaddr*)address, &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
        {
            remoteEndPoint = null;
            return LinuxError.LastAsSocketError();
        }
        remoteEndPoint = SocketAddressCodec.Read(new ReadOnlySpan<byte>(address, (int)length));
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

    public static void ShutdownBoth(int fd) => _ = shutdown(fd, SHUT_RDWR);

    public static void Close(int fd) => _ = close(fd);
}
