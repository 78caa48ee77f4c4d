using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

// The accept loop. Kestrel calls AcceptAsync sequentially, from one accept loop per listener: it accepts until
// the backlog is empty, then waits for the reactor to report the next client. Near the process's fd limit it
// pauses (AcceptThrottle); after a failure it backs off on a reactor timer. Nothing of the accept path ever
// reaches Kestrel while bound (its accept loop would end for the life of the server), and no thread ever sleeps
// in it: every wait is an await.
internal sealed partial class ReactorConnectionListener<TAccepted>
{
    private static readonly Action<object?> s_signalAcceptReady = static state => ((ReactorConnectionListener<TAccepted>)state!).SignalAcceptReady();

    private static readonly Action<object?> s_recheck = static state =>
    {
        var listener = (ReactorConnectionListener<TAccepted>)state!;
        listener.TimerElapsed(ref listener._recheckQueued);
    };

    private static readonly Action<object?> s_backoffElapsed = static state =>
    {
        var listener = (ReactorConnectionListener<TAccepted>)state!;
        listener.TimerElapsed(ref listener._backoffTimerQueued);
    };

    private readonly ConnectionSettings _settings;
    private readonly ILogger _logger;
    private readonly ListenerCounters _counters;
    private readonly AcceptThrottle _throttle;
    // Neither holds an OS handle (no wait handle is ever requested), so both are left to the GC: an AcceptAsync
    // call after dispose must still see "unbound" rather than throw.
    private readonly SemaphoreSlim _acceptReady = new(0);
    private readonly CancellationTokenSource _unbound = new();
    // Accept loop only.
    private AcceptBackoff _backoff;
    // Accept loop only: no accept before this time (Environment.TickCount64), 0 when not backing off. New clients
    // still signal readiness meanwhile; the deadline keeps them from cutting the back-off short.
    private long _retryAt;
    private int _recheckQueued;
    private int _backoffTimerQueued;

    private enum AcceptStep
    {
        Accepted,
        Again,
        // The backlog is empty: the reactor reports the next client.
        WaitForClient,
        // Paused near the fd limit or backing off: a reactor timer (or a closing connection) ends the wait, and a
        // level-triggered backend must not report the backlog meanwhile, again and again.
        WaitForTimer,
        Unbound,
    }

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        bool wait = false;
        while (true)
        {
            if (_unbound.IsCancellationRequested)
            {
                return null;
            }
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
                    case AcceptStep.WaitForClient:
                        _socket.WatchForConnections();
                        wait = true;
                        break;
                    case AcceptStep.WaitForTimer:
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
                wait = await BackOffAfterAsync(ex, waitFailed: wait).ConfigureAwait(false);
            }
        }
    }

    /// <returns>Whether the next step is the wait (for the back-off timer), or an accept (after the delay here).</returns>
    private async ValueTask<bool> BackOffAfterAsync(Exception ex, bool waitFailed)
    {
        int delay = AcceptBackoff.MaxMilliseconds;
        try
        {
            delay = _backoff.OnException(_logger, EndPoint, ex, _counters);
            if (!waitFailed)
            {
                BackOff(delay);
                return true;
            }
        }
        catch (Exception)
        {
            // Not even logging or queuing a timer worked: wait here instead, without the reactor.
        }
        try
        {
            // The wait itself failed (or the timer could not be queued): waiting on it again would fail at once.
            await Task.Delay(delay, _unbound.Token).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Unbound meanwhile (the loop returns null next), or no memory even for a timer: the following accept
            // tries again, and fails into this back-off once more.
        }
        return false;
    }

    private AcceptStep TryAcceptOne(out ReactorConnection? connection)
    {
        connection = null;
        if (_retryAt != 0 && Environment.TickCount64 < _retryAt)
        {
            WakeAt(_retryAt); // woken early by a new client: the back-off still runs
            return AcceptStep.WaitForTimer;
        }
        _retryAt = 0;
        if (!_throttle.TryAdmit())
        {
            // Paused near the fd limit: a closing connection, a new client or the recheck timer ends the wait.
            WakeAfterRecheck();
            return AcceptStep.WaitForTimer;
        }

        SocketError error = _socket.TryAccept(out TAccepted accepted, out int fd);
        if (error == SocketError.Success)
        {
            _throttle.OnAccepted(fd);
            try
            {
                _backoff.OnSuccess(_logger, EndPoint);
            }
            catch
            {
                CloseUnowned(accepted);
                throw;
            }
            connection = CreateConnection(accepted);
            return connection is null ? AcceptStep.Again : AcceptStep.Accepted;
        }

        switch (error)
        {
            case SocketError.WouldBlock:
                return AcceptStep.WaitForClient;

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
                return AcceptStep.WaitForTimer;
        }
    }

    private ReactorConnection? CreateConnection(TAccepted accepted)
    {
        try
        {
            ReactorConnection connection = _socket.CreateConnection(accepted, _reactors.Next());
            connection.Start();
            return connection;
        }
        catch (Exception ex)
        {
            // The peer reset before its endpoints could be read, or there was no memory to set the connection up:
            // until started, nothing else owns the socket.
            CloseUnowned(accepted);
            TransportLog.AcceptSkipped(_logger, EndPoint, ex.Message);
            return null;
        }
    }

    /// <summary>Closes an accepted socket that no connection owns yet, and gives its descriptor back to the budget.</summary>
    private void CloseUnowned(TAccepted accepted)
    {
        _socket.CloseUnowned(accepted);
        _settings.FileDescriptors.OnClosed();
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

    /// <summary>A client may be waiting, a pause or back-off is over, or the listener is unbound: any thread.</summary>
    private void SignalAcceptReady()
    {
        if (_acceptReady.CurrentCount == 0)
        {
            _acceptReady.Release();
        }
    }
}
