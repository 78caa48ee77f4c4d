namespace Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal;

/// <summary>Something registered with an <see cref="EpollReactor"/>: a connection or a listening socket.</summary>
internal interface IEpollHandler
{
    /// <summary>Called on the reactor thread with the ready events (EPOLLIN, EPOLLOUT, ...).</summary>
    void OnEpollEvents(int events);
}
