using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests;

// Connections that end early, from either side: the application must learn of it, the peer must see it promptly,
// the transport must log it at Debug only, and the server must keep serving.
public abstract partial class ConformanceTests
{
    /// <summary>How long a peer may take to notice that the other side closed: a transport does it in milliseconds.</summary>
    private static readonly TimeSpan PromptTimeout = TimeSpan.FromSeconds(5);

    // Event ids of Kestrel's Sockets transport, which reactor transports log too.
    private const int ReadFinEventId = 6;
    private const int ConnectionResetEventId = 19;
    private const int WriteFinEventId = 7;
    private const int WriteRstEventId = 8;

    [Fact]
    public async Task ClientFin_MidRequestBody_BodyReadEndsAndRequestAbortedFires()
    {
        const int Declared = 100_000;
        const int Sent = 1_000;
        var sentBytesRead = NewGate();
        var bodyReadEnded = NewGate<(long BytesRead, Exception? Error)>();
        var requestAborted = NewGate();
        var server = await StartServerAsync(app =>
        {
            MapHealth(app);
            app.MapPost("/upload", (RequestDelegate)(async ctx =>
            {
                // Never disposed: the token must fire while the request is in flight, and the handler waits for it.
                ctx.RequestAborted.Register(() => requestAborted.TrySetResult());
                long total = 0;
                try
                {
                    var buffer = new byte[4096];
                    int read;
                    while ((read = await ctx.Request.Body.ReadAsync(buffer)) > 0)
                    {
                        total += read;
                        if (total >= Sent)
                        {
                            sentBytesRead.TrySetResult();
                        }
                    }
                    bodyReadEnded.TrySetResult((total, null));
                }
                catch (Exception ex)
                {
                    bodyReadEnded.TrySetResult((total, ex));
                }
                await requestAborted.Task.WaitQuietlyAsync();
            }));
        });

        using var client = await server.ConnectAsync();
        await client.SendAsync($"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: {Declared}\r\n\r\n");
        await client.SendAsync(TestData.Pattern(Sent));
        // The FIN goes out only once the application holds every byte sent, so the bytes it read are exact.
        await sentBytesRead.Task.WithTimeout();
        client.ShutdownSend();

        var (bytesRead, error) = await bodyReadEnded.Task.WithTimeout();
        Assert.Equal(Sent, bytesRead);
        // A FIN is a clean end of input: Kestrel then reports the truncated body as a bad request. A transport that
        // completed its input with an error (or as a reset) would surface a different exception.
        var badRequest = Assert.IsType<BadHttpRequestException>(error, exactMatch: false);
        Assert.Contains("Unexpected end of request content", badRequest.Message, StringComparison.Ordinal);
        await requestAborted.Task.WithTimeout();

        // The server must close its half of the connection too, not leave it open forever.
        await client.ReadUntilEndAsync(PromptTimeout);

        // The same event id and name as Kestrel's Sockets transport, and never above Debug: clients do this all day.
        var fin = await server.Logs.WaitForAsync(e => e.Category == TransportLogCategory && e.EventId.Id == ReadFinEventId).WithTimeout();
        Assert.Equal(LogLevel.Debug, fin.Level);
        Assert.Equal("ConnectionReadFin", fin.EventId.Name);
        await AssertServerHealthyAsync(server);
    }

    [Fact]
    public async Task ClientReset_MidResponse_RequestAbortedFiresAndWritesDoNotHang()
    {
        // Bounds the loop only. Kestrel turns writes into no-ops once the transport reports the connection gone, and it
        // cancels RequestAborted from the thread pool, so the loop may legitimately run to the limit before the
        // token is seen. What must not happen is a write that never returns.
        const long Limit = 1024L * TestData.MiB;
        var requestAborted = NewGate();
        var writeLoopEnded = NewGate();
        var server = await StartServerAsync(app =>
        {
            MapHealth(app);
            app.MapGet("/stream", (RequestDelegate)(async ctx =>
            {
                ctx.RequestAborted.Register(() => requestAborted.TrySetResult());
                var chunk = TestData.Pattern(64 * 1024);
                long written = 0;
                try
                {
                    while (written < Limit && !ctx.RequestAborted.IsCancellationRequested)
                    {
                        await ctx.Response.Body.WriteAsync(chunk, ctx.RequestAborted);
                        written += chunk.Length;
                    }
                }
                catch (Exception ex) when (ex is OperationCanceledException or IOException)
                {
                    // A write may fail once the connection is gone; ending the loop is all that matters here.
                }
                writeLoopEnded.TrySetResult();
                await requestAborted.Task.WaitQuietlyAsync();
            }));
        });

        var client = await server.ConnectAsync();
        try
        {
            await client.SendAsync("GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n");
            // Headers and some chunked body; enough that the response is well under way.
            await client.DiscardAsync(256 * 1024);
        }
        finally
        {
            client.Reset();
        }

        await requestAborted.Task.WithTimeout();
        // A transport that missed the reset leaves the application's flush waiting for a window that never opens.
        await writeLoopEnded.Task.WithTimeout();

        Func<LogEntry, bool> isReset = e => e.Category == TransportLogCategory && e.EventId.Id == ConnectionResetEventId;
        LogEntry? reset = LogsEveryPeerReset
            ? await server.Logs.WaitForAsync(isReset).WithTimeout()
            : server.Logs.Entries.FirstOrDefault(isReset);
        if (reset is not null)
        {
            Assert.Equal(LogLevel.Debug, reset.Level);
            Assert.Equal("ConnectionReset", reset.EventId.Name);
        }
        await AssertServerHealthyAsync(server);
    }

