namespace Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal;

/// <summary>
/// Counts the threads inside a call on a connection's fd, so that the fd is closed by whichever finishes last of
/// the reactor (which decides to close) and a thread-pool thread still sending: the kernel reuses fd numbers at
/// once, and a send that reached a reused number would put one connection's bytes on another's socket.
/// </summary>
/// <remarks>Lock-free: bit 0 is "closed", the rest counts users in steps of two.</remarks>
internal struct FileDescriptorLease
{
    private const int ClosedBit = 1;
    private const int OneUser = 2;

    private int _state;

    /// <summary>False once the fd is closed or closing: the caller must not touch it.</summary>
    public bool TryAcquire()
    {
        int state = Volatile.Read(ref _state);
        while ((state & ClosedBit) == 0)
        {
            int seen = Interlocked.CompareExchange(ref _state, state + OneUser, state);
            if (seen == state)
            {
                return true;
            }
            state = seen;
        }
        return false;
    }

    /// <summary>Ends a use; true when the fd was closed meanwhile and this was the last user, who closes it now.</summary>
    public bool Release() => Interlocked.Add(ref _state, -OneUser) == ClosedBit;

    /// <summary>Forbids new uses; true when nobody uses the fd, so the caller closes it now (else the last user does).</summary>
    public bool MarkClosed() => Interlocked.Or(ref _state, ClosedBit) == 0;
}
