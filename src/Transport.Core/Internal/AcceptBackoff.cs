using Microsoft.Extensions.Logging;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>
/// Delay before retrying accept after running out of a resource (EMFILE, ENFILE, ENOBUFS, ENOMEM) or an
/// unexpected failure. Retrying at once would spin a core while the condition lasts (see libuv#690,
/// dotnet/aspnetcore#55599); waiting too long leaves clients in the backlog. Doubles from 5 ms to 1 s, as Go's
/// net/http does, and resets on success. One warning per episode: the retries log at Debug, the recovery once.
/// </summary>
internal struct AcceptBackoff
{
    private const int InitialMilliseconds = 5;
    public const int MaxMilliseconds = 1000;

    private int _current;
    private int _failures;

    /// <summary>Records a failed accept and returns how long to wait before the next one.</summary>
    public int OnFailure(ILogger logger, object endPoint, string error, ListenerCounters counters)
    {
        if (Advance(counters))
        {
            TransportLog.AcceptBackoff(logger, endPoint, error, _current);
        }
        else
        {
            TransportLog.AcceptBackoffRepeated(logger, endPoint, error, _current);
        }
        return _current;
    }

    /// <summary>Records an unexpected exception from the accept path and returns how long to wait.</summary>
    public int OnException(ILogger logger, object endPoint, Exception ex, ListenerCounters counters)
    {
        if (Advance(counters))
        {
            TransportLog.AcceptFailed(logger, endPoint, _current, ex);
        }
        else
        {
            TransportLog.AcceptBackoffRepeated(logger, endPoint, $"{ex.GetType().Name}: {ex.Message}", _current);
        }
        return _current;
    }

    /// <summary>Counts one more failure and doubles the delay; true for the first failure of an episode.</summary>
    private bool Advance(ListenerCounters counters)
    {
        counters.OnAcceptBackoff();
        _current = _current == 0 ? InitialMilliseconds : Math.Min(_current * 2, MaxMilliseconds);
        return _failures++ == 0;
    }

    /// <summary>Records a successful accept, ending an episode of failures.</summary>
    public void OnSuccess(ILogger logger, object endPoint)
    {
        if (_failures != 0)
        {
            TransportLog.AcceptRecovered(logger, endPoint, _failures);
            _failures = 0;
            _current = 0;
        }
    }
}
