using System.Globalization;
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

// Binding, addresses and shutdown: what Kestrel asks of a transport's listener.
public abstract partial class ConformanceTests
{
    [Fact]
    public async Task StopAsync_RequestInFlight_RequestCompletesWithFullBodyAndStopFinishes()
    {
        const int Length = TestData.MiB;
        var requestStarted = NewGate();
        var releaseRequest = NewGate();
        var server = await StartServerAsync(app =>
            app.MapGet("/slow", (RequestDelegate)(async ctx =>
            {
                requestStarted.TrySetResult();
                await releaseRequest.Task.WaitQuietlyAsync();
                ctx.Response.ContentLength = Length;
                await ctx.Response.Body.WriteAsync(TestData.Pattern(Length));
            })));

        using var client = server.CreateHttpClient();
        var responseTask = client.GetAsync(new Uri("/slow", UriKind.Relative));
        await requestStarted.Task.WithTimeout();

        var stopTask = server.StopAsync();
        // A graceful stop waits for requests in flight; finishing now would mean the request was dropped.
        Assert.False(stopTask.IsCompleted, "StopAsync completed while a request was still in flight.");
        releaseRequest.SetResult();

        using var response = await responseTask.WithTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(TestData.Pattern(Length), await response.Content.ReadAsByteArrayAsync().WithTimeout());
        // Well under the host's 20 s shutdown timeout: the transport must close connections, not wait them out.
        await stopTask.WithTimeout(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task StopAsync_AfterStop_NewConnectionsRefused()
    {
        var server = await StartServerAsync(MapHealth);
        await AssertServerHealthyAsync(server);

        await server.StopAsync();

        var error = await Assert.ThrowsAsync<SocketException>(() => server.ConnectAsync());
        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
    }

    [Fact]
    public async Task PortZero_ServerAddressesFeature_ReportsBoundPortThatAcceptsConnections()
    {
        var server = await StartServerAsync(MapHealth);

        var address = server.App.Services.GetRequiredService<IServer>().Features
            .GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        var uri = new Uri(address);
        Assert.Equal("127.0.0.1", uri.Host);
        Assert.NotEqual(0, uri.Port);

        using var client = await RawClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, uri.Port));
        await client.SendAsync("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
        var response = await client.ReadResponseAsync();
        Assert.Equal(200, response.StatusCode);
        Assert.Equal("healthy", response.BodyText);
    }

    [Fact]
    public async Task StartAsync_PortAlreadyInUse_ThrowsAddressInUseAndFirstServerKeepsServing()
    {
        var first = await StartServerAsync(MapHealth);
        // Kestrel logs a critical "Unable to start Kestrel" for the second server, which is the point here.
        var second = CreateServer(MapHealth, options =>
        {
            options.Port = first.IPEndPoint.Port;
            options.ExpectWarnings = true;
        });

        var error = await Assert.ThrowsAsync<IOException>(second.StartAsync);

        Assert.Contains("address already in use", error.Message, StringComparison.OrdinalIgnoreCase);
        // Kestrel only says "already in use" when the transport threw its AddressInUseException.
        Assert.IsType<AddressInUseException>(error.InnerException);
        await AssertServerHealthyAsync(first);
    }

    [Fact]
    public async Task ConnectionInfo_Ipv4Loopback_ReportsBothEndPoints()
    {
        var server = await StartServerAsync(MapConnectionInfo);

        using var client = await server.ConnectAsync();
        await client.SendAsync("GET /connection HTTP/1.1\r\nHost: localhost\r\n\r\n");
        var response = await client.ReadResponseAsync();

        var clientEndPoint = (IPEndPoint)client.Socket.LocalEndPoint!;
        Assert.Equal(200, response.StatusCode);
        Assert.Equal($"{clientEndPoint.Address}:{clientEndPoint.Port} -> 127.0.0.1:{server.IPEndPoint.Port}", response.BodyText);
    }

    [Fact]
    public async Task Ipv6Loopback_Get_Returns200WithIpv6EndPoints()
    {
        var server = await StartServerAsync(MapConnectionInfo, options => options.Address = IPAddress.IPv6Loopback);
        Assert.Equal("[::1]", server.BaseAddress.Host);

        using var client = server.CreateHttpClient();
        using var response = await client.GetAsync(new Uri("/connection", UriKind.Relative)).WithTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync().WithTimeout();
        Assert.StartsWith("::1:", body, StringComparison.Ordinal);
        Assert.EndsWith($" -> ::1:{server.IPEndPoint.Port}", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ipv6AnyDualMode_Ipv4LoopbackClient_ServedWithMappedAddresses()
    {
        // The one test that binds a wildcard address: dual mode only exists on [::]. The client still only
        // talks to 127.0.0.1.
        var server = await StartServerAsync(MapConnectionInfo, options => options.Address = IPAddress.IPv6Any);

        using var client = await RawClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, server.IPEndPoint.Port));
        await client.SendAsync("GET /connection HTTP/1.1\r\nHost: localhost\r\n\r\n");
        var response = await client.ReadResponseAsync();

        var clientPort = ((IPEndPoint)client.Socket.LocalEndPoint!).Port;
        Assert.Equal(200, response.StatusCode);
        Assert.Equal($"::ffff:127.0.0.1:{clientPort} -> ::ffff:127.0.0.1:{server.IPEndPoint.Port}", response.BodyText);
    }

    private static void MapConnectionInfo(WebApplication app) =>
        app.MapGet("/connection", (RequestDelegate)(ctx => ctx.Response.WriteAsync(string.Create(CultureInfo.InvariantCulture,
            $"{ctx.Connection.RemoteIpAddress}:{ctx.Connection.RemotePort} -> {ctx.Connection.LocalIpAddress}:{ctx.Connection.LocalPort}"))));
}
