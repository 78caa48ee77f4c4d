using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;
using Reactors.AspNetCore.Server.Kestrel.Transport.Select.Internal;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Select;

/// <summary>
/// Binds Kestrel endpoints with the select transport. Registered by
/// <see cref="WebHostBuilderSelectExtensions.UseSelectTransport(Microsoft.AspNetCore.Hosting.IWebHostBuilder)"/>
/// after Kestrel's Sockets transport, so it serves every endpoint it can bind (IP, Unix domain sockets and
/// inherited file handles) and any other transport serves the rest.
/// </summary>
public sealed class SelectTransportFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    internal const string LoggerCategory = "Reactors.AspNetCore.Server.Kestrel.Transport.Select";

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
    public SelectTransportFactory(IOptions<SelectTransportOptions> options, ILoggerFactory loggerFactory,
        IMemoryPoolFactory<byte>? memoryPoolFactory = null, IMeterFactory? meterFactory = null)
    {
        CoreVersionCheck.EnsureSameVersion(typeof(SelectTransportFactory));
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);

        _transport = new ReactorTransport("select", options.Value, loggerFactory.CreateLogger(LoggerCategory),
            LoggerCategory, meterFactory, memoryPoolFactory, SelectReactor.Create);
    }

    /// <inheritdoc />
    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint or UnixDomainSocketEndPoint or FileHandleEndPoint;

    /// <inheritdoc />
    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (!CanBind(endpoint))
        {
            throw new NotSupportedException(
                $"The select transport binds IP, Unix domain socket and file handle endpoints, not {endpoint.GetType().Name} '{endpoint}'. Kestrel picks another registered transport for such endpoints.");
        }
        Socket listening = SelectListenSocket.Bind(endpoint, _transport.Listen);
        SelectAcceptor acceptor;
        try
        {
            acceptor = new SelectAcceptor(listening, _transport.Settings);
        }
        catch
        {
            listening.Dispose();
            throw;
        }
        return await ReactorConnectionListener<Socket>.StartAsync(acceptor, _transport).ConfigureAwait(false);
    }
}
