using System.Net;
using System.Net.Sockets;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll;
using Reactors.AspNetCore.Server.Kestrel.Transport.Select;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests;

/// <summary>
/// The conformance suite proves Unix sockets and inherited handles work on each transport; these prove the
/// reactor transport itself served them, not Kestrel's Sockets transport registered beside it.
/// </summary>
public sealed class ReactorEndpointTests
{
    public static TheoryData<string, string> TransportsAndEndpoints => new()
    {
        { "epoll", "unix" },
        { "epoll", "handle" },
        { "select", "unix" },
        { "select", "handle" },
    };

    [Theory]
    [MemberData(nameof(TransportsAndEndpoints))]
    public async Task UseReactorTransport_NonIPEndpoint_ServedByTheReactorNotSockets(string transport, string endpoint)
    {
        TransportConfigurator useTransport = transport == "epoll"
            ? (builder, _) => builder.UseEpollTransport()
            : (builder, _) => builder.UseSelectTransport();
        using var inherited = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var options = new TestServerOptions();
        if (endpoint == "unix")
        {
            options.UnixSocketPath = TestData.NewUnixSocketPath();
        }
        else
        {
            inherited.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            options.ListenHandle = (ulong)inherited.Handle;
        }

        try
        {
            await ServingTransport.AssertServedByReactorAsync(useTransport, options);
        }
        finally
        {
            if (options.UnixSocketPath is { } path)
            {
                File.Delete(path);
            }
        }
    }
}
