using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal.Interop;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal;

/// <summary>
/// A listening fd ready for accept4, made from any endpoint Kestrel can ask for: bound here for an IP or Unix
/// domain socket endpoint, inherited for a <see cref="FileHandleEndPoint"/> (systemd, <c>ListenHandle</c>).
/// </summary>
/// <param name="Handle">The fd; it is closed on dispose only when this transport created it.</param>
/// <param name="EndPoint">The endpoint actually bound, as the kernel reports it (the real port for port 0).</param>
/// <param name="Family">The socket's family; TCP options apply to IP sockets only.</param>
/// <param name="SocketFile">The Unix socket file this transport created, deleted when the listener closes.</param>
/// <param name="Inherited">Made by someone else (systemd, <c>ListenHandle</c>), with options this transport does not know.</param>
internal sealed record EpollListenSocket(FileDescriptorHandle Handle, EndPoint EndPoint, AddressFamily Family, string? SocketFile, bool Inherited = false)
{
    public static EpollListenSocket Create(EndPoint endPoint, ListenSettings settings) => endPoint switch
    {
        IPEndPoint ip => Bind(ip, settings),
        UnixDomainSocketEndPoint unix => Bind(unix, settings),
        FileHandleEndPoint inherited => Adopt(inherited, settings.Backlog),
        _ => throw new NotSupportedException($"The epoll transport cannot bind {endPoint.GetType().Name} '{endPoint}'."),
    };

    public bool IsIP => Family is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6;

    /// <summary>
    /// The local address of every connection accepted here, when the listener knows it without asking the kernel:
    /// an IP listener this transport bound to one address hands that address and port to all of them. Null for a
    /// wildcard (0.0.0.0, [::], [::ffff:0.0.0.0]), where each connection's address depends on the interface it came
    /// in on, and for an inherited listener, which may carry options that change it (IP_TRANSPARENT: each
    /// connection's local address is the one its client asked for).
    /// </summary>
    public EndPoint? AcceptedLocalEndPoint() => EndPoint switch
    {
        _ when Inherited => null,
        IPEndPoint ip when IsWildcard(ip.Address) => null,
        IPEndPoint ip => new IPEndPoint(ip.Address, ip.Port),
        _ => EndPoint, // a Unix socket connection's local address is the listener's own path
    };

