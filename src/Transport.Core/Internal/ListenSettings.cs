namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>The values of <see cref="ReactorTransportOptions"/> that shape a listening socket, resolved once per transport.</summary>
/// <param name="Backlog">The length of the pending-connection queue passed to listen.</param>
/// <param name="UnixSocketFileMode">The mode of the Unix socket files the transport creates; null keeps what the umask gives.</param>
/// <param name="ReusePort">SO_REUSEPORT on IP listeners.</param>
/// <param name="NoDelay">TCP_NODELAY on IP listeners, which accepted sockets copy.</param>
internal sealed record ListenSettings(int Backlog, UnixFileMode? UnixSocketFileMode, bool ReusePort, bool NoDelay)
{
    public ListenSettings(ReactorTransportOptions options)
        : this(options.Backlog, options.UnixSocketFileMode, options.ReusePort, options.NoDelay)
    {
    }
}
