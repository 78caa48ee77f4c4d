using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Select.Internal;

/// <summary>
/// One listening socket, multiplexed by a reactor's select loop like any connection: when it is readable the
/// reactor accepts, hands each new socket to the next reactor round-robin, and queues the started connection
/// for Kestrel's accept loop. Near the process's fd limit it pauses (see <see cref="AcceptThrottle"/>); a failure
/// of the accept path never reaches Kestrel or the reactor.
/// </summary>
internal sealed class SelectConnectionListener : ReactorConnectionListener, ISelectHandler, IListenBacklog
{
    // Accepts per readiness before the reactor serves its connections again; the rest waits one iteration.
    private const int MaxAcceptsPerTurn = 16;

    // Both run on the accept reactor: the fd throttle saw room (a connection closed), or a pause's time is up.
    private static readonly Action<object?> s_onRoom = static state =>
        ((SelectConnectionListener)state!)._acceptReactor.Schedule(static s => ((SelectConnectionListener)s!).ResumeAccepting(), state);
    private static readonly Action<object?> s_pauseElapsed = static state => ((SelectConnectionListener)state!).OnPauseElapsed();

    private readonly SelectReactor _acceptReactor;
    private readonly ConnectionSettings _settings;
    private readonly ILogger _logger;
    private readonly Channel<ReactorConnection> _accepted = Channel.CreateUnbounded<ReactorConnection>(
        new UnboundedChannelOptions { SingleReader = false, SingleWriter = true });
    private readonly AcceptThrottle _throttle;
    private readonly ListenerCounters _counters;
    private readonly SelectRegistration _registration;
    private AcceptBackoff _backoff;
    // Reactor thread only: while not 0, the socket is not watched (backing off, or paused near the fd limit).
    private long _acceptPausedUntil;
    // Reactor thread only: when the pending pause timer is due, 0 when none is pending.
    private long _pauseTimerDue;

    private SelectConnectionListener(Socket socket, ReactorTransport transport)
        : base(transport, socket.LocalEndPoint!)
    {
        Socket = socket;
        _acceptReactor = (SelectReactor)AcceptReactor;
        _settings = transport.Settings;
        _logger = transport.Logger;
        _counters = transport.ListenerCounters;
        _throttle = new AcceptThrottle(transport.FileDescriptors, transport.FileDescriptorReserve, this, _logger, EndPoint, s_onRoom, this, _counters);
        _registration = new SelectRegistration(socket, this);
        _acceptReactor.Schedule(static s =>
        {
            var listener = (SelectConnectionListener)s!;
            listener._acceptReactor.Register(listener._registration, SelectInterest.Read);
        }, this);
    }

    public Socket Socket { get; }

    /// <summary>Binds and listens synchronously, so that errors surface from BindAsync and port 0 is resolved.</summary>
    public static SelectConnectionListener Bind(EndPoint endPoint, ReactorTransport transport)
    {
        Socket socket = endPoint switch
        {
            FileHandleEndPoint inherited => Adopt(inherited),
            _ => new Socket(endPoint.AddressFamily, SocketType.Stream,
                endPoint.AddressFamily == AddressFamily.Unix ? ProtocolType.Unspecified : ProtocolType.Tcp),
        };
        try
        {
            if (endPoint is not FileHandleEndPoint)
            {
                BindNew(socket, endPoint, transport.Listen);
            }
            // Listening again on a listening inherited socket only updates its backlog.
            socket.Listen(transport.Listen.Backlog);
            socket.Blocking = false;
            return new SelectConnectionListener(socket, transport);
        }
        catch
        {
            // For an inherited fd this only releases the Socket object: it does not own the fd.
            socket.Dispose();
            throw;
        }
    }

    private static void BindNew(Socket socket, EndPoint endPoint, ListenSettings settings)
    {
        if (endPoint is IPEndPoint ip && ip.Address.Equals(IPAddress.IPv6Any))
        {
            // [::] serves IPv4 too, as with Kestrel's Sockets transport.
            socket.DualMode = true;
        }
        if (settings.ReusePort && endPoint is IPEndPoint)
        {
            SetReusePort(socket, endPoint);
        }
        try
        {
            // .NET sets SO_REUSEADDR itself on Unix (never SO_REUSEPORT), exactly as for Kestrel's Sockets
            // transport, so a restarted server rebinds at once and another process cannot share the port. A Unix
            // socket file that exists is never removed (it may belong to a running server); .NET deletes the
            // file it created when the socket is disposed.
            socket.Bind(endPoint);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw ListenErrors.AddressInUse(endPoint, ex);
        }
        // Before listen, so no client connects through the umask's mode; an abstract socket has no file.
        if (settings.UnixSocketFileMode is { } mode && endPoint is UnixDomainSocketEndPoint && endPoint.ToString() is { Length: > 0 } path
            && path[0] is not ('\0' or '@'))
        {
            UnixSocketFiles.ApplyMode(path, mode, endPoint);
        }
        // Other SocketExceptions propagate as they are: not IOExceptions, so Kestrel's localhost and any-IP
        // fallbacks keep working on hosts without IPv6.
    }

