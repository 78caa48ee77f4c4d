using System.Runtime.InteropServices;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal.Interop;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.IoUring.Internal.Interop;

/// <summary>
/// The io_uring system calls and the memory maps of a ring; every call returns errno at once (0 for success), the
/// one place this transport reads it. The socket calls themselves are the epoll transport's (<see cref="SocketApi"/>).
/// </summary>
internal static unsafe partial class IoUringApi
{
    private static readonly int s_protReadWrite = PROT_READ | PROT_WRITE;
    private static readonly int s_mapSharedPopulate = MAP_SHARED | MAP_POPULATE;
    private static readonly int s_mapPrivateAnonymous = MAP_PRIVATE | MAP_ANONYMOUS;

    // glibc's syscall(2) only moves registers, so a fixed signature calls it correctly on every supported ABI.
    [LibraryImport("libc.so.6", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long number, long arg1, long arg2, long arg3, long arg4, long arg5, long arg6);

    /// <returns>0 and the ring's fd, or errno.</returns>
    public static int Setup(uint entries, RingParameters* parameters, out int ringFd)
    {
        long result = Syscall(IoUringAbi.SyscallSetup, entries, (long)parameters, 0, 0, 0, 0);
        ringFd = result < 0 ? -1 : (int)result;
        return result < 0 ? Marshal.GetLastPInvokeError() : 0;
    }

    /// <summary>io_uring_enter; <paramref name="argument"/> is an io_uring_getevents_arg with IORING_ENTER_EXT_ARG, else null.</summary>
    /// <returns>0 or errno; <paramref name="submitted"/> the submissions the kernel took.</returns>
    public static int Enter(int ringFd, uint toSubmit, uint minComplete, uint flags, GetEventsArgument* argument, out int submitted)
    {
        long size = argument is null ? 0 : sizeof(GetEventsArgument);
        long result = Syscall(IoUringAbi.SyscallEnter, ringFd, toSubmit, minComplete, flags, (long)argument, size);
        submitted = result < 0 ? 0 : (int)result;
        return result < 0 ? Marshal.GetLastPInvokeError() : 0;
    }

    /// <returns>0 or errno.</returns>
    public static int Register(int ringFd, uint opcode, void* argument, uint count)
    {
        long result = Syscall(IoUringAbi.SyscallRegister, ringFd, opcode, (long)argument, count, 0, 0);
        return result < 0 ? Marshal.GetLastPInvokeError() : 0;
    }

    /// <summary>Maps one of a ring's regions (IORING_OFF_*) shared with the kernel, populated up front.</summary>
    /// <returns>0 or errno.</returns>
    public static int MapRing(int ringFd, long offset, nuint length, out void* address)
    {
        address = mmap(null, (size_t)length, s_protReadWrite, s_mapSharedPopulate, ringFd, offset);
        if (address == MAP_FAILED)
        {
            address = null;
            return Marshal.GetLastPInvokeError();
        }
        return 0;
    }

    /// <summary>Page-aligned private memory, as a provided-buffer ring needs.</summary>
    /// <returns>0 or errno.</returns>
    public static int MapAnonymous(nuint length, out void* address)
    {
        address = mmap(null, (size_t)length, s_protReadWrite, s_mapPrivateAnonymous, -1, 0);
        if (address == MAP_FAILED)
        {
            address = null;
            return Marshal.GetLastPInvokeError();
        }
        return 0;
    }

    public static void Unmap(void* address, nuint length)
    {
        if (address is not null)
        {
            _ = munmap(address, (size_t)length);
        }
    }

    public static void Close(int fd) => _ = close(fd);

    /// <summary>
    /// An eventfd for waking a reactor from other threads. Blocking on purpose: the ring reads it asynchronously
    /// whatever its mode, and a ring may answer a read of a non-blocking fd with EAGAIN instead of waiting.
    /// </summary>
    /// <returns>0 or errno.</returns>
    public static int CreateEventFd(out int fd)
    {
        fd = eventfd(0, EFD_CLOEXEC);
        return fd < 0 ? Marshal.GetLastPInvokeError() : 0;
    }

    /// <summary>A connected pair of non-blocking Unix stream sockets, for the start-up probe.</summary>
    /// <returns>0 or errno.</returns>
    public static int CreateSocketPair(out int first, out int second)
    {
        int* pair = stackalloc int[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) < 0)
        {
            first = second = -1;
            return Marshal.GetLastPInvokeError();
        }
        first = pair[0];
        second = pair[1];
        return 0;
    }

    public static void WriteByte(int fd)
    {
        byte one = 1;
        _ = write(fd, &one, 1);
    }

    /// <summary>The running kernel's release (uname -r), for the log.</summary>
    public static string KernelRelease()
    {
        try
        {
            return File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Environment.OSVersion.VersionString;
        }
    }

    /// <summary>The errno name for messages: ENOSYS, EPERM, ...</summary>
    public static string Name(int errno) => errno switch
    {
        LinuxError.EPERM => "EPERM",
        LinuxError.EINTR => "EINTR",
        LinuxError.EBADF => "EBADF",
        LinuxError.EAGAIN => "EAGAIN",
        LinuxError.ENOMEM => "ENOMEM",
        LinuxError.EACCES => "EACCES",
        LinuxError.EINVAL => "EINVAL",
        LinuxError.ENFILE => "ENFILE",
        LinuxError.EMFILE => "EMFILE",
        LinuxError.ENOBUFS => "ENOBUFS",
        Errno.ENOSYS => "ENOSYS",
        LinuxError.EOPNOTSUPP => "EOPNOTSUPP",
        Errno.EEXIST => "EEXIST",
        _ => $"errno {errno}",
    };
}

/// <summary>errno values the io_uring layer needs beyond the epoll transport's <see cref="LinuxError"/>.</summary>
internal static class Errno
{
    public const int EEXIST = 17;
    public const int ETIME = 62;
    public const int ENOSYS = 38;
    public const int EBUSY = 16;
    public const int ECANCELED = 125;
}
