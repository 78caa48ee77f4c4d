using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests;

// Raw TCP through a terminal connection middleware (what UseConnectionHandler installs): no HTTP parser between
// the transport and the application, so both directions are back-pressured by the application alone.
public abstract partial class ConformanceTests
{
    [Fact]
    public async Task RawEcho_PeerStopsReadingUntilTheServerStalls_EveryByteComesBackOnceItReadsAgain()
    {
        const long Length = 64 * TestData.MiB;
        var server = await StartServerAsync(_ => { }, o =>
        {
            o.MaxReadBufferSize = 64 * 1024;
            o.ConnectionMiddleware = _ => EchoAsync;
        });
        using var big = await RawClient.ConnectAsync(server.EndPoint);
        using var small = await TcpTestClient.ConnectAsync(server.EndPoint);
        // Small client buffers make the stall come after little data: the kernels' buffers are the rest of it.
        big.Socket.SendBufferSize = 64 * 1024;
        big.Socket.ReceiveBufferSize = 64 * 1024;
        var chunk = TestData.Pattern(256 * 1024);

        // The client sends without reading until nothing more goes out. By then the server's output is stuck,
        // so the echo stopped reading, so the transport stopped receiving: every buffer on the way is full.
        var (sent, stalled) = await big.SendUntilStalledAsync(chunk, Length, TimeSpan.FromMilliseconds(500));
        Assert.True(stalled, $"The client sent all {sent} bytes to an echo it never read from.");
        var events = server.Logs.Entries.Where(e => e.Category == TransportLogCategory).ToList();
        var pauses = events.Count(e => e.EventId.Id == ConnectionPauseEventId);
        var resumes = events.Count(e => e.EventId.Id == ConnectionResumeEventId);
        Assert.True(pauses == resumes + 1, $"Expected the receive side paused at the stall; {pauses} pause(s), {resumes} resume(s).");

        // Meanwhile another connection of the same server is served.
        await small.SendAsync("ping");
        Assert.Equal("ping"u8.ToArray(), await small.ReceiveExactlyAsync(4));

        // Reading again releases everything: what was sent before the stall, then the rest.
        var echo = ReceiveRepeatingAsync(big.Socket, chunk, Length);
        await big.SendRepeatingAsync(chunk, sent, Length - sent);
        await echo.WithTimeout(TimeSpan.FromSeconds(60));
        big.ShutdownSend();
        Assert.Equal((ConnectionEnd.Fin, 0L), await big.ReadUntilEndAsync());
    }

    private static async Task EchoAsync(ConnectionContext connection)
    {
        PipeReader input = connection.Transport.Input;
        PipeWriter output = connection.Transport.Output;
        while (true)
        {
            ReadResult result = await input.ReadAsync();
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                await output.WriteAsync(segment);
            }
            input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }
        await input.CompleteAsync();
        await output.CompleteAsync();
    }

    /// <summary>Receives <paramref name="length"/> bytes that must repeat <paramref name="chunk"/> from its start.</summary>
    private static async Task ReceiveRepeatingAsync(System.Net.Sockets.Socket socket, ReadOnlyMemory<byte> chunk, long length)
    {
        var buffer = new byte[64 * 1024];
        long received = 0;
        while (received < length)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, length - received))).WithTimeout();
            if (read == 0)
            {
                throw new EndOfStreamException($"The echo ended after {received} of {length} bytes.");
            }
            for (var i = 0; i < read;)
            {
                var offset = (int)((received + i) % chunk.Length);
                var run = Math.Min(read - i, chunk.Length - offset);
                if (!buffer.AsSpan(i, run).SequenceEqual(chunk.Span.Slice(offset, run)))
                {
                    throw new InvalidDataException($"The echo differs from what was sent within bytes [{received + i}, {received + i + run}).");
                }
                i += run;
            }
            received += read;
        }
    }
}
