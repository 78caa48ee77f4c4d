using System.Net;
using Microsoft.AspNetCore.Connections;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>
/// The life cycle every reactor listener shares: it holds a lease on the transport's reactors for as long as it
/// lives, its listening socket is registered with one of them (the accept reactor), and unbinding closes that
/// socket on the accept reactor, the only thread that touches its registrations. Backends supply accepting and
/// the close itself.
/// </summary>
internal abstract class ReactorConnectionListener : IConnectionListener
{
    private static readonly Action<object?> s_close = static state =>
    {
        var listener = (ReactorConnectionListener)state!;
        try
        {
            listener.CloseOnReactor();
        }
        finally
        {
            listener._closed.TrySetResult();
        }
    };

    private readonly SharedReactorGroup _sharedReactors;
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _lifetimeLock = new();
    private bool _unbindStarted;
    private bool _disposed;

    protected ReactorConnectionListener(ReactorTransport transport, EndPoint endPoint)
    {
        EndPoint = endPoint;
        _sharedReactors = transport.Reactors;
        Reactors = _sharedReactors.Acquire();
        AcceptReactor = Reactors.Next();
    }

    public EndPoint EndPoint { get; }

    /// <summary>The reactors new connections are spread over.</summary>
    protected ReactorGroup Reactors { get; }

    /// <summary>The reactor the listening socket is registered with.</summary>
    protected ReactorLoop AcceptReactor { get; }

    public abstract ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default);

    /// <summary>Called once when unbinding starts, on the caller's thread: make a pending accept return null.</summary>
    protected virtual void OnUnbinding()
    {
    }

    /// <summary>Unregisters and closes the listening socket. Runs once, on the accept reactor.</summary>
    protected abstract void CloseOnReactor();

    public async ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        lock (_lifetimeLock)
        {
            if (!_unbindStarted)
            {
                _unbindStarted = true;
                OnUnbinding();
                AcceptReactor.Schedule(s_close, this);
            }
        }
        // Completes once the socket is closed, so that a server restarted right after can bind the port again.
        await _closed.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await UnbindAsync().ConfigureAwait(false);
        lock (_lifetimeLock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
        }
        // Reactors stop once no listener holds them and their last connection has completed.
        _sharedReactors.Release(Reactors);
    }
}