    /// <summary>
    /// SO_REUSEPORT, which .NET has no name for: its level and number differ between Linux and the BSD family.
    /// </summary>
    private static void SetReusePort(Socket socket, EndPoint endPoint)
    {
        (int level, int name) = OperatingSystem.IsLinux() ? (1, 15) // SOL_SOCKET, SO_REUSEPORT
            : OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() ? (0xFFFF, 0x200)
            : throw new PlatformNotSupportedException(
                $"ReusePort cannot be applied to {endPoint}: this operating system has no SO_REUSEPORT. Leave the option off here.");
        socket.SetRawSocketOption(level, name, BitConverter.GetBytes(1));
    }

    /// <summary>
    /// Wraps a socket the process inherited (systemd, <c>ListenHandle</c>) without owning it: disposing the
    /// listener never closes the handle, which belongs to whoever passed it.
    /// </summary>
    private static Socket Adopt(FileHandleEndPoint endPoint)
    {
        var handle = new SafeSocketHandle(checked((nint)endPoint.FileHandle), ownsHandle: false);
        try
        {
            var socket = new Socket(handle);
            if (socket.SocketType != SocketType.Stream)
            {
                // .NET wraps any fd without complaint; a type it cannot read means the fd is no socket at all.
                var type = socket.SocketType;
                socket.Dispose();
                throw new NotSupportedException(type == SocketType.Unknown
                    ? ListenErrors.HandleNotASocket(endPoint.FileHandle)
                    : ListenErrors.HandleNotAStreamSocket(endPoint.FileHandle));
            }
            return socket;
        }
        catch (SocketException ex)
        {
            throw new SocketException((int)ex.SocketErrorCode,
                $"File handle {endPoint.FileHandle} cannot be used as a listening socket: {ex.Message}. Pass the handle of a bound stream socket (ListenHandle, or a systemd socket unit with ListenStream=).");
        }
    }

    void ISelectHandler.OnSelectWritable()
    {
    }

    void ISelectHandler.OnSelectReadable()
    {
        try
        {
            AcceptBacklog();
        }
        catch (Exception ex)
        {
            // Out of memory, or anything unexpected: the reactor must go on, and accepting with it, later.
            PauseAccepting(_backoff.OnException(_logger, EndPoint, ex, _counters));
        }
    }

    private void AcceptBacklog()
    {
        for (int i = 0; i < MaxAcceptsPerTurn; i++)
        {
            if (!_throttle.TryAdmit())
            {
                // Near the fd limit: a closing connection or the recheck ends the pause.
                PauseAccepting(AcceptThrottle.RecheckMilliseconds);
                return;
            }
            Socket accepted;
            try
            {
                accepted = Socket.Accept();
            }
            catch (SocketException ex)
            {
                if (!HandleAcceptError(ex.SocketErrorCode))
                {
                    return;
                }
                continue;
            }
            _throttle.OnAccepted(-1);
            Hand(accepted);
            _backoff.OnSuccess(_logger, EndPoint);
            // Level-triggered: a backlog left over is reported again by the next select.
            if (!Socket.Poll(0, SelectMode.SelectRead))
            {
                return;
            }
        }
    }

    /// <summary>
    /// Stops watching the socket for <paramref name="delayMilliseconds"/>: select keeps reporting a backlog as
    /// readable, so a listener that cannot accept now must not be watched. A reactor timer ends the pause; the fd
    /// throttle's signal ends it sooner.
    /// </summary>
    private void PauseAccepting(int delayMilliseconds)
    {
        long due = Environment.TickCount64 + delayMilliseconds;
        _acceptPausedUntil = due;
        _acceptReactor.Watch(_registration, SelectInterest.None);
        // One timer at a time: near the fd limit every close ends a pause and the next accept starts another, and
        // a timer per pause would pile up in the reactor's timer list. A timer due earlier re-arms for the rest.
        if (_pauseTimerDue == 0 || _pauseTimerDue > due)
        {
            _pauseTimerDue = due;
            _acceptReactor.RunAfter(delayMilliseconds, s_pauseElapsed, this);
        }
    }

