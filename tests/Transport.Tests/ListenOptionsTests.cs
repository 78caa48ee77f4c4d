using System.Net;
using System.Runtime.Versioning;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll;
using Reactors.AspNetCore.Server.Kestrel.Transport.IoUring;
using Reactors.AspNetCore.Server.Kestrel.Transport.Select;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests;

/// <summary>
/// The reactor transports' listening-socket options that Kestrel's Sockets transport lacks: the Unix socket file's
/// mode (<c>UnixSocketFileMode</c>) and port sharing across servers (<c>ReusePort</c>). Reactor transports only: on
/// Sockets there is nothing to set.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class ListenOptionsTests
{
    private const UnixFileMode Everyone = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead
        | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;

    private const UnixFileMode OwnerAndGroup = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite;

    public static TheoryData<string> Transports => new() { "epoll", "iouring", "select" };

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task UnixSocketFileMode_Set_TheFileHasItAndServes(string transport)
    {
        foreach (var mode in new[] { Everyone, OwnerAndGroup })
        {
            var options = new TestServerOptions { UnixSocketPath = TestData.NewUnixSocketPath() };
            await using var server = TestServerHost.Create(Use(transport, o => o.UnixSocketFileMode = mode), options, MapHello);
            await server.StartAsync();

            Assert.Equal(mode, File.GetUnixFileMode(options.UnixSocketPath));
            using var client = await server.ConnectAsync();
            await client.SendAsync("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
            Assert.Equal("hello", (await client.ReadResponseAsync()).BodyText);
        }
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task UnixSocketFileMode_Unset_OtherUsersCannotConnect(string transport)
    {
        // The umask decides, as with Sockets: 022, the usual one, leaves 0755, and connecting needs write access.
        var options = new TestServerOptions { UnixSocketPath = TestData.NewUnixSocketPath() };
        await using var server = TestServerHost.Create(Use(transport, static _ => { }), options, MapHello);
        await server.StartAsync();

        Assert.Equal(UnixFileMode.None, File.GetUnixFileMode(options.UnixSocketPath) & UnixFileMode.OtherWrite);
    }

    [Fact]
    public void UnixSocketFileMode_NotAPermission_ThrowsNamingTheOption()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new EpollTransportOptions { UnixSocketFileMode = (UnixFileMode)0x1000 });

        Assert.Equal(nameof(ReactorTransportOptions.UnixSocketFileMode), error.ParamName);
        Assert.Contains("permission bits only", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task ReusePort_BothServers_ShareThePortAndBothAccept(string transport)
    {
        await using var first = TestServerHost.Create(Use(transport, static o => o.ReusePort = true), new TestServerOptions(), app => MapName(app, "first"));
        await first.StartAsync();
        await using var second = TestServerHost.Create(Use(transport, static o => o.ReusePort = true),
            new TestServerOptions { Port = first.IPEndPoint.Port }, app => MapName(app, "second"));
        await second.StartAsync();

        // The kernel spreads new connections by a hash of their addresses: in 64 connections both get some
        // (all to one server has a chance of 2^-63).
        var served = new HashSet<string>();
        for (int i = 0; i < 64; i++)
        {
            using var client = await first.ConnectAsync();
            await client.SendAsync("GET /name HTTP/1.1\r\nHost: x\r\n\r\n");
            served.Add((await client.ReadResponseAsync()).BodyText);
        }

        Assert.Equal(["first", "second"], served.Order());
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task ReusePort_Off_SecondServerFailsWithAddressInUse(string transport)
    {
        await using var first = TestServerHost.Create(Use(transport, static _ => { }), new TestServerOptions(), MapHello);
        await first.StartAsync();
        await using var second = TestServerHost.Create(Use(transport, static _ => { }),
            new TestServerOptions { Port = first.IPEndPoint.Port, ExpectWarnings = true }, MapHello);

        var error = await Assert.ThrowsAnyAsync<Exception>(second.StartAsync);

        var messages = ExceptionChain.Messages(error);
        Assert.Contains("already in use", messages, StringComparison.OrdinalIgnoreCase);
    }

    private static TransportConfigurator Use(string transport, Action<ReactorTransportOptions> configure) => transport switch
    {
        "epoll" => (builder, _) => builder.UseEpollTransport(o => configure(o)),
        "iouring" => (builder, _) => builder.UseIoUringTransport(o => configure(o)),
        _ => (builder, _) => builder.UseSelectTransport(o => configure(o)),
    };

    private static void MapHello(WebApplication app) =>
        app.MapGet("/hello", (RequestDelegate)(ctx => ctx.Response.WriteAsync("hello")));

    private static void MapName(WebApplication app, string name) =>
        app.MapGet("/name", (RequestDelegate)(ctx => ctx.Response.WriteAsync(name)));
}
