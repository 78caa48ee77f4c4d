using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;

namespace WebApp;

/// <summary>
/// One connection of the raw TCP chat room: its id and its outbound queue, drained by a writer loop of its own so
/// that a client that stops reading only ever fills its own queue, and never slows the room.
/// </summary>
internal sealed class LineChatClient
{
    /// <summary>Lines queued for one client before it counts as too slow and is disconnected.</summary>
    public const int QueueCapacity = 256;

    private readonly ConnectionContext _connection;
    private readonly ILogger _logger;
    private readonly Channel<ReadOnlyMemory<byte>> _outbound = Channel.CreateBounded<ReadOnlyMemory<byte>>(
        new BoundedChannelOptions(QueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    private int _completed;
    private int _dropped;

    public LineChatClient(string id, ConnectionContext connection, ILogger logger)
    {
        Id = id;
        LinePrefix = Encoding.UTF8.GetBytes(id + ": ");
        _connection = connection;
        _logger = logger;
    }

    public string Id { get; }

    /// <summary>"client-N: " in UTF-8, ready to prepend to the lines this client sends.</summary>
    public ReadOnlyMemory<byte> LinePrefix { get; }

    /// <summary>Queues a message without waiting; a client whose queue is full is disconnected instead.</summary>
    public void Send(ReadOnlyMemory<byte> message)
    {
        // A full queue and a completed one look the same to TryWrite; only a full one means "too slow" (a
        // completed one belongs to a client that is leaving, and may still be sending its last lines).
        if (_outbound.Writer.TryWrite(message) || Volatile.Read(ref _completed) != 0)
        {
            return;
        }

        if (Interlocked.Exchange(ref _dropped, 1) == 0)
        {
            Log.ChatClientTooSlow(_logger, Id, QueueCapacity);
            CompleteOutbound();

            // Off the sender's thread: Abort can complete this client's pipes inline, which runs its clean-up
            // (leaving the room and notifying everybody) in the middle of somebody else's relay.
            ThreadPool.UnsafeQueueUserWorkItem(static client => client.AbortConnection(), this, preferLocal: false);
        }
    }

    private void AbortConnection()
    {
        try
        {
            _connection.Abort(new ConnectionAbortedException("The chat client did not keep up with the room."));
        }
        catch (ObjectDisposedException)
        {
            // The connection ended on its own in the meantime: nothing left to abort.
        }
    }

    /// <summary>No more messages: the writer loop sends what is queued, then completes the output (our FIN).</summary>
    public void CompleteOutbound()
    {
        Volatile.Write(ref _completed, 1);
        _outbound.Writer.TryComplete();
    }

    /// <summary>Copies queued messages to the connection until <see cref="CompleteOutbound"/>; never throws for a peer's reset.</summary>
    public async Task RunWriterAsync(PipeWriter output)
    {
        var reader = _outbound.Reader;
        try
        {
            while (await reader.WaitToReadAsync())
            {
                // Everything already queued goes out in one flush, so a burst costs one send, not one per line.
                while (reader.TryRead(out var message))
                {
                    output.Write(message.Span);
                }

                var flush = await output.FlushAsync();
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is ConnectionResetException or ConnectionAbortedException)
        {
            Log.ChatClientConnectionEnded(_logger, Id, e.Message);
        }
        finally
        {
            CompleteOutbound();
            await output.CompleteAsync();
        }
    }
}
