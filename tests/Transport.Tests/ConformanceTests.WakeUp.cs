using System.Diagnostics;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests;

// Output written while a reactor is blocked in its poller, by a thread the transport knows nothing about: only
// the wake-up (eventfd, loopback socket pair) gets those bytes out. A lost wake-up shows as a chunk that never
// arrives, or arrives only when unrelated traffic happens to wake the reactor.
public abstract partial class ConformanceTests
{
    [Fact]
    public async Task ResponseChunk_WrittenFromForeignThreadWhileIdle_ReachesClientPromptly()
    {
        const int Rounds = 20;
        // Far above a healthy wake-up (well under a millisecond) and far below "never".
        var promptly = TimeSpan.FromSeconds(2);
        var nextChunk = new SemaphoreSlim(0);
        var server = await StartServerAsync(app =>
            app.MapGet("/push", (RequestDelegate)(async ctx =>
            {
                await ctx.Response.StartAsync();
                await ctx.Response.Body.FlushAsync();
                for (int i = 0; i < Rounds; i++)
                {
                    await nextChunk.WaitAsync(TimeoutExtensions.DefaultTimeout);
                    var chunk = Encoding.ASCII.GetBytes($"<chunk-{i}>");
                    await ForeignThread.RunAsync(() =>
                    {
                        ctx.Response.Body.WriteAsync(chunk).AsTask().GetAwaiter().GetResult();
                        ctx.Response.Body.FlushAsync().GetAwaiter().GetResult();
                    }).WaitAsync(TimeoutExtensions.DefaultTimeout);
                }
            })));

        using var client = await server.ConnectAsync();
        await client.SendAsync("GET /push HTTP/1.1\r\nHost: localhost\r\n\r\n");
        var received = new StringBuilder();
        await ReadUntilAsync(client, received, "\r\n\r\n", TimeoutExtensions.DefaultTimeout);

        var latencies = new List<TimeSpan>();
        for (int i = 0; i < Rounds; i++)
        {
            var stopwatch = Stopwatch.StartNew();
            nextChunk.Release();
            await ReadUntilAsync(client, received, $"<chunk-{i}>", promptly);
            latencies.Add(stopwatch.Elapsed);
        }

        Assert.All(latencies, latency => Assert.True(latency < promptly, $"A chunk took {latency.TotalMilliseconds:F1} ms."));
    }

    // A thread-pool thread that flushes and then blocks (synchronous work after a flush, sync-over-async): its
    // output must not wait for the end of its work item, even where sends are deferred to that point.
    [Fact]
    public async Task ResponseChunk_FlushedOnThreadPoolThenProducerBlocks_ReachesClientWhileItBlocks()
    {
        const int Rounds = 10;
        var promptly = TimeSpan.FromSeconds(2);
        var chunkSeen = new SemaphoreSlim(0);
        var nextChunk = new SemaphoreSlim(0);
        var blockedTooLong = 0;
        var server = await StartServerAsync(app =>
            app.MapGet("/push-then-block", (RequestDelegate)(async ctx =>
            {
                await ctx.Response.StartAsync();
                await ctx.Response.Body.FlushAsync();
                for (int i = 0; i < Rounds; i++)
                {
                    await nextChunk.WaitAsync(TimeoutExtensions.DefaultTimeout);
                    await ctx.Response.Body.WriteAsync(Encoding.ASCII.GetBytes($"<chunk-{i}>"));
                    await ctx.Response.Body.FlushAsync();
                    // Blocks this thread-pool thread until the client has the chunk.
                    if (!chunkSeen.Wait(promptly))
                    {
                        Interlocked.Increment(ref blockedTooLong);
                    }
                }
            })));

        using var client = await server.ConnectAsync();
        await client.SendAsync("GET /push-then-block HTTP/1.1\r\nHost: localhost\r\n\r\n");
        var received = new StringBuilder();
        await ReadUntilAsync(client, received, "\r\n\r\n", TimeoutExtensions.DefaultTimeout);

        for (int i = 0; i < Rounds; i++)
        {
            nextChunk.Release();
            await ReadUntilAsync(client, received, $"<chunk-{i}>", TimeoutExtensions.DefaultTimeout);
            chunkSeen.Release();
        }

        Assert.Equal(0, Volatile.Read(ref blockedTooLong));
    }

    private static async Task ReadUntilAsync(RawClient client, StringBuilder received, string marker, TimeSpan timeout)
    {
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(timeout);
        while (!received.ToString().Contains(marker, StringComparison.Ordinal))
        {
            int read = await client.Socket.ReceiveAsync(buffer, cts.Token);
            Assert.True(read > 0, $"The connection ended before '{marker}' arrived.");
            received.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }
    }
}
