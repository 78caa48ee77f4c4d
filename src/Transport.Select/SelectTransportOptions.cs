namespace Reactors.AspNetCore.Server.Kestrel.Transport.Select;

/// <summary>
/// Options of the select transport. Every option and default is described on <see cref="ReactorTransportOptions"/>;
/// they are the same as the epoll transport's.
/// </summary>
/// <remarks>
/// Each wait of a select reactor scans all of its sockets, so the cost of a wait grows with the connections of
/// that reactor; more reactors (up to the processor count) keep each scan short.
/// </remarks>
public sealed class SelectTransportOptions : ReactorTransportOptions
{
}
