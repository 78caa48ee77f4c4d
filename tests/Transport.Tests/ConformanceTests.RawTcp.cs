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
    public async Task RawEcho_PeerPausesReadingMidTransfer_EveryByteComesBackOnceItReadsAgain()
    {
        const int Length = 4 * TestData.MiB;
        const int ReadBeforePause = 256 * 1024;
        var server = await StartServerAsync(_ => { }, o =>
        {
            // Small enough that the application pauses the transport's receive side while the peer does not read.
            o.MaxReadBufferSize = 64 * 1024;
            o.ConnectionMiddleware = _ => EchoAsync;
        });
        using var big = await TcpTestClient.ConnectAsync(server.EndPoint);
        using var small = await TcpTestClient.ConnectAsync(server.EndPoint);
        var payload = TestData.Pattern(Length);

        // The big client sends everything at once but stops reading after a quarter: the server's output then
        // fills, the echo stops reading, the transport pauses receiving, and everything resumes only when the
        // client reads again.
        var send = Task.Run(() => big.SendAsync(payload));
        var firstPart = await big.ReceiveExactlyAsync(ReadBeforePause);
        Assert.True(firstPart.AsSpan().SequenceEqual(payload.AsSpan(0, ReadBeforePause)), "The first part of the echo differs.");
        await server.Logs.WaitForAsync(e => e.Category == TransportLogCategory && e.EventId.Id == ConnectionPauseEventId).WithTimeout();

        // Meanwhile another connection of the same server is served promptly.
        await small.SendAsync("ping");
        Assert.Equal("ping"u8.ToArray(), await small.ReceiveExactlyAsync(4));

        byte[] rest;
        try
        {
            rest = await big.ReceiveExactlyAsync(Length - ReadBeforePause);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException("The echo stalled after the client read again. The transport's log:" + Environment.NewLine +
                string.Join(Environment.NewLine, server.Logs.Entries.Where(e => e.Category == TransportLogCategory).TakeLast(40)), ex);
        }
        Assert.True(rest.AsSpan().SequenceEqual(payload.AsSpan(ReadBeforePause)), "The rest of the echo differs.");
        await send.WithTimeout();
        big.ShutdownSend();
        Assert.Equal(0, await big.ReceiveUntilFinAsync());
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
}
