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
/// hands each accepted fd to the next reactor round-robin. Near the process's fd limit it pauses (see
/// <see cref="AcceptThrottle"/>), and no failure of the accept path ever reaches Kestrel while it is bound.
/// </summary>
internal sealed class EpollConnectionListener : ReactorConnectionListener, IEpollHandler, IListenBacklog
{
    private static readonly Action<object?> s_signalAcceptReady = static state => ((EpollConnectionListener)state!).SignalAcceptReady();

    private static readonly Action<object?> s_recheck = static state =>
    {
        var listener = (EpollConnectionListener)state!;
        listener.TimerElapsed(ref listener._recheckQueued);
    };

    private static readonly Action<object?> s_backoffElapsed = static state =>
    {
        var listener = (EpollConnectionListener)state!;
        listener.TimerElapsed(ref listener._backoffTimerQueued);
    };

    private readonly EpollListenSocket _listenSocket;
    private readonly FileDescriptorHandle _listenHandle;
    private readonly EpollReactor _acceptReactor;
    private readonly ConnectionSettings _settings;
    private readonly ILogger _logger;
    // Neither holds an OS handle (no wait handle is ever requested), so both are left to the GC: an
    // AcceptAsync call after dispose must still see "unbound" rather than throw.
    private readonly SemaphoreSlim _acceptReady = new(0);
    private readonly CancellationTokenSource _unbound = new();
    private readonly AcceptThrottle _throttle;
    private readonly ListenerCounters _counters;
    private AcceptBackoff _backoff;
    private int _recheckQueued;
    private int _backoffTimerQueued;
    // Accept thread only: no accept before this time (Environment.TickCount64), 0 when not backing off. New
    // clients still signal readiness meanwhile; the deadline keeps them from cutting the back-off short.
    private long _retryAt;
    private ulong _token;
    // Accept thread only: whether accepted sockets come with TCP_NODELAY from the listening socket.
    private NoDelaySource _noDelay;

    private enum NoDelaySource
    {
        NotYetChecked,
        Inherited,
        SetPerConnection,
    }

    private enum AcceptStep
    {
        Accepted,
        Again,
        Wait,
        Unbound,
    }

    private EpollConnectionListener(EpollListenSocket listenSocket, ReactorTransport transport)
        : base(transport, listenSocket.EndPoint)
    {
        _listenSocket = listenSocket;
        _listenHandle = listenSocket.Handle;
        _acceptReactor = (EpollReactor)AcceptReactor;
        _settings = transport.Settings;
        _logger = transport.Logger;
        _counters = transport.ListenerCounters;
        _throttle = new AcceptThrottle(transport.FileDescriptors, transport.FileDescriptorReserve, this, _logger, EndPoint,
            s_signalAcceptReady, this, _counters);
    }

