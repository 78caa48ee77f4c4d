using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests;

// Unix domain sockets (nginx in front of Kestrel) and inherited handles (systemd socket activation, ListenHandle).
public abstract partial class ConformanceTests
{
    [Fact]
    public async Task UnixSocket_Get_ServesAndReportsEndPointsLikeSockets()
    {
        var path = TestData.NewUnixSocketPath();
        var endPoints = NewGate<(EndPoint? Local, EndPoint? Remote)>();
        var server = await StartServerAsync(MapHealth, options =>
        {
            options.UnixSocketPath = path;
            options.ConnectionMiddleware = next => connection =>
            {
                endPoints.TrySetResult((connection.LocalEndPoint, connection.RemoteEndPoint));
                return next(connection);
            };
        });

        await AssertServerHealthyAsync(server);

        var (local, remote) = await endPoints.Task.WithTimeout();
        // Sockets reports the listening path as the local end and an unnamed (empty path) peer.
        Assert.Equal(path, Assert.IsType<UnixDomainSocketEndPoint>(local).ToString());
        Assert.Equal(string.Empty, Assert.IsType<UnixDomainSocketEndPoint>(remote).ToString());
    }

    [Fact]
    public async Task UnixSocket_LargeBodies_RoundTripIntact()
    {
        const int Length = 8 * TestData.MiB;
        var server = await StartServerAsync(MapEcho, options => options.UnixSocketPath = TestData.NewUnixSocketPath());

        using var client = server.CreateHttpClient();
        using var content = new ByteArrayContent(TestData.Pattern(Length));
        using var response = await client.PostAsync(new Uri("/echo", UriKind.Relative), content).WithTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(TestData.Pattern(Length), await response.Content.ReadAsByteArrayAsync().WithTimeout());
    }

    [Fact]
    public async Task UnixSocket_FileExists_ThrowsAddressInUseAndLeavesTheFile()
    {
        // The file may belong to a running server: it must never be deleted to make room (aspnetcore#46001).
        var path = TestData.NewUnixSocketPath();
        await File.WriteAllTextAsync(path, "not ours");
        try
        {
            var server = CreateServer(MapHealth, options =>
            {
                options.UnixSocketPath = path;
                options.ExpectWarnings = true;
            });

            var error = await Assert.ThrowsAsync<IOException>(server.StartAsync);

            Assert.Contains("address already in use", error.Message, StringComparison.OrdinalIgnoreCase);
            Assert.IsType<AddressInUseException>(error.InnerException);
            Assert.Equal("not ours", await File.ReadAllTextAsync(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task UnixSocket_ServerStopped_SocketFileRemovedAndPathReusable()
    {
        var path = TestData.NewUnixSocketPath();
        var first = await StartServerAsync(MapHealth, options => options.UnixSocketPath = path);
        Assert.True(File.Exists(path), "The socket file was not created.");

        await first.StopAsync();
        await first.DisposeAsync();

        Assert.False(File.Exists(path), "The socket file is still there after the server stopped.");
        var second = await StartServerAsync(MapHealth, options => options.UnixSocketPath = path);
        await AssertServerHealthyAsync(second);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ListenHandle_InheritedSocket_ServesReportsRealEndPointAndNeverClosesIt(bool alreadyListening)
    {
        // What systemd does: bind (and usually listen) a socket, then hand its fd to the service.
        using var inherited = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        inherited.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var bound = (IPEndPoint)inherited.LocalEndPoint!;
        if (alreadyListening)
        {
            inherited.Listen();
        }
        var localEndPoint = NewGate<EndPoint?>();
        var server = await StartServerAsync(MapHealth, options =>
        {
            options.ListenHandle = (ulong)inherited.Handle;
            options.ConnectionMiddleware = next => connection =>
            {
                localEndPoint.TrySetResult(connection.LocalEndPoint);
                return next(connection);
            };
        });

        var address = server.App.Services.GetRequiredService<IServer>().Features
            .GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        Assert.Equal($"http://127.0.0.1:{bound.Port}", address);
        await AssertServerHealthyAsync(server);
        Assert.Equal(bound, await localEndPoint.Task.WithTimeout());

        await server.StopAsync();
        await server.DisposeAsync();

        // Still open and listening: the fd belongs to whoever passed it, and only it may close it.
        using var client = await RawClient.ConnectAsync(bound);
        inherited.Listen(); // only .NET's own bookkeeping: the kernel has had the socket listening since the server started
        using var accepted = await inherited.AcceptAsync().WithTimeout();
        Assert.Equal(client.Socket.LocalEndPoint, accepted.RemoteEndPoint);
    }

    /// <summary>
    /// Reads the whole body before answering: HttpClient reads no response until it has sent its request, so
    /// echoing while still receiving would fill both socket buffers and deadlock.
    /// </summary>
    private static void MapEcho(WebApplication app) =>
        app.MapPost("/echo", (RequestDelegate)(async ctx =>
        {
            using var body = new MemoryStream();
            await ctx.Request.Body.CopyToAsync(body, ctx.RequestAborted);
            ctx.Response.ContentLength = body.Length;
            await ctx.Response.Body.WriteAsync(body.GetBuffer().AsMemory(0, (int)body.Length), ctx.RequestAborted);
        }));
}
