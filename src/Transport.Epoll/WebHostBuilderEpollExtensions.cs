using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Epoll;

/// <summary>Adds the epoll transport to a Kestrel web host.</summary>
public static class WebHostBuilderEpollExtensions
{
    /// <summary>
    /// Serves Kestrel's IP, Unix domain socket and inherited-handle endpoints with the epoll transport. Call it after Kestrel is configured, e.g.
    /// <c>builder.WebHost.UseEpollTransport()</c> after <c>WebApplication.CreateBuilder</c>. Kestrel's Sockets
    /// transport keeps serving the endpoints epoll does not bind, and all of them where epoll is not supported
    /// (see <see cref="EpollTransportFactory.IsSupported"/>), where one warning is logged.
    /// </summary>
    /// <param name="hostBuilder">The web host builder.</param>
    /// <returns>The web host builder.</returns>
    public static IWebHostBuilder UseEpollTransport(this IWebHostBuilder hostBuilder)
    {
        ArgumentNullException.ThrowIfNull(hostBuilder);
        CoreVersionCheck.EnsureSameVersion(typeof(EpollTransportFactory));
        return hostBuilder.ConfigureServices(static services =>
        {
            // Not TryAddSingleton: Kestrel registered Sockets already. Kestrel tries the last registered factory
            // first, and TryAddEnumerable keeps repeated calls from registering twice.
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IConnectionListenerFactory, EpollTransportFactory>());
            services.AddOptions<EpollTransportOptions>();
        });
    }

    /// <summary>Serves Kestrel's IP, Unix domain socket and inherited-handle endpoints with the epoll transport, configured by <paramref name="configureOptions"/>.</summary>
    /// <param name="hostBuilder">The web host builder.</param>
    /// <param name="configureOptions">Configures the transport options; invalid values fail at start-up.</param>
    /// <returns>The web host builder.</returns>
    public static IWebHostBuilder UseEpollTransport(this IWebHostBuilder hostBuilder, Action<EpollTransportOptions> configureOptions)
    {
        ArgumentNullException.ThrowIfNull(configureOptions);
        return hostBuilder.UseEpollTransport().ConfigureServices(services => services.Configure(configureOptions));
    }
}
