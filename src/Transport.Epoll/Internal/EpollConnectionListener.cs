using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal.Interop;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal;

/// <summary>
/// One listening socket. Kestrel's accept loop calls <see cref="AcceptAsync"/> sequentially: it accepts with
/// accept4 until the backlog is empty, then waits for the listening fd's readiness (reported by a reactor), and
/// hands each accepted fd to the next reactor round-robin.
/// </summary>
internal sealed class EpollConnectionListener : ReactorConnectionListener, IEpollHandler
{
    private readonly EpollListenSocket _listenSocket;
    private readonly FileDescriptorHandle _listenHandle;
    private readonly EpollReactor _acceptReactor;
    private readonly ConnectionSettings _settings;
    private readonly ILogger _logger;
    // Neither holds an OS handle (no wait handle is ever requested), so both are left to the GC: an
    // AcceptAsync call after dispose must still see "unbound" rather than throw.
    private readonly SemaphoreSlim _acceptReady = new(0);
    private readonly CancellationTokenSource _unbound = new();
    private AcceptBackoff _backoff;
    private ulong _token;

    private EpollConnectionListener(EpollListenSocket listenSocket, ReactorTransport transport)
        : base(transport, listenSocket.EndPoint)
    {
        _listenSocket = listenSocket;
        _listenHandle = listenSocket.Handle;
        _acceptReactor = (EpollReactor)AcceptReactor;
        _settings = transport.Settings;
        _logger = transport.Logger;
    }

    /// <summary>Binds and listens synchronously, so that errors surface from BindAsync and port 0 is resolved.</summary>
    public static async ValueTask<EpollConnectionListener> BindAsync(EndPoint endPoint, ReactorTransport transport)
    {
        EpollListenSocket listenSocket = EpollListenSocket.Create(endPoint, transport.Backlog);
        EpollConnectionListener listener;
        try
        {
            listener = new EpollConnectionListener(listenSocket, transport);
        }
        catch
        {
            listenSocket.Close();
            throw;
        }
        await listener.RegisterAsync().ConfigureAwait(false);
        return listener;
    }

    private Task RegisterAsync()
    {
        var registered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _acceptReactor.Schedule(static state =>
        {
            var (listener, done) = ((EpollConnectionListener, TaskCompletionSource))state!;
            SocketError error = listener._acceptReactor.Register(listener._listenHandle.DangerousGetFd(), EpollApi.In, listener, out listener._token);
            if (error == SocketError.Success)
            {
                done.SetResult();
            }
            else
            {
                done.SetException(new SocketException((int)error, $"Registering the listening socket {listener.EndPoint} with epoll failed: {error}."));
            }
        }, (this, registered));
        return registered.Task;
    }

    void IEpollHandler.OnEpollEvents(int events)
    {
        // Edge-triggered: one signal per burst of connections; AcceptAsync drains the backlog itself.
        if (_acceptReady.CurrentCount == 0)
        {
            _acceptReady.Release();
        }
    }

    public override async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            if (_unbound.IsCancellationRequested)
            {
                return null;
            }

            SocketError error = TryAccept(out int fd, out EndPoint? remoteEndPoint);
            if (error == SocketError.Success)
            {
                _backoff.Reset();
                ReactorConnection? connection = CreateConnection(fd, remoteEndPoint);
                if (connection is not null)
                {
                    return connection;
                }
                continue;
            }

            switch (error)
            {
                case SocketError.WouldBlock:
                    await _acceptReady.WaitAsync(cancellationToken).ConfigureAwait(false);
                    break;

                case SocketError.Interrupted:
                case SocketError.ConnectionAborted:
                case SocketError.ConnectionReset:
                case SocketError.AccessDenied:
                    // The client gave up while in the backlog, or a firewall rule refused it: skip it.
                    TransportLog.AcceptSkipped(_logger, EndPoint, error.ToString());
                    break;

                case SocketError.OperationAborted when _unbound.IsCancellationRequested:
                case SocketError.InvalidArgument when _unbound.IsCancellationRequested:
                    return null;

                default:
                    // Out of fds or memory (or anything unexpected): throwing would end Kestrel's accept loop
                    // for the life of the server, retrying at once would spin. Back off and try again.
                    int delay = _backoff.NextDelayMilliseconds();
                    TransportLog.AcceptBackoff(_logger, EndPoint, error.ToString(), delay);
                    try
                    {
                        await Task.Delay(delay, _unbound.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        return null;
                    }
                    break;
            }
        }
    }

    private SocketError TryAccept(out int fd, out EndPoint? remoteEndPoint)
    {
        bool added = false;
        try
        {
            _listenHandle.DangerousAddRef(ref added);
            return SocketApi.Accept(_listenHandle.DangerousGetFd(), out fd, out remoteEndPoint);
        }
        catch (ObjectDisposedException)
        {
            fd = -1;
            remoteEndPoint = null;
            return SocketError.OperationAborted;
        }
        finally
        {
            if (added)
            {
                _listenHandle.DangerousRelease();
            }
        }
    }

    private EpollConnection? CreateConnection(int fd, EndPoint? remoteEndPoint)
    {
        try
        {
            if (_settings.NoDelay && _listenSocket.IsIP)
            {
                _ = SocketApi.SetNoDelay(fd);
            }
            // A Unix socket connection's local address is the listener's own path: no getsockname needed.
            EndPoint? localEndPoint = _listenSocket.IsIP ? SocketApi.GetLocalEndPoint(fd) : EndPoint;
            var reactor = (EpollReactor)Reactors.Next();
            var connection = new EpollConnection(fd, reactor, _settings, localEndPoint, remoteEndPoint);
            connection.Start();
            return connection;
        }
        catch (Exception ex)
        {
            SocketApi.Close(fd);
            TransportLog.AcceptSkipped(_logger, EndPoint, ex.Message);
            return null;
        }
    }

    protected override void OnUnbinding()
    {
        _unbound.Cancel();
        _acceptReady.Release();
    }

    protected override void CloseOnReactor()
    {
        _acceptReactor.Unregister(_listenHandle.DangerousGetFd(), _token);
        _listenSocket.Close();
    }
}
