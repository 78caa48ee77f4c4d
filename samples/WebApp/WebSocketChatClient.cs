using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using System.Threading.Channels;

namespace WebApp;

/// <summary>
/// One browser in the chat room. The receive loop (the request's own task) reads whole messages and hands them
/// to the room; a send loop drains a bounded queue of its own, so a client that stops reading only ever fills
/// that queue and is dropped when it overflows, while the others carry on. All sends, the closing handshake
/// included, go through the send loop because a WebSocket allows only one send at a time.
/// </summary>
internal sealed class WebSocketChatClient
{
    /// <summary>Messages queued for one client before it counts as too slow and is disconnected.</summary>
    public const int QueueCapacity = 256;

    /// <summary>Largest message accepted; a larger one closes the connection with MessageTooBig (1009).</summary>
    public const int MaxMessageBytes = 16 * 1024;

    // How long the peer gets to answer our close frame (or to take its last messages) before the socket is aborted.
    private static readonly TimeSpan s_closeTimeout = TimeSpan.FromSeconds(5);

    private readonly WebSocket _socket;
    private readonly WebSocketChatRoom _room;
    private readonly ILogger _logger;
    private readonly Channel<ReadOnlyMemory<byte>> _outbound = Channel.CreateBounded<ReadOnlyMemory<byte>>(
        new BoundedChannelOptions(QueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    private CancellationTokenSource? _lifetime;
    private WebSocketCloseStatus _closeStatus = WebSocketCloseStatus.NormalClosure;
    private string? _closeDescription;
    private int _closeRequested;
    private int _dropped;

    public WebSocketChatClient(string name, WebSocket socket, WebSocketChatRoom room, ILogger logger)
    {
        Name = name;
        _socket = socket;
        _room = room;
        _logger = logger;
    }

    public string Name { get; }

    private bool IsClosing => Volatile.Read(ref _closeRequested) != 0;

    public async Task RunAsync(CancellationToken requestAborted, CancellationToken stopping)
    {
        using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(requestAborted);
        _lifetime = lifetime;
        var sender = SendLoopAsync(lifetime.Token);
        _room.Join(this);

        // Close the clients ourselves when the host stops, with "going away", rather than let Kestrel drop them.
        using (stopping.UnsafeRegister(static state => ((WebSocketChatClient)state!).RequestClose(WebSocketCloseStatus.EndpointUnavailable, "server stopping"), this))
        {
            try
            {
                await ReceiveLoopAsync(lifetime.Token);
            }
            catch (Exception e) when (IsConnectionEnd(e))
            {
                Log.WebSocketClientConnectionEnded(_logger, Name, e.Message);
            }
            finally
            {
                _room.Leave(this);
                RequestClose(WebSocketCloseStatus.NormalClosure, null);
            }

            await sender;
        }
    }

    /// <summary>Queues a message without waiting; a client whose queue is full is disconnected instead.</summary>
    public void Send(ReadOnlyMemory<byte> message)
    {
        // A full queue and a completed one look the same to TryWrite; only a full one means "too slow".
        if (_outbound.Writer.TryWrite(message) || IsClosing || Interlocked.Exchange(ref _dropped, 1) != 0)
        {
            return;
        }

        Log.WebSocketClientTooSlow(_logger, Name, QueueCapacity);
        _outbound.Writer.TryComplete();

        // Off the sender's thread: Abort fails this client's pending operations inline, which would run its
        // clean-up (leaving the room, notifying everybody) in the middle of somebody else's fan-out.
        ThreadPool.UnsafeQueueUserWorkItem(static client => client.AbortSocket(), this, preferLocal: false);
    }

    private void AbortSocket()
    {
        try
        {
            _socket.Abort();
        }
        catch (ObjectDisposedException)
        {
            // The client finished on its own in the meantime: nothing left to abort.
        }
    }

    private async Task ReceiveLoopAsync(CancellationToken cancellationToken)
    {
        // A whole message is assembled before it is relayed, so at most MaxMessageBytes (+1 to detect overflow).
        var buffer = ArrayPool<byte>.Shared.Rent(MaxMessageBytes + 1);
        try
        {
            var capacity = MaxMessageBytes + 1;
            var length = 0;
            while (true)
            {
                var target = IsClosing ? buffer.AsMemory(0, capacity) : buffer.AsMemory(length, capacity - length);
                var result = await _socket.ReceiveAsync(target, cancellationToken);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }

                // Once we asked to close, only the peer's close frame matters.
                if (IsClosing)
                {
                    continue;
                }

                length += result.Count;
                if (length > MaxMessageBytes)
                {
                    Log.WebSocketMessageTooBig(_logger, Name, MaxMessageBytes);
                    RequestClose(WebSocketCloseStatus.MessageTooBig, $"messages are limited to {MaxMessageBytes} bytes");
                    continue;
                }

                if (!result.EndOfMessage)
                {
                    continue;
                }

                // The room speaks text; binary messages are dropped rather than guessed at.
                if (result.MessageType == WebSocketMessageType.Text)
                {
                    _room.Relay(this, Encoding.UTF8.GetString(buffer, 0, length));
                }

                length = 0;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task SendLoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            var reader = _outbound.Reader;
            while (await reader.WaitToReadAsync(cancellationToken))
            {
                while (reader.TryRead(out var message))
                {
                    await _socket.SendAsync(message, WebSocketMessageType.Text, endOfMessage: true, cancellationToken);
                }
            }

            // The queue is complete: we are closing (the peer closed, the host stops, or a message was too big).
            if (Volatile.Read(ref _dropped) == 0 && _socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await _socket.CloseOutputAsync(_closeStatus, _closeDescription, cancellationToken);
            }
        }
        catch (Exception e) when (IsConnectionEnd(e))
        {
            Log.WebSocketClientConnectionEnded(_logger, Name, e.Message);
        }
    }

    /// <summary>Starts the closing handshake once: the send loop sends what is queued, then the close frame.</summary>
    private void RequestClose(WebSocketCloseStatus status, string? description)
    {
        if (Interlocked.Exchange(ref _closeRequested, 1) != 0)
        {
            return;
        }

        _closeStatus = status;
        _closeDescription = description;
        _outbound.Writer.TryComplete();

        // Bounds the whole ending: the last sends, our close frame and the peer's answer.
        _lifetime?.CancelAfter(s_closeTimeout);
    }

    private static bool IsConnectionEnd(Exception e) =>
        e is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException
            or Microsoft.AspNetCore.Connections.ConnectionResetException;
}