    [Fact]
    public async Task HttpContextAbort_RequestInFlight_ClientSeesConnectionEndPromptly()
    {
        var releaseHandler = NewGate();
        var server = await StartServerAsync(app =>
        {
            MapHealth(app);
            app.MapGet("/abort", (RequestDelegate)(async ctx =>
            {
                ctx.Abort();
                // The handler stays in flight, so only the abort itself can end the connection.
                await releaseHandler.Task.WaitQuietlyAsync();
            }));
        });

        try
        {
            using var client = await server.ConnectAsync();
            await client.SendAsync("GET /abort HTTP/1.1\r\nHost: localhost\r\n\r\n");
            var (_, bytesRead) = await client.ReadUntilEndAsync(PromptTimeout);
            Assert.Equal(0, bytesRead);
        }
        finally
        {
            releaseHandler.TrySetResult();
        }
        // An abort with a reason resets the connection, logged like Kestrel's Sockets transport does.
        var rst = await server.Logs.WaitForAsync(e => e.Category == TransportLogCategory && e.EventId.Id == WriteRstEventId).WithTimeout();
        Assert.Equal(LogLevel.Debug, rst.Level);
        Assert.Equal("ConnectionWriteRst", rst.EventId.Name);
        await AssertServerHealthyAsync(server);
    }

    [Fact]
    public async Task ConnectionClose_ResponseSent_ServerSendsFinAndLogsWriteFinAtDebug()
    {
        var server = await StartServerAsync(MapHealth);

        using var client = await server.ConnectAsync();
        await client.SendAsync("GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        var (end, _) = await client.ReadUntilEndAsync(PromptTimeout);

        Assert.Equal(ConnectionEnd.Fin, end);
        var writeFin = await server.Logs.WaitForAsync(e => e.Category == TransportLogCategory && e.EventId.Id == WriteFinEventId).WithTimeout();
        Assert.Equal(LogLevel.Debug, writeFin.Level);
        Assert.Equal("ConnectionWriteFin", writeFin.EventId.Name);
    }

    public enum ConnectionAbortKind
    {
        WithReason,
        NullReason,
        LifetimeFeature,
    }

    [Theory]
    [InlineData(ConnectionAbortKind.WithReason)]
    [InlineData(ConnectionAbortKind.NullReason)]
    [InlineData(ConnectionAbortKind.LifetimeFeature)]
    public async Task ConnectionContextAbort_InConnectionMiddleware_ClientSeesConnectionEndPromptly(ConnectionAbortKind kind)
    {
        var connections = 0;
        var releaseMiddleware = NewGate();
        var server = await StartServerAsync(MapHealth, options => options.ConnectionMiddleware = next => (ConnectionDelegate)(async connection =>
        {
            // Only the first connection is aborted; later ones (the health check) are served normally.
            if (Interlocked.Increment(ref connections) != 1)
            {
                await next(connection);
                return;
            }
            switch (kind)
            {
                case ConnectionAbortKind.WithReason:
                    connection.Abort(new ConnectionAbortedException("Aborted by the conformance test."));
                    break;
                case ConnectionAbortKind.NullReason:
                    connection.Abort(null!);
                    break;
                case ConnectionAbortKind.LifetimeFeature:
                    connection.Features.GetRequiredFeature<IConnectionLifetimeFeature>().Abort();
                    break;
            }
            // The middleware stays in flight, so only the abort itself can end the connection.
            await releaseMiddleware.Task.WaitQuietlyAsync();
        }));

        try
        {
            var (_, bytesRead) = await RawClient.ConnectAndReadUntilEndAsync(server.EndPoint, PromptTimeout);
            Assert.Equal(0, bytesRead);
        }
        finally
        {
            releaseMiddleware.TrySetResult();
        }
        await AssertServerHealthyAsync(server);
    }
}
