using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Epoll;

/// <summary>
/// Binds Kestrel endpoints with the epoll transport. Registered by
/// <see cref="WebHostBuilderEpollExtensions.UseEpollTransport(Microsoft.AspNetCore.Hosting.IWebHostBuilder)"/>
/// after Kestrel's Sockets transport, so it serves every endpoint it can bind (IP, Unix domain sockets and
/// inherited file handles) and any other transport serves the rest.
/// </summary>
public sealed class EpollTransportFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    internal const string LoggerCategory = "Reactors.AspNetCore.Server.Kestrel.Transport.Epoll";

    private readonly ReactorTransport _transport;

    /// <summary>Creates the factory; reactor threads start with the first bound endpoint.</summary>
    /// <param name="options">The transport options.</param>
    /// <param name="loggerFactory">Creates the transport's logger.</param>
    /// <param name="memoryPoolFactory">
    /// Creates one memory pool per reactor; Kestrel registers one. When null, the shared array pool is used.
    /// </param>
    /// <param name="meterFactory">
    /// Creates the transport's meter (named like its log category); the ASP.NET Core host registers one. When
    /// null, the transport creates the meter itself.
    /// </param>
    public EpollTransportFactory(IOptions<EpollTransportOptions> options, ILoggerFactory loggerFactory,
        IMemoryPoolFactory<byte>? memoryPoolFactory = null, IMeterFactory? meterFactory = null)
    {
        CoreVersionCheck.EnsureSameVersion(typeof(EpollTransportFactory));
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);

        _transport = new ReactorTransport("epoll", options.Value, loggerFactory.CreateLogger(LoggerCategory),
            LoggerCategory, meterFactory, memoryPoolFactory, EpollReactor.Create);

        if (!IsSupported)
        {
            TransportLog.TransportNotSupported(_transport.Logger, "epoll", RuntimeInformation.OSDescription);
        }
    }

    /// <summary>
    /// Whether epoll can be used here: Linux with glibc on x64, arm64 or arm. Elsewhere the factory binds
    /// nothing and Kestrel's Sockets transport serves every endpoint.
    /// </summary>
    public static bool IsSupported => EpollAvailability.IsSupported;

    /// <inheritdoc />
    public bool CanBind(EndPoint endpoint) =>
        IsSupported && endpoint is (IPEndPoint or UnixDomainSocketEndPoint or FileHandleEndPoint);

    /// <inheritdoc />
    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (!IsSupported)
        {
            throw new PlatformNotSupportedException(
                $"The epoll transport cannot bind {endpoint}: epoll is not available on {RuntimeInformation.OSDescription}. Remove UseEpollTransport() or run on Linux.");
        }
        if (endpoint is not (IPEndPoint or UnixDomainSocketEndPoint or FileHandleEndPoint))
        {
            throw new NotSupportedException(
                $"The epoll transport binds IP, Unix domain socket and file handle endpoints, not {endpoint.GetType().Name} '{endpoint}'. Kestrel picks another registered transport for such endpoints.");
        }
        var socket = new EpollAcceptor(EpollListenSocket.Create(endpoint, _transport.Listen), _transport.Settings);
        return await ReactorConnectionListener<AcceptedFd>.StartAsync(socket, _transport).ConfigureAwait(false);
    }
}
