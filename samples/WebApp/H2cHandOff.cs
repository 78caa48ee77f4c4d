using System.Net;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;

namespace WebApp;

/// <summary>
/// Serves cleartext HTTP/2 with prior knowledge (h2c) on the same ports as HTTP/1.1.
/// </summary>
/// <remarks>
/// Kestrel 10 serves only HTTP/1.1 on a cleartext endpoint that allows both protocols ("HTTP/2 requires TLS
/// application protocol negotiation"), and an endpoint allowing HTTP/2 only turns HTTP/1.1 clients away. So the
/// cleartext endpoints are HTTP/1.1, and <see cref="H2cPriorKnowledge"/> in front of them passes every connection
/// that opens with the HTTP/2 preface to here: an in-process endpoint, bound by this factory and served by
/// Kestrel as HTTP/2 only, whose listener "accepts" exactly the connections handed to it. The bytes still flow
/// through the transport that accepted the connection; only Kestrel's protocol choice differs.
/// Side effects: such a connection is counted twice in Kestrel's connection metrics, and the hand-off endpoint
/// appears among the server addresses as <c>http://h2c-hand-off.invalid</c>.
/// </remarks>
internal sealed class H2cHandOff : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private HandOffListener? _listener;

    /// <summary>The endpoint to bind, HTTP/2 only, with <c>KestrelServerOptions.Listen</c>.</summary>
    public EndPoint EndPoint { get; } = new HandOffEndPoint();

    /// <summary>The server address Kestrel lists for <see cref="EndPoint"/>.</summary>
    public string Address => "http://" + EndPoint;

    public bool CanBind(EndPoint endpoint) => ReferenceEquals(endpoint, EndPoint);

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (!CanBind(endpoint))
        {
            throw new ArgumentException($"Only {EndPoint} can be bound here.", nameof(endpoint));
        }

        var listener = new HandOffListener(EndPoint);
        Volatile.Write(ref _listener, listener);
        return ValueTask.FromResult<IConnectionListener>(listener);
    }

    /// <summary>Serves <paramref name="connection"/> as HTTP/2 and completes when Kestrel is done with it.</summary>
    public Task ServeAsync(ConnectionContext connection)
    {
        var handedOff = new HandedOffConnection(connection);
        if (Volatile.Read(ref _listener) is { } listener && listener.TryEnqueue(handedOff))
        {
            return handedOff.Completion;
        }

        // Not bound yet or already unbound: the server is starting or stopping, and nobody would serve it.
        connection.Abort(new ConnectionAbortedException("The server is not accepting HTTP/2 connections."));
        return Task.CompletedTask;
    }

    private sealed class HandOffEndPoint : EndPoint
    {
        // ".invalid" (RFC 2606) so the address Kestrel lists for it can never be mistaken for a reachable one.
        public override string ToString() => "h2c-hand-off.invalid";
    }

    private sealed class HandOffListener(EndPoint endPoint) : IConnectionListener
    {
        private readonly Channel<HandedOffConnection> _pending = Channel.CreateUnbounded<HandedOffConnection>(
            new UnboundedChannelOptions { SingleReader = true });

        public EndPoint EndPoint => endPoint;

        public bool TryEnqueue(HandedOffConnection connection) => _pending.Writer.TryWrite(connection);

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            try
            {
                while (await _pending.Reader.WaitToReadAsync(cancellationToken))
                {
                    if (_pending.Reader.TryRead(out var connection))
                    {
                        return connection;
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }

            // Null tells Kestrel's accept loop that the listener is done, as for any transport.
            return null;
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            _pending.Writer.TryComplete();
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            _pending.Writer.TryComplete();

            // Handed over but never accepted: their front endpoints wait for them, so end them here.
            while (_pending.Reader.TryRead(out var connection))
            {
                connection.Abort(new ConnectionAbortedException("The server stopped before serving the connection."));
                connection.Release();
            }

            return ValueTask.CompletedTask;
        }
    }
}
