using System.Net;
using System.Net.Sockets;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll;
using Reactors.AspNetCore.Server.Kestrel.Transport.IoUring;
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
        { "iouring", "unix" },
        { "iouring", "handle" },
        { "select", "unix" },
        { "select", "handle" },
    };

    [Theory]
    [MemberData(nameof(TransportsAndEndpoints))]
    public async Task UseReactorTransport_NonIPEndpoint_ServedByTheReactorNotSockets(string transport, string endpoint)
    {
        var useTransport = UseTransport(transport);
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

    public static TheoryData<string, string> TransportsAndWrongHandles => new()
    {
        { "epoll", "file" },
        { "epoll", "udp" },
        { "iouring", "file" },
        { "iouring", "udp" },
        { "select", "file" },
        { "select", "udp" },
    };

    [Theory]
    [MemberData(nameof(TransportsAndWrongHandles))]
    public async Task ListenHandle_NotAStreamSocket_StartFailsNamingTheHandleAndLeavesItOpen(string transport, string kind)
    {
        // Arrange: what a wrong ListenHandle or a misconfigured socket unit hands over.
        var file = Path.GetTempFileName();
        await using var stream = new FileStream(file, FileMode.Open, FileAccess.ReadWrite, FileShare.Read, 1, FileOptions.DeleteOnClose);
        using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var handle = kind == "file" ? (ulong)stream.SafeFileHandle.DangerousGetHandle() : (ulong)udp.Handle;
        var options = new TestServerOptions { ListenHandle = handle, ExpectWarnings = true };
        await using var server = TestServerHost.Create(UseTransport(transport), options, static _ => { });

        // Act
        var error = await Assert.ThrowsAnyAsync<Exception>(server.StartAsync);

        // Assert: the message says which handle and what is wrong with it, and the handle is still the same open
        // file or socket (a closed fd number reused by something else would not round-trip).
        var messages = ExceptionChain.Messages(error);
        Assert.Contains($"File handle {handle}", messages, StringComparison.Ordinal);
        Assert.Contains(kind == "file" ? "not a socket" : "not a stream socket", messages, StringComparison.Ordinal);
        if (kind == "file")
        {
            await stream.WriteAsync("still open"u8.ToArray());
            await stream.FlushAsync();
            Assert.Equal("still open", await File.ReadAllTextAsync(file).WithTimeout());
        }
        else
        {
            await udp.SendToAsync("ping"u8.ToArray(), udp.LocalEndPoint!).WithTimeout();
            var datagram = new byte[16];
            var received = await udp.ReceiveFromAsync(datagram, new IPEndPoint(IPAddress.Any, 0)).WithTimeout();
            Assert.Equal("ping"u8.ToArray(), datagram.AsSpan(0, received.ReceivedBytes).ToArray());
        }
    }

    private static TransportConfigurator UseTransport(string transport) => transport switch
    {
        "epoll" => (builder, _) => builder.UseEpollTransport(),
        "iouring" => (builder, _) => builder.UseIoUringTransport(),
        _ => (builder, _) => builder.UseSelectTransport(),
    };
}
