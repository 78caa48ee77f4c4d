using Microsoft.AspNetCore.Hosting;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll;
using Reactors.AspNetCore.Server.Kestrel.Transport.Select;

namespace Reactors.AspNetCore.Server.Kestrel.Transport;

/// <summary>
/// Adds the best reactor transport this platform has, in the spirit of Python's <c>selectors.DefaultSelector</c>:
/// epoll where the kernel and C library support it (<see cref="EpollTransportFactory.IsSupported"/>), select
/// everywhere else.
/// </summary>
/// <remarks>
/// This package references both transports. The epoll assembly is loaded everywhere but touches Tmds.LibC only
/// after its platform check, so on Windows and macOS no Tmds.LibC implementation is needed. Applications that
/// must not carry the epoll assembly at all reference the select package alone.
/// </remarks>
public static class WebHostBuilderDefaultReactorExtensions
{
    /// <summary>The transport <see cref="UseDefaultReactorTransport(IWebHostBuilder)"/> picks here: "epoll" or "select".</summary>
    public static string DefaultReactorTransportName => EpollTransportFactory.IsSupported ? "epoll" : "select";

    /// <summary>Serves Kestrel's IP, Unix domain socket and inherited-handle endpoints with the best reactor transport of this platform.</summary>
    /// <param name="hostBuilder">The web host builder.</param>
    /// <returns>The web host builder.</returns>
    public static IWebHostBuilder UseDefaultReactorTransport(this IWebHostBuilder hostBuilder) =>
        hostBuilder.UseDefaultReactorTransport(static _ => { });

    /// <summary>
    /// Serves Kestrel's IP, Unix domain socket and inherited-handle endpoints with the best reactor transport of this platform, configured by
    /// <paramref name="configureOptions"/> (the options both transports share).
    /// </summary>
    /// <param name="hostBuilder">The web host builder.</param>
    /// <param name="configureOptions">Configures the transport options; invalid values fail at start-up.</param>
    /// <returns>The web host builder.</returns>
    public static IWebHostBuilder UseDefaultReactorTransport(this IWebHostBuilder hostBuilder, Action<ReactorTransportOptions> configureOptions)
    {
        ArgumentNullException.ThrowIfNull(hostBuilder);
        ArgumentNullException.ThrowIfNull(configureOptions);
        return EpollTransportFactory.IsSupported
            ? hostBuilder.UseEpollTransport(configureOptions)
            : hostBuilder.UseSelectTransport(configureOptions);
    }
}
