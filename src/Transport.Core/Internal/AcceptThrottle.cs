using System.Net;
using Microsoft.Extensions.Logging;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>
/// Keeps one listener from taking the process's last file descriptors. A .NET process that has none left
/// cannot start a thread or a timer, and the runtime then aborts it; so the listener stops accepting while
/// accepting one more would leave fewer than the reserve free, leaves new clients in the kernel's backlog
/// (refusing the oldest at once when the backlog is full, so that they fail fast instead of hanging), and goes on
/// by itself when connections close. Logs one warning when a pause starts and one line when it ends.
/// </summary>
/// <remarks>Used by the one thread that accepts on the listener; only the room signal comes from elsewhere.</remarks>
internal sealed class AcceptThrottle
{
    /// <summary>How often a paused listener counts again and looks at its backlog when no connection closes.</summary>
    public const int RecheckMilliseconds = 250;

    /// <summary>
    /// A pause that starts within this long of the previous one's end continues its episode: at the limit, churn
    /// pauses and resumes accepting many times a second, and an operator needs one warning, not one per close.
    /// </summary>
    public const int EpisodeGapMilliseconds = 10_000;

    // Refusing the oldest clients only makes room for newer ones: keep the backlog just under its limit.
    private const int MaxRefusalsPerCheck = 64;

    // Above half the limit, the estimate of the others is refreshed at least this often even with room to spare,
    // so that it cannot drift far behind what the rest of the process opened.
    private const int FarRecountIntervalMilliseconds = 1000;

    private static readonly Action<object?> s_onRoom = static state =>
    {
        var throttle = (AcceptThrottle)state!;
        Volatile.Write(ref throttle._waitingForRoom, 0);
        throttle._onRoom(throttle._onRoomState);
    };

    private readonly FileDescriptorBudget _budget;
    private readonly int _reserve;
    private readonly IListenBacklog _backlog;
    private readonly ILogger _logger;
    private readonly EndPoint _endPoint;
    private readonly Action<object?> _onRoom;
    private readonly object? _onRoomState;
    // Once paused, room for this many more before resuming: resuming for every single close would pause again
    // at the next accept.
    private readonly int _resumeMargin;
    private readonly ListenerCounters _counters;
    private int _waitingForRoom;
    private bool _inEpisode;
    private bool _resumeLogged;
    private long _episodeStartedAt;
    private long _lastResumedAt;
    private long _refused;

    /// <summary>
    /// <paramref name="onRoom"/>(<paramref name="onRoomState"/>) is called on any thread, at most once per failed
    /// <see cref="TryAdmit"/>, when a transport connection has closed.
    /// </summary>
    public AcceptThrottle(FileDescriptorBudget budget, int reserve, IListenBacklog backlog, ILogger logger, EndPoint endPoint,
        Action<object?> onRoom, object? onRoomState, ListenerCounters counters)
    {
        _counters = counters;
        _budget = budget;
        _reserve = reserve;
        _backlog = backlog;
        _logger = logger;
        _endPoint = endPoint;
        _onRoom = onRoom;
        _onRoomState = onRoomState;
        _resumeMargin = Math.Max(1, reserve / 8);
    }

    public bool IsPaused { get; private set; }

    /// <summary>Connections refused in the current (or last) episode because the backlog was full while paused.</summary>
    public long RefusedConnections => _refused;

    /// <summary>
    /// Whether the next connection may be accepted. False starts or continues a pause: the caller waits for the
    /// room signal or <see cref="RecheckMilliseconds"/>, whichever comes first, and asks again.
    /// </summary>
    public bool TryAdmit()
    {
        // The margin shrinks with the connections that could still close: with none left, only the others can
        // give room back, and any room is then worth resuming for.
        int needed = IsPaused ? _reserve + Math.Min(_resumeMargin, _budget.Held) : _reserve;
        if (!_budget.HasRoom(needed + _reserve))
        {
            // Within another reserve of the limit, the estimate of the others' descriptors (assemblies the runtime
            // mapped since the last count, files the application opened) must be fresh.
            _budget.Recount();
        }
        else if (_budget.OpenEstimate * 2 > _budget.Limit)
        {
            _budget.Recount(FarRecountIntervalMilliseconds);
        }
        if (_budget.HasRoom(needed))
        {
            if (IsPaused)
            {
                Resume();
            }
            return true;
        }

        if (!IsPaused)
        {
            Pause();
        }
        RefuseWhileBacklogFull();
        if (Interlocked.Exchange(ref _waitingForRoom, 1) == 0)
        {
            try
            {
                _budget.WaitForRoom(_reserve + _resumeMargin, s_onRoom, this);
            }
            catch
            {
                Volatile.Write(ref _waitingForRoom, 0);
                throw;
            }
        }
        return false;
    }

    /// <summary>The listener is unbound: no room signal is wanted any more.</summary>
    public void Stop() => _budget.StopWaiting(this);

    private void Pause()
    {
        IsPaused = true;
        _counters.OnAcceptPause();
        long now = _budget.Now;
        if (_inEpisode && now - _lastResumedAt < EpisodeGapMilliseconds)
        {
            TransportLog.AcceptPausedAgain(_logger, _endPoint, _budget.OpenEstimate, _budget.Limit, now - _episodeStartedAt, _refused);
            return;
        }
        _inEpisode = true;
        _resumeLogged = false;
        _episodeStartedAt = now;
        _refused = 0;
        TransportLog.AcceptPaused(_logger, _endPoint, _budget.OpenEstimate, _budget.Limit, _reserve, _budget.Held);
    }

    private void Resume()
    {
        IsPaused = false;
        _lastResumedAt = _budget.Now;
        if (!_resumeLogged)
        {
            _resumeLogged = true;
            TransportLog.AcceptResumed(_logger, _endPoint, _lastResumedAt - _episodeStartedAt, _refused);
        }
    }

    /// <summary>The listener took descriptor <paramref name="fd"/> (-1 when unknown) for a new connection.</summary>
    public void OnAccepted(int fd) => _budget.OnOpened(fd);

    private void RefuseWhileBacklogFull()
    {
        if (!_backlog.TryRead(out int queued, out int limit) || queued < limit)
        {
            return;
        }
        // Down to seven eighths of the limit: the clients that waited longest are the likeliest to have given up.
        int excess = Math.Min(queued - (limit - Math.Max(1, limit / 8)), MaxRefusalsPerCheck);
        for (int i = 0; i < excess && _backlog.TryRefuseOne(); i++)
        {
            _refused++;
        }
    }
}
