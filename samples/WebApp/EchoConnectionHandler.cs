using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace WebApp;

/// <summary>
/// The seed lesson's echo server (<c>conn.send(data.upper())</c>) on a Kestrel connection: every byte comes back
/// as soon as it arrives, ASCII a-z upper-cased, everything else (UTF-8 included) unchanged. No framing, so it shows
/// the transport's raw byte stream: partial reads, back-pressure, FIN and RST.
/// </summary>
internal sealed class EchoConnectionHandler(ILoggerFactory loggerFactory) : ConnectionHandler
{
    private readonly ILogger _logger = loggerFactory.CreateLogger(Log.Category);

    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        var output = connection.Transport.Output;

        // Kestrel asks each connection to close when the host stops; an echo connection only ever waits for its
        // peer, so without this a quiet client would hold shutdown for the whole shutdown timeout.
        var closeRequested = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? default;
        using var registration = closeRequested.UnsafeRegister(static state => ((PipeReader)state!).CancelPendingRead(), input);

        try
        {
            while (true)
            {
                var result = await input.ReadAsync();
                if (result.IsCanceled)
                {
                    break;
                }

                // Decided before AdvanceTo: the pipe recycles the buffer's segments at once, so asking the old
                // sequence anything afterwards (even IsEmpty) reads segments another write may already reuse.
                var buffer = result.Buffer;
                var received = !buffer.IsEmpty;
                if (received)
                {
                    CopyUpperCased(buffer, output);
                }

                input.AdvanceTo(buffer.End);

                if (received)
                {
                    // Waits while the peer is not reading, which in turn stops reading from it: back-pressure end to end.
                    var flush = await output.FlushAsync();
                    if (flush.IsCompleted || flush.IsCanceled)
                    {
                        break;
                    }
                }

                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is ConnectionResetException or ConnectionAbortedException)
        {
            Log.EchoConnectionEnded(_logger, connection.ConnectionId, e.Message);
        }
        finally
        {
            registration.Dispose();

            // Completing the output after the last flush is what sends our FIN once the echo is out.
            await input.CompleteAsync();
            await output.CompleteAsync();
        }
    }

    private static void CopyUpperCased(in ReadOnlySequence<byte> source, PipeWriter output)
    {
        foreach (var segment in source)
        {
            var remaining = segment.Span;
            while (!remaining.IsEmpty)
            {
                // Whatever span the pipe hands out (one pool block, usually): asking for the whole segment could
                // make the pipe allocate an oversized array per read.
                var destination = output.GetSpan();
                var count = Math.Min(destination.Length, remaining.Length);
                UpperCaseAscii(remaining[..count], destination);
                output.Advance(count);
                remaining = remaining[count..];
            }
        }
    }

    private static void UpperCaseAscii(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        // Not System.Text.Ascii.ToUpper: it stops at the first non-ASCII byte, and UTF-8 must pass through.
        destination = destination[..source.Length];
        for (var i = 0; i < source.Length; i++)
        {
            var value = source[i];
            destination[i] = (uint)(value - 'a') <= 'z' - 'a' ? (byte)(value - ('a' - 'A')) : value;
        }
    }
}
