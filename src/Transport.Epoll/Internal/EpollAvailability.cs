using System.Runtime.InteropServices;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal.Interop;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal;

internal static class EpollAvailability
{
    private static readonly Lazy<bool> s_isSupported = new(Probe);

    public static bool IsSupported => s_isSupported.Value;

    private static bool Probe()
    {
        // Tmds.LibC ships implementations for glibc on these architectures only; on anything else its types
        // must never be touched, so check before the first P/Invoke.
        if (!OperatingSystem.IsLinux() ||
            RuntimeInformation.ProcessArchitecture is not (Architecture.X64 or Architecture.Arm64 or Architecture.Arm))
        {
            return false;
        }
        return ProbeEpoll();
    }

    private static bool ProbeEpoll()
    {
        try
        {
            if (EpollApi.Create(out int fd) != System.Net.Sockets.SocketError.Success)
            {
                return false;
            }
            _ = EpollApi.Close(fd);
            return true;
        }
        catch (DllNotFoundException)
        {
            // musl without glibc compatibility: libc.so.6 is missing.
            return false;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
    }
}