    private void OnPauseElapsed()
    {
        long now = Environment.TickCount64;
        if (now < _pauseTimerDue)
        {
            return; // replaced by a timer due earlier, which re-armed for the current pause
        }
        _pauseTimerDue = 0;
        if (_acceptPausedUntil == 0 || !_registration.IsRegistered)
        {
            return;
        }
        if (now >= _acceptPausedUntil)
        {
            ResumeAccepting();
        }
        else
        {
            _pauseTimerDue = _acceptPausedUntil;
            _acceptReactor.RunAfter((int)(_acceptPausedUntil - now), s_pauseElapsed, this);
        }
    }

    private void ResumeAccepting()
    {
        if (_acceptPausedUntil == 0 || !_registration.IsRegistered)
        {
            return; // not paused (a signal for a pause that already ended), or unbound meanwhile
        }
        _acceptPausedUntil = 0;
        _acceptReactor.Watch(_registration, SelectInterest.Read);
    }

    /// <returns>Whether to keep accepting in this turn.</returns>
    private bool HandleAcceptError(SocketError error)
    {
        switch (error)
        {
            case SocketError.WouldBlock:
                return false;
            case SocketError.Interrupted:
            case SocketError.ConnectionAborted:
            case SocketError.ConnectionReset:
            case SocketError.AccessDenied:
                // The client gave up while in the backlog, or a firewall rule refused it: skip it.
                TransportLog.AcceptSkipped(_logger, EndPoint, error.ToString());
                return true;
            default:
                // Out of fds or memory: accepting again at once would spin, and select keeps reporting the
                // backlog as readable. Stop watching the socket for a while.
                PauseAccepting(_backoff.OnFailure(_logger, EndPoint, error.ToString(), _counters));
                return false;
        }
    }

    bool IListenBacklog.TryRead(out int queued, out int limit)
    {
        queued = limit = 0;
        if (!OperatingSystem.IsLinux() || Socket.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            return false; // only Linux reports the accept queue, and only for TCP
        }
        Span<byte> info = stackalloc byte[TcpListenQueue.InfoLength];
        try
        {
            int length = Socket.GetRawSocketOption(TcpListenQueue.OptionLevel, TcpListenQueue.OptionName, info);
            return TcpListenQueue.TryParse(info[..length], out queued, out limit);
        }
        catch (SocketException)
        {
            return false;
        }
    }

    bool IListenBacklog.TryRefuseOne()
    {
        // The accepted socket lives for two calls, within the reserve it was kept for.
        try
        {
            using Socket refused = Socket.Accept();
            refused.LingerState = new LingerOption(true, 0);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private void Hand(Socket accepted)
    {
        SelectConnection connection;
        try
        {
            accepted.Blocking = false;
            if (_settings.NoDelay && accepted.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)
            {
                accepted.NoDelay = true;
            }
            connection = new SelectConnection(accepted, (SelectReactor)Reactors.Next(), _settings);
            connection.Start();
        }
        catch (Exception ex)
        {
            // The peer reset before its endpoints could be read, or there was no memory to set the connection
            // up: until started, nothing else owns the socket.
            accepted.Dispose();
            _settings.FileDescriptors.OnClosed();
            TransportLog.AcceptSkipped(_logger, EndPoint, ex.Message);
            return;
        }
        if (!_accepted.Writer.TryWrite(connection))
        {
            // Unbound meanwhile: nobody will take it.
            connection.Abort(null!);
        }
    }

    public override async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        while (await _accepted.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (_accepted.Reader.TryRead(out ReactorConnection? connection))
            {
                return connection;
            }
        }
        return null;
    }

    // Kestrel's accept loop ends when the channel completes, right after the close.
    protected override void CloseOnReactor()
    {
        _throttle.Stop();
        _acceptReactor.Unregister(_registration);
        Socket.Dispose();
        _accepted.Writer.TryComplete();
        // Accepted but never handed to Kestrel: close them so their sockets do not linger.
        while (_accepted.Reader.TryRead(out ReactorConnection? connection))
        {
            connection.Abort(null!);
        }
    }
}
