using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;

namespace WebApp;

/// <summary>
/// A transport connection lent to a second Kestrel endpoint (see <see cref="H2cHandOff"/>). Everything is the
/// original connection's, except that features the borrowing endpoint sets stay in a layer of their own, and
/// that disposing only signals that the borrower is done: the endpoint that accepted the connection still owns
/// it and disposes it afterwards.
/// </summary>
internal sealed class HandedOffConnection(ConnectionContext inner) : ConnectionContext
{
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Completion => _done.Task;

    public override string ConnectionId
    {
        get => inner.ConnectionId;
        set => inner.ConnectionId = value;
    }

    // Kestrel sets per-connection features (heartbeat, lifetime notification, ...) on every connection it
    // serves; a layer keeps the borrower's from replacing those of the endpoint that owns the connection.
    public override IFeatureCollection Features { get; } = new FeatureCollection(inner.Features);

    public override IDictionary<object, object?> Items
    {
        get => inner.Items;
        set => inner.Items = value;
    }

    public override IDuplexPipe Transport
    {
        get => inner.Transport;
        set => inner.Transport = value;
    }

    public override CancellationToken ConnectionClosed
    {
        get => inner.ConnectionClosed;
        set => inner.ConnectionClosed = value;
    }

    public override EndPoint? LocalEndPoint
    {
        get => inner.LocalEndPoint;
        set => inner.LocalEndPoint = value;
    }

    public override EndPoint? RemoteEndPoint
    {
        get => inner.RemoteEndPoint;
        set => inner.RemoteEndPoint = value;
    }

    public override void Abort(ConnectionAbortedException abortReason) => inner.Abort(abortReason);

    /// <summary>Lets the owning endpoint carry on: the borrower is done with the connection.</summary>
    public void Release() => _done.TrySetResult();

    public override ValueTask DisposeAsync()
    {
        Release();
        return base.DisposeAsync();
    }
}
