using System.Diagnostics.CodeAnalysis;
using Reactors.AspNetCore.Server.Kestrel.Transport;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll;
using Reactors.AspNetCore.Server.Kestrel.Transport.IoUring;
using Reactors.AspNetCore.Server.Kestrel.Transport.Select;

namespace WebApp;

/// <summary>
/// The transports this sample can run on, chosen with the configuration key <c>transport</c>
/// (<c>--transport epoll</c>, <c>TRANSPORT=epoll</c>, <c>DOTNET_TRANSPORT=epoll</c>, ...).
/// This is the one place that knows them: a new transport is one more entry in <see cref="All"/>.
/// </summary>
/// <param name="Name">The value of the <c>transport</c> option.</param>
/// <param name="Apply">
/// Registers the transport on the web host, with the transport options the sample's switches set
/// (<c>--unsafe-prefer-inline-scheduling</c>, and for the reactor transports <c>--unix-socket-mode</c> and
/// <c>--reuse-port</c>).
/// </param>
/// <param name="IsReactor">True for the reactor transports, whose options include the socket file mode and port sharing.</param>
/// <param name="WhyNotServing">
/// Given a bound address, null when this transport serves it, otherwise why Kestrel's Sockets transport does.
/// </param>
internal sealed record TransportChoice(string Name, Action<IWebHostBuilder, SampleOptions> Apply, bool IsReactor, Func<string, string?> WhyNotServing)
{
    public const string ConfigurationKey = "transport";

    /// <summary>All transports; the first one is the default.</summary>
    public static readonly IReadOnlyList<TransportChoice> All =
    [
        // The reactor transports bind IP endpoints and Unix domain sockets alike; off Linux, epoll binds nothing.
        new("epoll", static (webHost, options) => webHost.UseEpollTransport(o => Configure(o, options)), IsReactor: true, static _ =>
            !EpollTransportFactory.IsSupported ? "it is not supported on this platform" : null),
        // io_uring, or epoll where io_uring is unavailable (the transport logs which, and why).
        new("iouring", static (webHost, options) => webHost.UseIoUringTransport(o => Configure(o, options)), IsReactor: true, static _ =>
            !EpollTransportFactory.IsSupported ? "it is not supported on this platform" : null),
        new("select", static (webHost, options) => webHost.UseSelectTransport(o => Configure(o, options)), IsReactor: true, static _ => null),
        // The best multiplexer of this platform: epoll on Linux, select elsewhere (the options both share).
        new("default", static (webHost, options) => webHost.UseDefaultReactorTransport(o => Configure(o, options)), IsReactor: true, static _ => null),
        // Kestrel's own transport, registered by CreateSlimBuilder already: only its options to set.
        new("sockets", static (webHost, options) => webHost.UseSockets(o => o.UnsafePreferInlineScheduling = options.UnsafePreferInlineScheduling),
            IsReactor: false, static _ => null),
    ];

    private static void Configure(ReactorTransportOptions transport, SampleOptions options)
    {
        transport.UnsafePreferInlineScheduling = options.UnsafePreferInlineScheduling;
        transport.UnixSocketFileMode = options.UnixSocketMode;
        transport.ReusePort = options.ReusePort;
        if (options.ReactorCount is int reactorCount)
        {
            transport.ReactorCount = reactorCount;
        }
        if (options.ReactorSpinDuration is TimeSpan spin)
        {
            transport.ReactorSpinDuration = spin;
        }
    }

    public static bool TryFind(string? value, [NotNullWhen(true)] out TransportChoice? choice)
    {
        // Not given: the default. Given but empty is a mistake worth naming, as for every other option.
        if (value is null)
        {
            choice = All[0];
            return true;
        }

        choice = All.FirstOrDefault(t => string.Equals(t.Name, value.Trim(), StringComparison.OrdinalIgnoreCase));
        return choice is not null;
    }

    public static string UnknownValueMessage(string value) =>
        $"Unknown value '{value}' for the option '{ConfigurationKey}' (--{ConfigurationKey}, or the TRANSPORT environment variable). " +
        $"Allowed values: {string.Join(", ", All.Select(t => t.Name))} (default: {All[0].Name}).";

    /// <summary>True for a server address of a Unix domain socket, like <c>http://unix:/tmp/app.sock</c>.</summary>
    public static bool IsUnixSocket(string address) => address.Contains("://unix:", StringComparison.OrdinalIgnoreCase);
}
