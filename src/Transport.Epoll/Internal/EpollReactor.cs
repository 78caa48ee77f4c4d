using System.Buffers;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal.Interop;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal;

/// <summary>
/// A reactor whose readiness backend is one epoll instance. Handles are registered once, edge-triggered; the
/// epoll data of each registration is a token (slot and generation), not the fd, so an event still queued for
/// a connection that closed in the same batch can never reach the connection that reuses its fd or slot.
/// </summary>
internal sealed unsafe class EpollReactor : ReactorLoop
{
    // Events fetched per epoll_wait. More only helps when more sockets are ready at once than this.
    private const int EventBufferLength = 512;
    private const ulong WakeToken = ulong.MaxValue;

    private readonly int _epollFd;
    private readonly int _eventFd;
    private readonly void* _events;
    private readonly HandlerTable<IEpollHandler> _handlers = new();

    private EpollReactor(string name, MemoryPool<byte> memoryPool, ILogger logger, TimeSpan spinDuration, int epollFd, int eventFd)
        : base(name, memoryPool, logger, spinDuration)
    {
        _epollFd = epollFd;
        _eventFd = eventFd;
        _events = NativeMemory.Alloc(EventBufferLength, (nuint)EpollApi.EventSize);
    }

    public static EpollReactor Create(string name, MemoryPool<byte> memoryPool, ILogger logger, TimeSpan spinDuration)
    {
        SocketError error = EpollApi.Create(out int epollFd);
        if (error != SocketError.Success)
        {
            throw new InvalidOperationException($"Creating the epoll instance for {name} failed: {error}.", new SocketException((int)error));
        }
        error = EpollApi.CreateEventFd(out int eventFd);
        if (error == SocketError.Success)
        {
            // Level-triggered: a wake-up written while the reactor was busy is still seen by the next wait.
            error = EpollApi.Add(epollFd, eventFd, EpollApi.In, WakeToken);
        }
        if (error != SocketError.Success)
        {
            _ = EpollApi.Close(epollFd);
            if (eventFd >= 0)
            {
                _ = EpollApi.Close(eventFd);
            }
            throw new InvalidOperationException($"Creating the wake-up eventfd for {name} failed: {error}.", new SocketException((int)error));
        }
        return new EpollReactor(name, memoryPool, logger, spinDuration, epollFd, eventFd);
    }

    /// <summary>Registers <paramref name="fd"/> edge-triggered for <paramref name="events"/>. Reactor thread only.</summary>
    public SocketError Register(int fd, int events, IEpollHandler handler, out ulong token)
    {
        token = _handlers.Add(handler);
        SocketError error = EpollApi.Add(_epollFd, fd, events | EpollApi.EdgeTriggered, token);
        if (error != SocketError.Success)
        {
            _handlers.Remove(token);
            token = 0;
        }
        return error;
    }

    /// <summary>
    /// Removes the registration of an fd that stays open (a listening socket that belongs to systemd, say).
    /// Reactor thread only.
    /// </summary>
    public void Unregister(int fd, ulong token)
    {
        if (_handlers.Remove(token))
        {
            _ = EpollApi.Remove(_epollFd, fd);
        }
    }

    /// <summary>
    /// Forgets the registration of an fd that this transport is about to close. Reactor thread only.
    /// </summary>
    /// <remarks>
    /// No EPOLL_CTL_DEL, one system call less per connection: closing the last descriptor of a socket removes it
    /// from every epoll set (nginx skips the call for the same reason). Until then (a thread-pool send still holds
    /// the fd, or a forked child's copy lives until its exec) events may still come, with a token whose
    /// generation is gone, and are dropped.
    /// </remarks>
    public void Forget(ulong token) => _handlers.Remove(token);

    protected override int WaitAndDispatch(int timeoutMilliseconds)
    {
        int count = EpollApi.Wait(_epollFd, _events, EventBufferLength, timeoutMilliseconds, out SocketError error);
        if (count < 0)
        {
            if (error == SocketError.Interrupted)
            {
                return 0;
            }
            throw new InvalidOperationException($"epoll_wait failed: {error}.", new SocketException((int)error));
        }

        for (int i = 0; i < count; i++)
        {
            ulong token = EpollApi.TokenAt(_events, i);
            if (token == WakeToken)
            {
                _ = EpollApi.DrainEventFd(_eventFd);
                continue;
            }
            IEpollHandler? handler = _handlers.Find(token);
            if (handler is null)
            {
                continue; // closed earlier in this batch
            }
            try
            {
                handler.OnEpollEvents(EpollApi.EventsAt(_events, i));
            }
            catch (Exception ex)
            {
                OnHandlerError(handler as ReactorConnection, ex);
            }
        }
        return count;
    }

    protected override void Wake() => _ = EpollApi.SignalEventFd(_eventFd);

    protected override void DisposeBackend()
    {
        _ = EpollApi.Close(_eventFd);
        _ = EpollApi.Close(_epollFd);
        NativeMemory.Free(_events);
    }
}
