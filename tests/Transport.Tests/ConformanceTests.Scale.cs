using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests;

// Many connections, and a client faster than the application: the transport must scale out and push back.
public abstract partial class ConformanceTests
{
    private const int ConnectionPauseEventId = 4;
    private const int ConnectionResumeEventId = 5;

    [Fact]
    public async Task ThousandConcurrentConnections_EachSendsARequest_AllServedWhileAllOpen()
    {
        const int Count = 1000;
        var arrived = 0;
        var allArrived = NewGate();
        var server = await StartServerAsync(app =>
            app.MapGet("/concurrent", (RequestDelegate)(async ctx =>
            {
                if (Interlocked.Increment(ref arrived) == Count)
                {
                    allArrived.TrySetResult();
                }
                // Holding every request until the last one arrives proves the server had all 1,000 connections
                // live and readable at once, not one after another.
                await allArrived.Task.WaitAsync(TimeoutExtensions.DefaultTimeout);
                await ctx.Response.WriteAsync("ok");
            })));

        var clients = await server.ConnectManyAsync(Count);
        try
        {
            var responses = await Task.WhenAll(clients.Select(async client =>
            {
                await client.SendAsync("GET /concurrent HTTP/1.1\r\nHost: localhost\r\n\r\n");
                return await client.ReadResponseAsync();
            })).WithTimeout();

            Assert.All(responses, response =>
            {
                Assert.Equal(200, response.StatusCode);
                Assert.Equal("ok", response.BodyText);
            });
            Assert.Equal(Count, Volatile.Read(ref arrived));
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    [Fact]
    public async Task InputBackpressure_AppNotReading_ClientStallsAndServerMemoryStaysBounded()
    {
        const long MaxReadBufferSize = 64 * 1024;
        const long Total = 64L * TestData.MiB;
        // Kernel buffers on both ends hold a few MiB at most; a transport without backpressure takes it all.
        const long StallWellBefore = 16L * TestData.MiB;
        const long MemoryBound = MaxReadBufferSize + TestData.MiB;

        var memory = new CountingMemoryPoolFactory();
        var requestStarted = NewGate();
        var startReading = NewGate();
        var server = await StartServerAsync(
            app => app.MapPost("/drain", (RequestDelegate)(async ctx =>
            {
                requestStarted.TrySetResult();
                await startReading.Task.WaitQuietlyAsync();
                long total = 0;
                var buffer = new byte[64 * 1024];
                int read;
                while ((read = await ctx.Request.Body.ReadAsync(buffer)) > 0)
                {
                    total += read;
                }
                await ctx.Response.WriteAsync(total.ToString(CultureInfo.InvariantCulture));
            })),
            options =>
            {
                options.MaxReadBufferSize = MaxReadBufferSize;
                options.MemoryPoolFactory = memory;
            });

        using var client = await server.ConnectAsync();
        // A small client send buffer makes the stall show after little data, so the test stays fast.
        client.Socket.SendBufferSize = 64 * 1024;
        await client.SendAsync($"POST /drain HTTP/1.1\r\nHost: localhost\r\nContent-Length: {Total}\r\n\r\n");
        await requestStarted.Task.WithTimeout();

        var chunk = TestData.Pattern(256 * 1024);
        var (sent, stalled) = await client.SendUntilStalledAsync(chunk, Total, TimeSpan.FromMilliseconds(200));

        Assert.True(stalled, $"The client was never stopped: it sent all {sent} bytes to an application that reads nothing.");
        Assert.True(sent < StallWellBefore, $"The client sent {sent} bytes before stalling; expected under {StallWellBefore}.");
        Assert.True(memory.Rentals > 0, $"Nothing was rented from the {memory.PoolsCreated} pool(s) of the host's IMemoryPoolFactory, so server memory cannot be measured.");
        var peakWhileStalled = memory.PeakOutstandingBytes;
        Assert.True(peakWhileStalled < MemoryBound, $"The server held {peakWhileStalled} pooled bytes while the application read nothing; bound {MemoryBound}.");
        var pause = await server.Logs.WaitForAsync(e => e.Category == TransportLogCategory && e.EventId.Id == ConnectionPauseEventId).WithTimeout();
        Assert.Equal(LogLevel.Debug, pause.Level);
        Assert.Equal("ConnectionPause", pause.EventId.Name);

        startReading.SetResult();
        await client.SendRepeatingAsync(chunk, sent, Total - sent);
        var response = await client.ReadResponseAsync();

        Assert.Equal(200, response.StatusCode);
        Assert.Equal(Total.ToString(CultureInfo.InvariantCulture), response.BodyText);
        Assert.True(memory.PeakOutstandingBytes < MemoryBound, $"The server held {memory.PeakOutstandingBytes} pooled bytes while draining {Total}; bound {MemoryBound}.");
        var resume = await server.Logs.WaitForAsync(e => e.Category == TransportLogCategory && e.EventId.Id == ConnectionResumeEventId).WithTimeout();
        Assert.Equal(LogLevel.Debug, resume.Level);
        Assert.Equal("ConnectionResume", resume.EventId.Name);

        // Once the server has stopped and its connections are gone, every block must be back in the pool.
        client.Dispose();
        await server.StopAsync();
        Assert.Equal(0, memory.OutstandingBytes);
    }
}
