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
        if (_outbound.Writer.TryWrite(message) || _outbound.Reader.Completion.IsCompleted)
        {
            return;
        }

        if (Interlocked.Exchange(ref _dropped, 1) == 0)
        {
            Log.ChatClientTooSlow(_logger, Id, QueueCapacity);
            _outbound.Writer.TryComplete();

            // Off the sender's thread: Abort can complete this client's pipes inline, which runs its clean-up
            // (leaving the room and notifying everybody) in the middle of somebody else's relay.
            ThreadPool.UnsafeQueueUserWorkItem(
                static connection => connection.Abort(new ConnectionAbortedException("The chat client did not keep up with the room.")),
                _connection,
                preferLocal: false);
        }
    }

    /// <summary>No more messages: the writer loop sends what is queued, then completes the output (our FIN).</summary>
    public void CompleteOutbound() => _outbound.Writer.TryComplete();

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
        catch (ConnectionResetException e)
        {
            Log.ChatClientConnectionEnded(_logger, Id, e.Message);
        }
        catch (ConnectionAbortedException e)
        {
            Log.ChatClientConnectionEnded(_logger, Id, e.Message);
        }
        finally
        {
            _outbound.Writer.TryComplete();
            await output.CompleteAsync();
        }
    }
}
