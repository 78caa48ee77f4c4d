using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;

/// <summary>
/// Tells which transport served a connection. Kestrel's Sockets transport exposes the accepted
/// <see cref="System.Net.Sockets.Socket"/> as <see cref="IConnectionSocketFeature"/>; the reactor transports have
/// no Socket to expose, so the feature's absence proves a reactor served the endpoint, not the Sockets fallback.
/// </summary>
internal static class ServingTransport
{
    public static async Task AssertServedByReactorAsync(TransportConfigurator useTransport, TestServerOptions options)
    {
        var hasSocketFeature = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        options.ConnectionMiddleware = next => connection =>
        {
            hasSocketFeature.TrySetResult(connection.Features.Get<IConnectionSocketFeature>() is not null);
            return next(connection);
        };
        await using var server = TestServerHost.Create(useTransport, options, static app =>
            app.MapGet("/hello", (RequestDelegate)(ctx => ctx.Response.WriteAsync("hello"))));
        await server.StartAsync();

        using var client = await server.ConnectAsync();
        await client.SendAsync("GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n");
        var response = await client.ReadResponseAsync();

        Assert.Equal(200, response.StatusCode);
        Assert.Equal("hello", response.BodyText);
        Assert.False(await hasSocketFeature.Task.WithTimeout(), $"{options.UnixSocketPath ?? options.ListenHandle?.ToString(System.Globalization.CultureInfo.InvariantCulture)} was served by Kestrel's Sockets transport, not by the transport under test.");
    }
}
