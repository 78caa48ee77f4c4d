using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Select;

/// <summary>Adds the select transport to a Kestrel web host.</summary>
public static class WebHostBuilderSelectExtensions
{
    /// <summary>
    /// Serves Kestrel's IP, Unix domain socket and inherited-handle endpoints with the select transport, on any operating system. Call it after Kestrel
    /// is configured, e.g. <c>builder.WebHost.UseSelectTransport()</c> after <c>WebApplication.CreateBuilder</c>;
    /// Kestrel's Sockets transport keeps serving the endpoints select does not bind.
    /// </summary>
    /// <param name="hostBuilder">The web host builder.</param>
    /// <returns>The web host builder.</returns>
    public static IWebHostBuilder UseSelectTransport(this IWebHostBuilder hostBuilder)
    {
        ArgumentNullException.ThrowIfNull(hostBuilder);
        CoreVersionCheck.EnsureSameVersion(typeof(SelectTransportFactory));
        return hostBuilder.ConfigureServices(static services =>
        {
            // Not TryAddSingleton: Kestrel registered Sockets already, and it tries the last registered factory
            // first. TryAddEnumerable keeps repeated calls from registering twice.
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IConnectionListenerFactory, SelectTransportFactory>());
            services.AddOptions<SelectTransportOptions>();
        });
    }

    /// <summary>Serves Kestrel's IP, Unix domain socket and inherited-handle endpoints with the select transport, configured by <paramref name="configureOptions"/>.</summary>
    /// <param name="hostBuilder">The web host builder.</param>
    /// <param name="configureOptions">Configures the transport options; invalid values fail at start-up.</param>
    /// <returns>The web host builder.</returns>
    public static IWebHostBuilder UseSelectTransport(this IWebHostBuilder hostBuilder, Action<SelectTransportOptions> configureOptions)
    {
        ArgumentNullException.ThrowIfNull(configureOptions);
        return hostBuilder.UseSelectTransport().ConfigureServices(services => services.Configure(configureOptions));
    }
}
