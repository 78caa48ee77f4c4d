using System.Runtime.InteropServices;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal.Interop;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal;

/// <summary>
/// Owns a listening fd that several threads use (Kestrel's accept loop, the reactor, unbind): the fd is closed
/// only after the last in-flight call released it, so a concurrent close can never hit a reused fd number.
/// </summary>
internal sealed class FileDescriptorHandle : SafeHandle
{
    public FileDescriptorHandle(int fd)
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
        SetHandle(fd);
    }

    public override bool IsInvalid => handle == -1;

    public int DangerousGetFd() => (int)handle;

    protected override bool ReleaseHandle()
    {
        SocketApi.Close((int)handle);
        return true;
    }
}
