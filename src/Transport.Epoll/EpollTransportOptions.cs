namespace Reactors.AspNetCore.Server.Kestrel.Transport.Epoll;

/// <summary>
/// Options of the epoll transport. Every option and default is described on <see cref="ReactorTransportOptions"/>;
/// names and defaults match Kestrel's <c>SocketTransportOptions</c> where the meaning is the same.
/// </summary>
public sealed class EpollTransportOptions : ReactorTransportOptions
{
}
