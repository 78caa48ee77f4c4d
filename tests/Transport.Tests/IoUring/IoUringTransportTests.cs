using System.Globalization;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;
using Reactors.AspNetCore.Server.Kestrel.Transport.IoUring;
using Reactors.AspNetCore.Server.Kestrel.Transport.IoUring.Internal;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.IoUring;

/// <summary>
/// The completion paths only a ring has, on the real kernel: provided buffers running out, multishot receives the
/// kernel ends, short sends, a completion queue smaller than the load, and closing with operations in flight. Each
/// test checks that the path was taken (<see cref="IoUringEvents"/>), and that no byte was lost or reordered.
/// </summary>
public sealed class IoUringTransportTests(ITestOutputHelper output)
{
    private static readonly byte[] PlaintextRequest = "GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n"u8.ToArray();

    [Fact]
    public void IsSupported_OnThisMachine_IsTrue()
    {
        // Guards the rest of the suite: were io_uring silently unavailable here, every "iouring" test would quietly
        // exercise the epoll fallback instead. CI runs Linux 6.18 with kernel.io_uring_disabled = 0.
        Assert.True(IoUringTransportFactory.IsSupported,
            $"io_uring does not serve on this machine: {IoUringTransportFactory.UnsupportedReason}. The suite needs Linux 6.0 or later with io_uring permitted.");
        Assert.Null(IoUringTransportFactory.UnsupportedReason);
    }

