using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>
/// One listening socket's life, the same for every backend (the backend supplies only the socket's registration,
/// the accept call and the connection it makes, <see cref="IListenSocket{TAccepted}"/>). It holds a lease on the
/// transport's reactors for as long as it lives; its socket is registered with one of them (the accept reactor);
/// Kestrel's accept loop pulls connections through <see cref="AcceptAsync"/> (ReactorConnectionListener.Accept.cs)
/// and each goes to the next reactor round-robin; unbinding closes the socket on the accept reactor, the only thread
/// that touches its registration.
/// </summary>
internal sealed partial class ReactorConnectionListener<TAccepted> : IConnectionListener
{
    private static readonly Action<object?> s_register = static state => ((ReactorConnectionListener<TAccepted>)state!).RegisterOnReactor();

    private static readonly Action<object?> s_close = static state =>
    {
        var listener = (ReactorConnectionListener<TAccepted>)state!;
        try
        {
            listener.CloseOnReactor();
        }
        finally
        {
            listener._closed.TrySetResult();
        }
    };

    private readonly IListenSocket<TAccepted> _socket;
    private readonly SharedReactorGroup _sharedReactors;
    private readonly ReactorGroup _reactors;
    private readonly ReactorLoop _acceptReactor;
    private readonly TaskCompletionSource _registered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _lifetimeLock = new();
    private bool _unbindStarted;
    private bool _disposed;

    private ReactorConnectionListener(IListenSocket<TAccepted> socket, ReactorTransport transport)
    {
        _socket = socket;
        EndPoint = socket.EndPoint;
        _settings = transport.Settings;
        _logger = transport.Logger;
        _counters = transport.ListenerCounters;
        _throttle = new AcceptThrottle(transport.FileDescriptors, transport.FileDescriptorReserve, socket, _logger, EndPoint,
            s_signalAcceptReady, this, _counters);
        _sharedReactors = transport.Reactors;
        _reactors = _sharedReactors.Acquire();
        _acceptReactor = _reactors.Next();
    }

    public EndPoint EndPoint { get; }

    /// <summary>
    /// Starts listening on a bound socket: registered with a reactor before this completes, so that a failure
    /// surfaces from Kestrel's BindAsync. On failure the socket is closed and the reactors are released.
    /// </summary>
    public static async ValueTask<IConnectionListener> StartAsync(IListenSocket<TAccepted> socket, ReactorTransport transport)
    {
        ReactorConnectionListener<TAccepted> listener;
        try
        {
            listener = new ReactorConnectionListener<TAccepted>(socket, transport);
        }
        catch
        {
            socket.Close();
            throw;
        }
        try
        {
            listener._acceptReactor.Schedule(s_register, listener);
            await listener._registered.Task.ConfigureAwait(false);
        }
        catch
        {
            await listener.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return listener;
    }

    private void RegisterOnReactor()
    {
        try
        {
            SocketError error = _socket.Register(_acceptReactor, SignalAcceptReady);
            if (error == SocketError.Success)
            {
                _registered.TrySetResult();
            }
            else
            {
                _registered.TrySetException(new SocketException((int)error,
                    $"Registering the listening socket {EndPoint} with its reactor failed: {new SocketException((int)error).Message}."));
            }
        }
        catch (Exception ex)
        {
            _registered.TrySetException(ex);
        }
    }

    public async ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        lock (_lifetimeLock)
        {
            if (!_unbindStarted)
            {
                _unbindStarted = true;
                // A pending accept returns null from here on.
                _unbound.Cancel();
                _acceptReady.Release();
                _acceptReactor.Schedule(s_close, this);
            }
        }
        // Completes once the socket is closed, so that a server restarted right after can bind the port again.
        await _closed.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private void CloseOnReactor()
    {
        _throttle.Stop();
        _socket.Close();
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
        _sharedReactors.Release(_reactors);
    }
}
