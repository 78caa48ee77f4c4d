using System.Net.Sockets;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal.Interop;

/// <summary>epoll and eventfd through Tmds.LibC; every system call returns a typed result (errno as SocketError).</summary>
internal static unsafe class EpollApi
{
    // Tmds.LibC exposes constants as properties; read them once.
    public static readonly int In = EPOLLIN;
    public static readonly int Out = EPOLLOUT;
    public static readonly int Error = EPOLLERR;
    public static readonly int HangUp = EPOLLHUP;
    public static readonly int ReadHangUp = EPOLLRDHUP;
    public static readonly int EdgeTriggered = EPOLLET;

    /// <summary>sizeof(epoll_event) on this architecture: 12 (packed) on x64, 16 on arm64 and arm.</summary>
    public static int EventSize => sizeof(epoll_event);

    public static SocketError Create(out int epollFd)
    {
        epollFd = epoll_create1(EPOLL_CLOEXEC);
        return epollFd < 0 ? LinuxError.LastAsSocketError() : SocketError.Success;
    }

    public static SocketError Add(int epollFd, int fd, int events, ulong token) => Control(epollFd, EPOLL_CTL_ADD, fd, events, token);

    public static SocketError Remove(int epollFd, int fd) => Control(epollFd, EPOLL_CTL_DEL, fd, 0, 0);

    private static SocketError Control(int epollFd, int op, int fd, int events, ulong token)
    {
        epoll_event ev = default;
        ev.events = events;
        ev.data.u64 = token;
        return epoll_ctl(epollFd, op, fd, &ev) < 0 ? LinuxError.LastAsSocketError() : SocketError.Success;
    }

    /// <summary>Waits for events; -1 on error with <paramref name="error"/> set (Interrupted for EINTR).</summary>
    public static int Wait(int epollFd, void* events, int maxEvents, int timeoutMilliseconds, out SocketError error)
    {
        int count = epoll_wait(epollFd, (epoll_event*)events, maxEvents, timeoutMilliseconds);
        error = count < 0 ? LinuxError.LastAsSocketError() : SocketError.Success;
        return count;
    }

    public static int EventsAt(void* events, int index) => ((epoll_event*)events)[index].events;

    public static ulong TokenAt(void* events, int index) => ((epoll_event*)events)[index].data.u64;

    public static SocketError CreateEventFd(out int fd)
    {
        fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        return fd < 0 ? LinuxError.LastAsSocketError() : SocketError.Success;
    }

    /// <returns>WouldBlock when the counter is at its maximum: the reactor will wake anyway.</returns>
    public static SocketError SignalEventFd(int fd)
    {
        ulong one = 1;
        return write(fd, &one, sizeof(ulong)) < 0 ? LinuxError.LastAsSocketError() : SocketError.Success;
    }

    /// <returns>WouldBlock when there was nothing to drain (a wake-up another wait consumed).</returns>
    public static SocketError DrainEventFd(int fd)
    {
        ulong value;
        return read(fd, &value, sizeof(ulong)) < 0 ? LinuxError.LastAsSocketError() : SocketError.Success;
    }

    /// <returns>An error only for a bad fd; the fd is released in any case (Linux never retries close).</returns>
    public static SocketError Close(int fd) => close(fd) < 0 ? LinuxError.LastAsSocketError() : SocketError.Success;
}
