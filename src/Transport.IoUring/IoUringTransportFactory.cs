using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;
using Reactors.AspNetCore.Server.Kestrel.Transport.IoUring.Internal;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.IoUring;

/// <summary>
/// Binds Kestrel endpoints with the io_uring transport, or, where io_uring is unavailable, with the epoll transport
/// (decided once per process at start, and logged). Registered by
/// <see cref="WebHostBuilderIoUringExtensions.UseIoUringTransport(Microsoft.AspNetCore.Hosting.IWebHostBuilder)"/>
/// after Kestrel's Sockets transport, so it serves every endpoint it can bind (IP, Unix domain sockets and
/// inherited file handles) and any other transport serves the rest.
/// </summary>
public sealed class IoUringTransportFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    internal const string LoggerCategory = "Reactors.AspNetCore.Server.Kestrel.Transport.IoUring";

    private readonly ReactorTransport _transport;
    private readonly IoUringSupport _support;

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
    public IoUringTransportFactory(IOptions<IoUringTransportOptions> options, ILoggerFactory loggerFactory,
        IMemoryPoolFactory<byte>? memoryPoolFactory = null, IMeterFactory? meterFactory = null)
    {
        CoreVersionCheck.EnsureSameVersion(typeof(IoUringTransportFactory));
        CoreVersionCheck.EnsureSameVersion(typeof(EpollTransportFactory));
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);

        IoUringTransportOptions value = options.Value;
        ILogger logger = loggerFactory.CreateLogger(LoggerCategory);
        _support = IoUringAvailability.Support;
        if (_support.Status == IoUringStatus.Supported)
        {
            var ring = new RingSettings(_support.SetupFlags, (uint)value.SubmissionQueueSize, (uint)value.SubmissionQueueSize * 4,
                value.ReceiveBufferCount, value.ReceiveBufferSize);
            _transport = new ReactorTransport("io_uring", value, logger, LoggerCategory, meterFactory, memoryPoolFactory,
                (name, pool, log, spin) => IoUringReactor.Create(name, pool, log, spin, ring));
            IoUringLog.InUse(logger, _support.Kernel, _support.DescribeSetup(), value.ReceiveBufferCount, value.ReceiveBufferSize,
                value.SubmissionQueueSize);
            return;
        }

        // The same endpoints through epoll, under this transport's log category and meter.
        _transport = new ReactorTransport("epoll", value, logger, LoggerCategory, meterFactory, memoryPoolFactory, EpollReactor.Create);
        if (!EpollTransportFactory.IsSupported)
        {
            TransportLog.TransportNotSupported(logger, "io_uring", RuntimeInformation.OSDescription);
        }
        else if (_support.Status == IoUringStatus.Unavailable)
        {
            IoUringLog.Unavailable(logger, _support.Reason!, _support.Kernel);
        }
        else
        {
            IoUringLog.Failed(logger, _support.Reason!, _support.Kernel);
        }
    }

    /// <summary>
    /// Whether io_uring serves here: Linux with glibc, a kernel with every feature this transport uses (multishot
    /// receive and provided-buffer rings: Linux 6.0), io_uring permitted, and not turned off with
    /// <c>REACTORS_IO_URING=0</c>. Probed once per process. Where it is false on Linux the factory serves through epoll.
    /// </summary>
    public static bool IsSupported => IoUringAvailability.Support.Status == IoUringStatus.Supported;

    /// <summary>Why io_uring does not serve here (as logged at start); null where <see cref="IsSupported"/>.</summary>
    public static string? UnsupportedReason => IoUringAvailability.Support.Reason;

    /// <inheritdoc />
    public bool CanBind(EndPoint endpoint) =>
        EpollTransportFactory.IsSupported && endpoint is (IPEndPoint or UnixDomainSocketEndPoint or FileHandleEndPoint);

    /// <inheritdoc />
    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (!EpollTransportFactory.IsSupported)
        {
            throw new PlatformNotSupportedException(
                $"The io_uring transport cannot bind {endpoint}: neither io_uring nor epoll is available on {RuntimeInformation.OSDescription}. Remove UseIoUringTransport() or run on Linux.");
        }
        if (endpoint is not (IPEndPoint or UnixDomainSocketEndPoint or FileHandleEndPoint))
        {
            throw new NotSupportedException(
                $"The io_uring transport binds IP, Unix domain socket and file handle endpoints, not {endpoint.GetType().Name} '{endpoint}'. Kestrel picks another registered transport for such endpoints.");
        }
        if (_support.Status == IoUringStatus.Failed)
        {
            throw new InvalidOperationException(
                $"The io_uring transport cannot start: {_support.Reason}. Free the resource, or set {IoUringAvailability.EnvironmentSwitch}=0 to serve through epoll.");
        }
        EpollListenSocket listenSocket = EpollListenSocket.Create(endpoint, _transport.Listen);
        IListenSocket<AcceptedFd> socket = _support.Status == IoUringStatus.Supported
            ? new IoUringAcceptor(listenSocket, _transport.Settings)
            : new EpollAcceptor(listenSocket, _transport.Settings);
        return await ReactorConnectionListener<AcceptedFd>.StartAsync(socket, _transport).ConfigureAwait(false);
    }
}