    [Fact]
    public async Task Start_LogsTheRingSetUpInUseAndNoFallback()
    {
        await using var server = TestServerHost.Create(UseIoUring(), new TestServerOptions(), MapEndpoints);
        await server.StartAsync();
        await AssertPlaintextAsync(server);

        var inUse = await server.Logs.WaitForAsync(e => e.EventId.Id == 114).WithTimeout();
        Assert.Equal(LogLevel.Information, inUse.Level);
        Assert.Equal("IoUringInUse", inUse.EventId.Name);
        Assert.Contains("SINGLE_ISSUER, DEFER_TASKRUN", inUse.Message, StringComparison.Ordinal); // Linux 6.1+
        Assert.Contains("512 provided buffers of 4096 bytes", inUse.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(server.Logs.Entries, e => e.EventId.Id is 113 or 115);
        Assert.Contains(server.Logs.Entries, e => e.EventId.Id == 102 && e.Message.EndsWith(" io_uring reactor thread(s).", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ProvidedBuffersRunOut_ReceivesAreSubmittedAgainAndNoByteIsLost()
    {
        // 16 buffers of 512 bytes for 32 clients uploading at once: receives find the ring empty (ENOBUFS), which
        // ends a multishot receive without IORING_CQE_F_MORE; each must be submitted again once buffers are back.
        const int Clients = 32;
        const int Size = 256 * 1024;
        long before = IoUringEvents.ReceivesOutOfBuffers;
        await using var server = TestServerHost.Create(UseIoUring(o =>
        {
            o.ReceiveBufferCount = 16;
            o.ReceiveBufferSize = 512;
        }), new TestServerOptions(), MapEndpoints);
        await server.StartAsync();

        await Task.WhenAll(Enumerable.Range(0, Clients).Select(async i =>
        {
            byte[] body = TestData.RandomBytes(Size, seed: i);
            using var client = await server.ConnectAsync();
            await client.SendAsync($"POST /digest HTTP/1.1\r\nHost: localhost\r\nContent-Length: {Size}\r\n\r\n");
            await client.SendAsync(body);
            var response = await client.ReadResponseAsync();
            Assert.Equal(200, response.StatusCode);
            Assert.Equal($"{Size} {TestData.Sha256Hex(body)}", response.BodyText);
        })).WithTimeout(TimeSpan.FromSeconds(60));

        long outOfBuffers = IoUringEvents.ReceivesOutOfBuffers - before;
        output.WriteLine($"receives that ran out of buffers and were submitted again: {outOfBuffers}");
        Assert.True(outOfBuffers > 0, "No receive ever found the provided-buffer ring empty: the test did not reach the ENOBUFS path.");
    }

    [Fact]
    public async Task SlowReader_ShortSendsDeliverTheWholeResponseInOrder()
    {
        // The ring's sends (up to 64 pool blocks each) complete with fewer bytes than submitted, and the rest must
        // follow, in order.
        const int Size = 8 * 1024 * 1024;
        long before = IoUringEvents.ShortSends;

        var (response, _) = await DownloadToASlowReaderAsync(UseIoUring(), Size);

        Assert.Equal(200, response.StatusCode);
        Assert.Equal(Size, response.Body.Length);
        Assert.True(response.Body.AsSpan().SequenceEqual(TestData.Pattern(Size)), "The response arrived with bytes lost or out of order.");
        long shortSends = IoUringEvents.ShortSends - before;
        output.WriteLine($"short send completions: {shortSends}");
        Assert.True(shortSends > 0, "No send completed short: the test did not reach the short-send path.");
    }

    [Fact]
    public async Task SlowReader_SendsThroughTheRingCutShort_CountedAsSendsThatFoundTheSocketFull()
    {
        // Inline scheduling: every flush runs on the reactor, so every send goes through the ring, where a full socket
        // makes the kernel wait instead of returning EAGAIN. reactor.sends.would_block must still see the full socket:
        // a ring send that completes short counts there.
        const int Size = 4 * 1024 * 1024;

        var (response, served) = await DownloadToASlowReaderAsync(UseIoUring(o => o.UnsafePreferInlineScheduling = true), Size);

        Assert.Equal(Size, response.Body.Length);
        Assert.True(response.Body.AsSpan().SequenceEqual(TestData.Pattern(Size)), "The response arrived with bytes lost or out of order.");
        long wouldBlock = served.ReactorCounters.SendsWouldBlock;
        output.WriteLine($"sends that found the socket full, on this server's reactor: {wouldBlock}");
        Assert.True(wouldBlock > 0, "No send through the ring was counted as finding the socket full.");
    }

    /// <summary>
    /// GET /pattern/<paramref name="size"/> from a client with a 4 KiB receive buffer, served by a connection whose
    /// socket has a 4 KiB send buffer, so that the server's sends find the socket full again and again.
    /// </summary>
    private static async Task<(RawHttpResponse Response, IoUringConnection Served)> DownloadToASlowReaderAsync(TransportConfigurator transport, int size)
    {
        IoUringConnection? served = null;
        var options = new TestServerOptions
        {
            ConnectionMiddleware = next => connection =>
            {
                served = (IoUringConnection)connection;
                using var socket = new Socket(new SafeSocketHandle(served.FileDescriptor, ownsHandle: false)) { SendBufferSize = 4096 };
                return next(connection);
            },
        };
        await using var server = TestServerHost.Create(transport, options, MapEndpoints);
        await server.StartAsync();

        using var client = await RawClient.ConnectAsync(server.EndPoint, beforeConnect: static s => s.ReceiveBufferSize = 4096);
        await client.SendAsync($"GET /pattern/{size} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        var response = await client.ReadResponseAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (response, served!);
    }

    [Fact]
    public async Task CompletionQueueSmallerThanTheLoad_EveryRequestAndEveryCloseIsSeen()
    {
        // 64 submission entries give a completion queue of 256; a thousand connections whose requests arrive together,
        // and then close together, complete more at once than it holds. The kernel keeps what does not fit
        // (IORING_FEAT_NODROP, required at start) and the reactor takes it in a second pass: nothing may be lost.
        const int Clients = 1000;
        long before = IoUringEvents.CompletionOverflows;
        var memory = new CountingMemoryPoolFactory();
        await using var server = TestServerHost.Create(UseIoUring(o => o.SubmissionQueueSize = 64),
            new TestServerOptions { MemoryPoolFactory = memory }, MapEndpoints);
        await server.StartAsync();
        int heldBefore = FileDescriptorBudget.Process.Held;

        var clients = await server.ConnectManyAsync(Clients);
        try
        {
            await Task.WhenAll(clients.Select(c => c.SendAsync(PlaintextRequest))).WithTimeout();
            var responses = await Task.WhenAll(clients.Select(c => c.ReadResponseAsync())).WithTimeout(TimeSpan.FromSeconds(60));
            Assert.All(responses, r => Assert.Equal("Hello, World!", r.BodyText));
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
        // Every FIN must be seen too: the server closes each connection and releases its descriptor.
        Assert.True(await Eventually.HoldsAsync(() => FileDescriptorBudget.Process.Held <= heldBefore, TimeSpan.FromSeconds(30)),
            $"{FileDescriptorBudget.Process.Held - heldBefore} of {Clients} closed connections still hold their descriptor.");
        // Whether the queue overflows here depends on how the completions bunch up (3 overflow passes in each of
        // four runs alone, none in one CI run): nothing is lost either way, which is what this test asserts. The
        // next test makes the overflow certain.
        output.WriteLine($"completion queue overflows taken in a second pass: {IoUringEvents.CompletionOverflows - before}");
    }

    [Fact]
    public async Task CompletionQueueOverflows_WhileTheReactorIsHeld_NothingIsLostAndTheOverflowIsTakenIn()
    {
        // From Linux 6.13 a DEFER_TASKRUN ring runs at most 20 deferred receives per pass, so a burst of small
        // requests no longer overflows the queue on its own; a receive into small buffers posts one completion per
        // buffer, up to 32 in a row. So: one reactor, a completion queue of 256, 512-byte buffers; the reactor is held
        // by an inline handler while 64 clients each send 32 KiB; released, its first pass alone completes more than
        // the queue holds. The kernel keeps the rest (FEAT_NODROP), ends the receives it could not complete, and
        // the reactor must take the rest in, submit those receives again, and lose no byte.
        const int Clients = 64;
        const int Size = 32 * 1024;
        long before = IoUringEvents.CompletionOverflows;
        using var release = new ManualResetEventSlim();
        var held = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = TestServerHost.Create(UseIoUring(o =>
        {
            o.ReactorCount = 1;
            o.UnsafePreferInlineScheduling = true;
            o.SubmissionQueueSize = 64;
            o.ReceiveBufferSize = 512;
            o.ReceiveBufferCount = 8192;
        }), new TestServerOptions(), app =>
        {
            MapEndpoints(app);
            app.MapGet("/hold", () =>
            {
                held.TrySetResult(Thread.CurrentThread.Name);
                return release.Wait(TimeSpan.FromSeconds(30)) ? "released" : "timed out";
            });
        });
        await server.StartAsync();

        // Every connection accepted, registered and its multishot receive armed before the reactor is held: a held
        // reactor accepts nothing.
        using var holder = await server.ConnectAsync();
        var clients = await server.ConnectManyAsync(Clients);
        try
        {
            foreach (var client in clients.Append(holder))
            {
                await client.SendAsync(PlaintextRequest);
                Assert.Equal("Hello, World!", (await client.ReadResponseAsync().WithTimeout()).BodyText);
            }
            await holder.SendAsync("GET /hold HTTP/1.1\r\nHost: localhost\r\n\r\n");
            string? holdingThread = await held.Task.WithTimeout();
            Assert.True(holdingThread?.StartsWith("io_uring reactor", StringComparison.Ordinal) == true,
                $"The handler ran on '{holdingThread}', not on the reactor: nothing holds the completions back.");

            byte[][] bodies = [.. Enumerable.Range(0, Clients).Select(i => TestData.RandomBytes(Size, seed: i))];
            await Task.WhenAll(clients.Select(async (client, i) =>
            {
                await client.SendAsync($"POST /digest HTTP/1.1\r\nHost: localhost\r\nContent-Length: {Size}\r\n\r\n");
                await client.SendAsync(bodies[i]);
            })).WithTimeout();
            release.Set();

            Assert.Equal("released", (await holder.ReadResponseAsync().WithTimeout()).BodyText);
            var responses = await Task.WhenAll(clients.Select(c => c.ReadResponseAsync())).WithTimeout(TimeSpan.FromSeconds(60));
            for (int i = 0; i < Clients; i++)
            {
                Assert.Equal($"{Size} {TestData.Sha256Hex(bodies[i])}", responses[i].BodyText);
            }
        }
        finally
        {
            release.Set();
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }

        long overflows = IoUringEvents.CompletionOverflows - before;
        output.WriteLine($"completion queue overflows taken in a second pass: {overflows}");
        Assert.True(overflows > 0, "The completion queue never overflowed: the test did not reach the overflow path.");
    }

    [Fact]
    public async Task ClosingWithOperationsInFlight_ReturnsEveryBufferAndClosesEveryDescriptorOnce()
    {
        // Three ways a connection ends with its multishot receive armed and, in the third, a send submitted on the
        // ring and waiting for a full socket: the client's FIN, the client's reset, and the server's abort. Every
        // completion after the close must be dropped, every pool block returned, and every fd closed exactly once:
        // the budget's count of held descriptors must come back to where it was, not lower (a second close of one
        // fd would count twice) and not higher (a leak).
        const int PerKind = 30;
        var memory = new CountingMemoryPoolFactory();
        await using var server = TestServerHost.Create(UseIoUring(), new TestServerOptions { MemoryPoolFactory = memory }, MapEndpoints);
        await server.StartAsync();
        int heldBefore = FileDescriptorBudget.Process.Held;
        int socketsBefore = CountSocketDescriptors();

        var finished = new List<RawClient>();
        for (int i = 0; i < PerKind; i++)
        {
            var idleFin = await server.ConnectAsync();
            var idleReset = await server.ConnectAsync();
            var aborted = await RawClient.ConnectAsync(server.EndPoint, beforeConnect: static s => s.ReceiveBufferSize = 4096);
            await aborted.SendAsync("GET /abort-when-stalled HTTP/1.1\r\nHost: localhost\r\n\r\n");
            idleFin.Dispose();
            idleReset.Reset();
            finished.Add(aborted);
        }
        // The server aborts each stalled response; the client sees the reset.
        foreach (var aborted in finished)
        {
            var (end, _) = await aborted.ReadUntilEndAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(ConnectionEnd.Reset, end);
            aborted.Dispose();
        }

        Assert.True(await Eventually.HoldsAsync(() => FileDescriptorBudget.Process.Held == heldBefore, TimeSpan.FromSeconds(30)),
            $"The transport holds {FileDescriptorBudget.Process.Held} descriptors, {heldBefore} before: {(FileDescriptorBudget.Process.Held > heldBefore ? "leaked" : "closed twice")}.");
        Assert.True(await Eventually.HoldsAsync(() => CountSocketDescriptors() <= socketsBefore, TimeSpan.FromSeconds(30)),
            $"{CountSocketDescriptors() - socketsBefore} sockets are still open in the process.");
        await AssertPlaintextAsync(server);
        await server.StopAsync();
        Assert.Equal(0, memory.OutstandingBytes);
    }

    private static TransportConfigurator UseIoUring(Action<IoUringTransportOptions>? configure = null) =>
        (builder, maxReadBufferSize) => builder.UseIoUringTransport(options =>
        {
            configure?.Invoke(options);
            if (maxReadBufferSize is not null)
            {
                options.MaxReadBufferSize = maxReadBufferSize;
            }
        });

    private static void MapEndpoints(WebApplication app)
    {
        app.MapGet("/plaintext", static () => "Hello, World!");
        app.MapPost("/digest", static async (HttpContext context) =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long length = 0;
            PipeReader body = context.Request.BodyReader;
            while (true)
            {
                ReadResult read = await body.ReadAsync();
                foreach (ReadOnlyMemory<byte> segment in read.Buffer)
                {
                    hash.AppendData(segment.Span);
                    length += segment.Length;
                }
                body.AdvanceTo(read.Buffer.End);
                if (read.IsCompleted)
                {
                    break;
                }
            }
            await context.Response.WriteAsync($"{length} {Convert.ToHexString(hash.GetHashAndReset())}");
        });
        app.MapGet("/pattern/{size:int}", static async (HttpContext context, int size) =>
        {
            context.Response.ContentLength = size;
            for (long position = 0; position < size;)
            {
                int chunk = (int)Math.Min(64 * 1024, size - position);
                Memory<byte> memory = context.Response.BodyWriter.GetMemory(chunk)[..chunk];
                TestData.FillPattern(position, memory.Span);
                context.Response.BodyWriter.Advance(chunk);
                await context.Response.BodyWriter.FlushAsync();
                position += chunk;
            }
        });
        app.MapGet("/abort-when-stalled", static async (HttpContext context) =>
        {
            // Writes until the output is full (the transport's send waits for the socket), then aborts: the close
            // meets a send in flight.
            var chunk = new byte[64 * 1024];
            while (true)
            {
                ValueTask<FlushResult> flush = context.Response.BodyWriter.WriteAsync(chunk);
                if (!flush.IsCompleted)
                {
                    context.Abort();
                    try
                    {
                        await flush;
                    }
                    catch (Exception ex) when (ex is IOException or OperationCanceledException)
                    {
                        // The abort ends the pending flush.
                    }
                    return;
                }
                await flush;
            }
        });
    }

    private static async Task AssertPlaintextAsync(TestServerHost server)
    {
        using var client = await server.ConnectAsync();
        await client.SendAsync(PlaintextRequest);
        var response = await client.ReadResponseAsync().WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal("Hello, World!", response.BodyText);
    }

    private static int CountSocketDescriptors()
    {
        int count = 0;
        foreach (string fd in Directory.EnumerateFiles("/proc/self/fd"))
        {
            try
            {
                if (File.ResolveLinkTarget(fd, returnFinalTarget: false)?.FullName.Contains("socket:", StringComparison.Ordinal) == true)
                {
                    count++;
                }
            }
            catch (IOException)
            {
                // Closed while we looked.
            }
        }
        return count;
    }
}