    private static bool IsWildcard(IPAddress address) =>
        address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)
        || (address.IsIPv4MappedToIPv6 && address.MapToIPv4().Equals(IPAddress.Any));

    /// <summary>Closes an fd this transport created, and removes the socket file it created.</summary>
    public void Close()
    {
        Handle.Dispose();
        if (SocketFile is not null)
        {
            try
            {
                File.Delete(SocketFile);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Best effort, as with .NET's own sockets: a leftover file only makes the next bind report
                // "address in use", with a message that says to delete it.
            }
        }
    }

    private static EpollListenSocket Bind(IPEndPoint endPoint, ListenSettings settings)
    {
        return BindNew(endPoint, endPoint.AddressFamily, settings.Backlog, fd =>
        {
            // Rebinding right after a restart must not wait for TIME_WAIT connections to expire.
            ThrowIfFailed(SocketApi.SetReuseAddress(fd), endPoint, "setting SO_REUSEADDR");
            if (settings.ReusePort)
            {
                ThrowIfFailed(SocketApi.SetReusePort(fd), endPoint, "setting SO_REUSEPORT (ReusePort)");
            }
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6)
            {
                // [::] serves IPv4 too (dual mode), as with Kestrel's Sockets transport.
                ThrowIfFailed(SocketApi.SetIPv6Only(fd, !endPoint.Address.Equals(IPAddress.IPv6Any)), endPoint, "setting IPV6_V6ONLY");
            }
            if (settings.NoDelay)
            {
                // Accepted sockets copy it from the listening one on Linux, which saves a setsockopt per connection
                // (the listener checks that once, on its first connection).
                ThrowIfFailed(SocketApi.SetNoDelay(fd), endPoint, "setting TCP_NODELAY (NoDelay)");
            }
        }, socketFile: null, socketFileMode: null);
    }

    private static EpollListenSocket Bind(UnixDomainSocketEndPoint endPoint, ListenSettings settings) =>
        // An existing file is never removed: it may belong to a running server (Kestrel's rule since .NET 8).
        BindNew(endPoint, AddressFamily.Unix, settings.Backlog, configure: null,
            socketFile: UnixSocketFiles.PathOf(endPoint), settings.UnixSocketFileMode);

    private static EpollListenSocket BindNew(EndPoint endPoint, AddressFamily family, int backlog, Action<int>? configure, string? socketFile,
        UnixFileMode? socketFileMode)
    {
        SocketError error = SocketApi.CreateStreamSocket(family, out int fd);
        if (error != SocketError.Success)
        {
            // Not an IOException: Kestrel's localhost and any-IP binding fall back on other exception types
            // (an IPv6-less host reports EAFNOSUPPORT here).
            throw new SocketException((int)error, $"Creating a socket for {endPoint} failed: {Describe(error)}.");
        }
        var handle = new FileDescriptorHandle(fd, ownsFd: true);
        bool bound = false;
        try
        {
            configure?.Invoke(fd);
            error = SocketApi.Bind(fd, endPoint);
            if (error == SocketError.AddressAlreadyInUse)
            {
                throw ListenErrors.AddressInUse(endPoint, new SocketException((int)error));
            }
            ThrowIfFailed(error, endPoint, "binding");
            bound = true;
            if (socketFile is not null && socketFileMode is { } mode)
            {
                UnixSocketFiles.ApplyMode(socketFile, mode, endPoint);
            }
            ThrowIfFailed(SocketApi.Listen(fd, backlog), endPoint, "listening");

            EndPoint boundEndPoint = SocketApi.GetLocalEndPoint(fd)
                ?? throw new SocketException((int)SocketError.SocketError, $"Reading the bound address of {endPoint} failed.");
            return new EpollListenSocket(handle, boundEndPoint, family, socketFile);
        }
        catch
        {
            new EpollListenSocket(handle, endPoint, family, bound ? socketFile : null).Close();
            throw;
        }
    }

    /// <summary>
    /// Listens on an fd the process inherited, bound or even listening already. It is never closed here: it
    /// belongs to whoever passed it (systemd keeps it to restart the service).
    /// </summary>
    private static EpollListenSocket Adopt(FileHandleEndPoint endPoint, int backlog)
    {
        if (endPoint.FileHandle > int.MaxValue)
        {
            throw new ArgumentException($"File handle {endPoint.FileHandle} is not a valid file descriptor.", nameof(endPoint));
        }
        int fd = (int)endPoint.FileHandle;
        SocketError error = SocketApi.GetStreamSocketFamily(fd, out AddressFamily family);
        if (error != SocketError.Success)
        {
            throw new SocketException((int)error, error switch
            {
                SocketError.OperationAborted =>
                    $"File handle {fd} is not open in this process. Check the handle passed to ListenHandle, or that systemd passed the socket (LISTEN_FDS).",
                SocketError.NotSocket or SocketError.OperationNotSupported => ListenErrors.HandleNotASocket(endPoint.FileHandle),
                SocketError.SocketNotSupported => ListenErrors.HandleNotAStreamSocket(endPoint.FileHandle),
                SocketError.AddressFamilyNotSupported =>
                    $"File handle {fd} is a socket of a family other than IPv4, IPv6 or Unix.",
                _ => $"File handle {fd} cannot be used: {Describe(error)}.",
            });
        }
        var handle = new FileDescriptorHandle(fd, ownsFd: false);
        string description = $"file handle {fd}";
        // accept4 must never block Kestrel's accept loop; the flag is on the shared file description, as it
        // would be with Kestrel's Sockets transport.
        ThrowIfFailed(SocketApi.SetNonBlocking(fd), description, "making non-blocking");
        // Listening again on a listening socket only updates its backlog.
        ThrowIfFailed(SocketApi.Listen(fd, backlog), description, "listening");
        EndPoint boundEndPoint = SocketApi.GetLocalEndPoint(fd)
            ?? throw new SocketException((int)SocketError.SocketError, $"Reading the bound address of {description} failed.");
        return new EpollListenSocket(handle, boundEndPoint, family, SocketFile: null, Inherited: true);
    }

    private static void ThrowIfFailed(SocketError error, object target, string step)
    {
        if (error != SocketError.Success)
        {
            throw new SocketException((int)error, $"{char.ToUpperInvariant(step[0])}{step[1..]} for {target} failed: {Describe(error)}.");
        }
    }

    private static string Describe(SocketError error) => error switch
    {
        SocketError.AccessDenied => "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE; a Unix socket needs write access to its folder)",
        SocketError.AddressNotAvailable => "the address is not available on this machine (for a Unix socket: does its folder exist?)",
        SocketError.AddressFamilyNotSupported => "this address family is not supported here (is IPv6 disabled?)",
        _ => new SocketException((int)error).Message,
    };
}
