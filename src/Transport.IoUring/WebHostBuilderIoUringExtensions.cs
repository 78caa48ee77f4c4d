using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.IoUring;

/// <summary>Adds the io_uring transport to a Kestrel web host.</summary>
public static class WebHostBuilderIoUringExtensions
{
    /// <summary>
    /// Serves Kestrel's IP, Unix domain socket and inherited-handle endpoints with the io_uring transport, e.g.
    /// <c>builder.WebHost.UseIoUringTransport()</c> after <c>WebApplication.CreateBuilder</c>. Where io_uring is
    /// unavailable (an old kernel, a seccomp profile, <c>kernel.io_uring_disabled</c>, or the
    /// <c>REACTORS_IO_URING=0</c> switch) the same endpoints are served through the epoll transport, and one warning
    /// says why (see <see cref="IoUringTransportFactory.IsSupported"/> and
    /// <see cref="IoUringTransportFactory.UnsupportedReason"/>). Off Linux, Kestrel's Sockets transport serves them.
    /// </summary>
    /// <param name="hostBuilder">The web host builder.</param>
    /// <returns>The web host builder.</returns>
    public static IWebHostBuilder UseIoUringTransport(this IWebHostBuilder hostBuilder)
    {
        ArgumentNullException.ThrowIfNull(hostBuilder);
        CoreVersionCheck.EnsureSameVersion(typeof(IoUringTransportFactory));
        CoreVersionCheck.EnsureSameVersion(typeof(EpollTransportFactory));
        return hostBuilder.ConfigureServices(static services =>
        {
            // Last registered is tried first by Kestrel; TryAddEnumerable keeps repeated calls from registering twice.
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IConnectionListenerFactory, IoUringTransportFactory>());
            services.AddOptions<IoUringTransportOptions>();
        });
    }

    /// <summary>Serves Kestrel's IP, Unix domain socket and inherited-handle endpoints with the io_uring transport, configured by <paramref name="configureOptions"/>.</summary>
    /// <param name="hostBuilder">The web host builder.</param>
    /// <param name="configureOptions">Configures the transport options; invalid values fail at start-up.</param>
    /// <returns>The web host builder.</returns>
    public static IWebHostBuilder UseIoUringTransport(this IWebHostBuilder hostBuilder, Action<IoUringTransportOptions> configureOptions)
    {
        ArgumentNullException.ThrowIfNull(configureOptions);
        return hostBuilder.UseIoUringTransport().ConfigureServices(services => services.Configure(configureOptions));
    }
}
