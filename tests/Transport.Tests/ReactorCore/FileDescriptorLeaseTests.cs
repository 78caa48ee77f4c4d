using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.ReactorCore;

/// <summary>
/// The epoll connection's fd lease: a thread-pool thread sending while the reactor closes must never let the fd be
/// closed under it (the number would be reused by the next accept), and exactly one party closes it.
/// </summary>
public sealed class FileDescriptorLeaseTests
{
    [Fact]
    public void MarkClosed_NoUser_CallerCloses()
    {
        var lease = default(FileDescriptorLease);

        Assert.True(lease.MarkClosed());
        Assert.False(lease.TryAcquire());
    }

    [Fact]
    public void MarkClosed_WhileInUse_LastUserCloses()
    {
        var lease = default(FileDescriptorLease);
        Assert.True(lease.TryAcquire());
        Assert.True(lease.TryAcquire());

        Assert.False(lease.MarkClosed());
        Assert.False(lease.TryAcquire());
        Assert.False(lease.Release());
        Assert.True(lease.Release());
    }

    [Fact]
    public void Release_NotClosed_NobodyCloses()
    {
        var lease = default(FileDescriptorLease);
        Assert.True(lease.TryAcquire());

        Assert.False(lease.Release());
        Assert.True(lease.MarkClosed());
    }

    [Fact]
    public async Task MarkClosed_RacingUsers_ExactlyOneCloseAndNoUseAfterIt()
    {
        for (int round = 0; round < 200; round++)
        {
            var box = new LeaseBox();
            int closes = 0;
            int usesAfterClose = 0;
            using var start = new Barrier(3);
            var users = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
            {
                start.SignalAndWait(TimeSpan.FromSeconds(10));
                for (int i = 0; i < 1000; i++)
                {
                    if (!box.Lease.TryAcquire())
                    {
                        return;
                    }
                    if (Volatile.Read(ref box.Closed) != 0)
                    {
                        Interlocked.Increment(ref usesAfterClose);
                    }
                    if (box.Lease.Release())
                    {
                        Interlocked.Increment(ref closes);
                        Volatile.Write(ref box.Closed, 1);
                    }
                }
            })).ToArray();

            start.SignalAndWait(TimeSpan.FromSeconds(10));
            if (box.Lease.MarkClosed())
            {
                Interlocked.Increment(ref closes);
                Volatile.Write(ref box.Closed, 1);
            }
            await Task.WhenAll(users).WaitAsync(TimeSpan.FromSeconds(30));

            Assert.Equal(1, closes);
            Assert.Equal(0, usesAfterClose);
        }
    }

    // The lease is a mutable struct: the racing threads must share one instance, not copies.
    private sealed class LeaseBox
    {
        public FileDescriptorLease Lease;
        public int Closed;
    }
}
