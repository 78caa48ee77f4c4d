using System.Net.Sockets;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Select.Internal;

/// <summary>Something a <see cref="SelectReactor"/> multiplexes: a connection or a listening socket.</summary>
internal interface ISelectHandler
{
    Socket Socket { get; }

    /// <summary>
    /// What to wait for in this iteration. Select is level-triggered, so a handler that is not interested (a
    /// paused receive side, a backing-off listener) must say so or the wait would return at once, forever.
    /// </summary>
    /// <param name="nowMilliseconds">The current <see cref="Environment.TickCount64"/>.</param>
    /// <param name="timeoutMilliseconds">The wait's timeout, which a handler may shorten (-1: none).</param>
    SelectInterest GetInterest(long nowMilliseconds, ref int timeoutMilliseconds);

    void OnSelectReadable();

    void OnSelectWritable();
}

[Flags]
internal enum SelectInterest
{
    None = 0,
    Read = 1,
    Write = 2,
}
