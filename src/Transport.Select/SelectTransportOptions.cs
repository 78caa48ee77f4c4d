namespace Reactors.AspNetCore.Server.Kestrel.Transport.Select;

/// <summary>
/// Options of the select transport. Every option and default is described on <see cref="ReactorTransportOptions"/>;
/// they are the same as the epoll transport's.
/// </summary>
/// <remarks>
/// Each wait of a select reactor hands all of its sockets to the kernel, so the cost of a wait grows with the
/// connections of that reactor, idle or not. More reactors than the default keep each wait short, which helps a lone
/// request beside many idle connections (measured: 0.43 instead of 1.17 ms beside 3,000 with four reactors), but
/// each wait then serves fewer ready sockets, which costs throughput when many connections are active (0.4–0.9× on
/// 16 with four reactors). For many idle connections on Linux, prefer the epoll transport.
/// </remarks>
public sealed class SelectTransportOptions : ReactorTransportOptions
{
}