    /// <summary>Binds and listens synchronously, so that errors surface from BindAsync and port 0 is resolved.</summary>
    public static async ValueTask<EpollConnectionListener> BindAsync(EndPoint endPoint, ReactorTransport transport)
    {
        EpollListenSocket listenSocket = EpollListenSocket.Create(endPoint, transport.Listen);
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

    // Edge-triggered: one signal per burst of connections; AcceptAsync drains the backlog itself.
    void IEpollHandler.OnEpollEvents(int events) => SignalAcceptReady();

    public override async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        bool wait = false;
        while (true)
        {
            if (_unbound.IsCancellationRequested)
            {
                return null;
            }
            // Nothing may escape to Kestrel while bound: its accept loop would end for the life of the server.
            try
            {
                if (wait)
                {
                    await _acceptReady.WaitAsync(cancellationToken).ConfigureAwait(false);
                    wait = false;
                    continue;
                }
                switch (TryAcceptOne(out ReactorConnection? connection))
                {
                    case AcceptStep.Accepted:
                        return connection;
                    case AcceptStep.Unbound:
                        return null;
                    case AcceptStep.Wait:
                        wait = true;
                        break;
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex)
            {
                // Out of memory in a registration or a continuation, or anything unexpected: back off.
                wait = BackOffAfter(ex, waitFailed: wait);
            }
        }
    }

    /// <returns>Whether the next step is the wait (for the back-off timer), or an accept (after blocking here).</returns>
    private bool BackOffAfter(Exception ex, bool waitFailed)
    {
        try
        {
            int delay = _backoff.OnException(_logger, EndPoint, ex, _counters);
            if (!waitFailed)
            {
                BackOff(delay);
                return true;
            }
            Thread.Sleep(delay);
        }
        catch (Exception)
        {
            // Not even logging or queuing a timer worked. Blocking this thread is the one thing that needs nothing
            // new; the following accept (or its wait) tries again.
            Thread.Sleep(AcceptBackoff.MaxMilliseconds);
        }
        return false;
    }

    private AcceptStep TryAcceptOne(out ReactorConnection? connection)
    {
        connection = null;
        if (_retryAt != 0 && Environment.TickCount64 < _retryAt)
        {
            WakeAt(_retryAt); // woken early by a new client: the back-off still runs
            return AcceptStep.Wait;
        }
        _retryAt = 0;
        if (!_throttle.TryAdmit())
        {
            // Paused near the fd limit: a closing connection, a new client or the recheck timer ends the wait.
            WakeAfterRecheck();
            return AcceptStep.Wait;
        }

        SocketError error = TryAccept(out int fd, out EndPoint? remoteEndPoint);
        if (error == SocketError.Success)
        {
            _throttle.OnAccepted(fd);
            try
            {
                _backoff.OnSuccess(_logger, EndPoint);
            }
            catch
            {
                CloseUnowned(fd);
                throw;
            }
            connection = CreateConnection(fd, remoteEndPoint);
            return connection is null ? AcceptStep.Again : AcceptStep.Accepted;
        }

        switch (error)
        {
            case SocketError.WouldBlock:
                return AcceptStep.Wait;

            case SocketError.Interrupted:
            case SocketError.ConnectionAborted:
            case SocketError.ConnectionReset:
            case SocketError.AccessDenied:
                // The client gave up while in the backlog, or a firewall rule refused it: skip it.
                TransportLog.AcceptSkipped(_logger, EndPoint, error.ToString());
                return AcceptStep.Again;

            case SocketError.OperationAborted when _unbound.IsCancellationRequested:
            case SocketError.InvalidArgument when _unbound.IsCancellationRequested:
                return AcceptStep.Unbound;

            default:
                // Out of fds or memory (or anything unexpected): retrying at once would spin. The retry is a
                // reactor timer, not Task.Delay, which may need a thread the process cannot start just now.
                BackOff(_backoff.OnFailure(_logger, EndPoint, error.ToString(), _counters));
                return AcceptStep.Wait;
        }
    }

    /// <summary>No accept for <paramref name="delayMilliseconds"/>; a reactor timer ends the wait.</summary>
    private void BackOff(int delayMilliseconds)
    {
        _retryAt = Environment.TickCount64 + delayMilliseconds;
        WakeAt(_retryAt);
    }

    // One back-off timer at a time: a timer still queued for an earlier time wakes the wait, which queues the next.
    private void WakeAt(long due) =>
        QueueTimerOnce(ref _backoffTimerQueued, (int)Math.Max(0, due - Environment.TickCount64), s_backoffElapsed);

    private void WakeAfterRecheck() => QueueTimerOnce(ref _recheckQueued, AcceptThrottle.RecheckMilliseconds, s_recheck);

    /// <summary>A reactor timer that ends the accept wait, unless one is queued already (<paramref name="queued"/> is 1).</summary>
    private void QueueTimerOnce(ref int queued, int delayMilliseconds, Action<object?> elapsed)
    {
        if (Interlocked.Exchange(ref queued, 1) == 0)
        {
            try
            {
                _acceptReactor.RunAfter(delayMilliseconds, elapsed, this);
            }
            catch
            {
                Volatile.Write(ref queued, 0);
                throw;
            }
        }
    }

    private void TimerElapsed(ref int queued)
    {
        Volatile.Write(ref queued, 0);
        SignalAcceptReady();
    }

    private void SignalAcceptReady()
    {
        if (_acceptReady.CurrentCount == 0)
        {
            _acceptReady.Release();
        }
    }

    bool IListenBacklog.TryRead(out int queued, out int limit)
    {
        queued = limit = 0;
        if (!_listenSocket.IsIP)
        {
            return false; // a Unix socket has no tcp_info; its clients see EAGAIN when its backlog is full
        }
        Span<byte> info = stackalloc byte[TcpListenQueue.InfoLength];
        bool added = false;
        try
        {
            // Held, as for accept: an unbind closing the socket meanwhile must not let this reach a reused fd.
            _listenHandle.DangerousAddRef(ref added);
            return SocketApi.GetTcpInfo(_listenHandle.DangerousGetFd(), info, out int length) == SocketError.Success
                && TcpListenQueue.TryParse(info[..length], out queued, out limit);
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        finally
        {
            if (added)
            {
                _listenHandle.DangerousRelease();
            }
        }
    }

    bool IListenBacklog.TryRefuseOne()
    {
        // The accepted fd lives for two syscalls, within the reserve it was kept for.
        if (TryAccept(out int fd, out _) != SocketError.Success)
        {
            return false;
        }
        _ = SocketApi.SetAbortiveClose(fd);
        _ = SocketApi.Close(fd);
        return true;
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
                ApplyNoDelay(fd);
            }
            EndPoint? localEndPoint = _listenSocket.AcceptedLocalEndPoint() ?? SocketApi.GetLocalEndPoint(fd);
            var reactor = (EpollReactor)Reactors.Next();
            var connection = new EpollConnection(fd, reactor, _settings, localEndPoint, remoteEndPoint);
            connection.Start();
            return connection;
        }
        catch (Exception ex)
        {
            CloseUnowned(fd);
            TransportLog.AcceptSkipped(_logger, EndPoint, ex.Message);
            return null;
        }
    }

    /// <summary>
    /// TCP_NODELAY on an accepted socket. Linux copies it from the listening socket, on which the transport sets
    /// it when it binds; the first connection shows whether that holds here (an inherited listener, from systemd
    /// say, is never changed and may lack it), and only where it does not is it set on every connection.
    /// </summary>
    private void ApplyNoDelay(int fd)
    {
        if (_noDelay == NoDelaySource.NotYetChecked)
        {
            _noDelay = SocketApi.GetNoDelay(fd, out bool inherited) == SocketError.Success && inherited
                ? NoDelaySource.Inherited
                : NoDelaySource.SetPerConnection;
        }
        if (_noDelay == NoDelaySource.SetPerConnection)
        {
            _ = SocketApi.SetNoDelay(fd);
        }
    }

    /// <summary>Closes an accepted fd that no connection owns yet, and gives it back to the budget.</summary>
    private void CloseUnowned(int fd)
    {
        _ = SocketApi.Close(fd);
        _settings.FileDescriptors.OnClosed();
    }

    protected override void OnUnbinding()
    {
        _unbound.Cancel();
        _acceptReady.Release();
    }

    protected override void CloseOnReactor()
    {
        _throttle.Stop();
        _acceptReactor.Unregister(_listenHandle.DangerousGetFd(), _token);
        _listenSocket.Close();
    }
}
