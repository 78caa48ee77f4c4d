using System.Runtime.InteropServices;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal.Interop;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal;

/// <summary>
/// A listening fd that several threads use (Kestrel's accept loop, the reactor, unbind): an owned fd is closed
/// only after the last in-flight call released it, so a concurrent close can never hit a reused fd number. An
/// fd that is not owned (inherited from systemd or passed to ListenHandle) is never closed; disposing the handle
/// only stops this transport from using it.
/// </summary>
internal sealed class FileDescriptorHandle : SafeHandle
{
    public FileDescriptorHandle(int fd, bool ownsFd)
        : base(invalidHandleValue: -1, ownsHandle: ownsFd)
    {
        SetHandle(fd);
    }

    public override bool IsInvalid => handle == -1;

    public int DangerousGetFd() => (int)handle;

    protected override bool ReleaseHandle()
    {
        _ = SocketApi.Close((int)handle);
        return true;
    }
}
