using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace WebApp;

/// <summary>
/// The seed lesson's select() chat room, one Kestrel connection per client: lines end with "\n" ("\r\n" works
/// too), each complete line is relayed to every other client as "client-N: line", and joins and leaves (FIN or
/// reset alike) are announced as "* client-N joined" / "* client-N left".
/// </summary>
internal sealed class LineChatConnectionHandler(LineChatRoom room, ILoggerFactory loggerFactory) : ConnectionHandler
{
    /// <summary>Longest line accepted, without its end-of-line; a longer one disconnects its sender.</summary>
    public const int MaxLineBytes = 4096;

    // Long enough for a reading client to take the last lines; short enough that a client that stopped reading
    // cannot pin its connection after it left.
    private static readonly TimeSpan s_drainTimeout = TimeSpan.FromSeconds(5);

    // How long a disconnected client gets to read the "* line too long" notice and close its side.
    private static readonly TimeSpan s_lingerTimeout = TimeSpan.FromSeconds(2);

    private static readonly byte[] s_lineTooLong = Encoding.UTF8.GetBytes("* line too long\n");

    private readonly ILogger _logger = loggerFactory.CreateLogger(Log.Category);

    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        var client = new LineChatClient(room.NextClientId(), connection, _logger);

        // The greeting is queued before joining, so it is the first line the client reads; the writer starts only
        // after joining, so a client that has read its greeting is in the room and hears every line sent since.
        client.Send(Encoding.UTF8.GetBytes($"* you are {client.Id}\n"));
        room.Join(client);
        Log.ChatClientJoined(_logger, client.Id, connection.ConnectionId);
        var writer = client.RunWriterAsync(connection.Transport.Output);

        // Kestrel asks each connection to close when the host stops; a chat connection mostly waits for its peer.
        var closeRequested = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? default;
        using var registration = closeRequested.UnsafeRegister(static state => ((PipeReader)state!).CancelPendingRead(), input);

        var lineTooLong = false;
        try
        {
            lineTooLong = await RelayLinesAsync(client, input);
        }
        catch (Exception e) when (e is ConnectionResetException or ConnectionAbortedException)
        {
            Log.ChatClientConnectionEnded(_logger, client.Id, e.Message);
        }
        finally
        {
            registration.Dispose();
            room.Leave(client);
            Log.ChatClientLeft(_logger, client.Id);
            client.CompleteOutbound();
            await WaitForWriterAsync(connection, client, writer);
            if (lineTooLong)
            {
                await DiscardInputAsync(input);
            }

            await input.CompleteAsync();
        }
    }

    /// <summary>Relays lines until the peer's FIN or a shutdown; true when it stopped at a line that is too long.</summary>
    private async Task<bool> RelayLinesAsync(LineChatClient client, PipeReader input)
    {
        while (true)
        {
            var result = await input.ReadAsync();
            if (result.IsCanceled)
            {
                return false;
            }

            var buffer = result.Buffer;
            var withinLimit = RelayCompleteLines(client, ref buffer);

            // Consumed up to the last complete line; examined everything, so the next read waits for new bytes.
            input.AdvanceTo(buffer.Start, buffer.End);

            if (!withinLimit)
            {
                Log.ChatLineTooLong(_logger, client.Id, MaxLineBytes);
                client.Send(s_lineTooLong);
                return true;
            }

            // An unfinished last line at FIN is not a line: it is dropped.
            if (result.IsCompleted)
            {
                return false;
            }
        }
    }

    /// <summary>Relays every complete line and leaves the unfinished rest in <paramref name="buffer"/>; false once a line is too long.</summary>
    private bool RelayCompleteLines(LineChatClient client, ref ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        while (reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n'))
        {
            if (!line.IsEmpty && line.Slice(line.Length - 1).FirstSpan[0] == (byte)'\r')
            {
                line = line.Slice(0, line.Length - 1);
            }

            if (line.Length > MaxLineBytes)
            {
                buffer = buffer.Slice(reader.Position);
                return false;
            }

            room.Relay(client, line);
        }

        buffer = buffer.Slice(reader.Position);

        // Checked before the newline arrives so that a client cannot make the server buffer an endless line;
        // one more byte is allowed for the '\r' of a maximal "\r\n" line.
        return buffer.Length <= MaxLineBytes + 1;
    }

    /// <summary>
    /// Reads and drops whatever the peer still sends, until its FIN or a short timeout. Closing a socket with unread
    /// input makes the kernel send a reset, which can destroy the "* line too long" notice before the peer reads it.
    /// </summary>
    private static async Task DiscardInputAsync(PipeReader input)
    {
        using var timeout = new CancellationTokenSource(s_lingerTimeout);
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(timeout.Token);
                input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    return;
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ConnectionResetException or ConnectionAbortedException)
        {
            // The peer did not close in time or reset the connection: either way there is nothing left to protect.
        }
    }

    private async Task WaitForWriterAsync(ConnectionContext connection, LineChatClient client, Task writer)
    {
        try
        {
            await writer.WaitAsync(s_drainTimeout);
        }
        catch (TimeoutException)
        {
            Log.ChatClientDrainTimedOut(_logger, client.Id, s_drainTimeout);
            connection.Abort(new ConnectionAbortedException("The chat client did not read its last lines in time."));
            await writer;
        }
    }
}
