using Microsoft.Extensions.Logging;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

// Event ids and names match Kestrel's Sockets transport (SocketsLog) so that log-based tests and dashboards
// written against Sockets keep working. Ids are stable forever. Reserved: 1-3, 9-13, 15-18 (unused by Sockets).
internal static partial class TransportLog
{
    [LoggerMessage(4, LogLevel.Debug, @"Connection id ""{ConnectionId}"" paused.", EventName = "ConnectionPause", SkipEnabledCheck = true)]
    private static partial void ConnectionPauseCore(ILogger logger, string connectionId);

    public static void ConnectionPause(ILogger logger, ReactorConnection connection)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            ConnectionPauseCore(logger, connection.ConnectionId);
        }
    }

    [LoggerMessage(5, LogLevel.Debug, @"Connection id ""{ConnectionId}"" resumed.", EventName = "ConnectionResume", SkipEnabledCheck = true)]
    private static partial void ConnectionResumeCore(ILogger logger, string connectionId);

    public static void ConnectionResume(ILogger logger, ReactorConnection connection)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            ConnectionResumeCore(logger, connection.ConnectionId);
        }
    }

    [LoggerMessage(6, LogLevel.Debug, @"Connection id ""{ConnectionId}"" received FIN.", EventName = "ConnectionReadFin", SkipEnabledCheck = true)]
    private static partial void ConnectionReadFinCore(ILogger logger, string connectionId);

    public static void ConnectionReadFin(ILogger logger, ReactorConnection connection)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            ConnectionReadFinCore(logger, connection.ConnectionId);
        }
    }

    [LoggerMessage(7, LogLevel.Debug, @"Connection id ""{ConnectionId}"" sending FIN because: ""{Reason}""", EventName = "ConnectionWriteFin", SkipEnabledCheck = true)]
    private static partial void ConnectionWriteFinCore(ILogger logger, string connectionId, string reason);

    public static void ConnectionWriteFin(ILogger logger, ReactorConnection connection, string reason)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            ConnectionWriteFinCore(logger, connection.ConnectionId, reason);
        }
    }

    [LoggerMessage(8, LogLevel.Debug, @"Connection id ""{ConnectionId}"" sending RST because: ""{Reason}""", EventName = "ConnectionWriteRst", SkipEnabledCheck = true)]
    private static partial void ConnectionWriteRstCore(ILogger logger, string connectionId, string reason);

    public static void ConnectionWriteRst(ILogger logger, ReactorConnection connection, string reason)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            ConnectionWriteRstCore(logger, connection.ConnectionId, reason);
        }
    }

    [LoggerMessage(14, LogLevel.Debug, @"Connection id ""{ConnectionId}"" communication error.", EventName = "ConnectionError", SkipEnabledCheck = true)]
    private static partial void ConnectionErrorCore(ILogger logger, string connectionId, Exception ex);

    public static void ConnectionError(ILogger logger, ReactorConnection connection, Exception ex)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            ConnectionErrorCore(logger, connection.ConnectionId, ex);
        }
    }

    [LoggerMessage(19, LogLevel.Debug, @"Connection id ""{ConnectionId}"" reset.", EventName = "ConnectionReset", SkipEnabledCheck = true)]
    private static partial void ConnectionResetCore(ILogger logger, string connectionId);

    public static void ConnectionReset(ILogger logger, ReactorConnection connection)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            ConnectionResetCore(logger, connection.ConnectionId);
        }
    }

    // Ids from 100 up are ours: transport life-cycle facts that Sockets has no equivalent for.
    [LoggerMessage(100, LogLevel.Warning, "Accepting connections on {EndPoint} failed with {Error}; retrying in {DelayMs} ms.", EventName = "AcceptBackoff")]
    public static partial void AcceptBackoff(ILogger logger, object endPoint, string error, int delayMs);

    [LoggerMessage(106, LogLevel.Warning, "Stopped accepting connections on {EndPoint}: {OpenFileDescriptors} of the process's {FileDescriptorLimit} file descriptors are open ({ConnectionFileDescriptors} for connections) and {FileDescriptorReserve} are kept free for the runtime (FileDescriptorReserve). New clients wait in the listen backlog; accepting resumes as connections close. If this is the normal load, raise the limit (LimitNOFILE= in a systemd unit, ulimit -n).", EventName = "AcceptPaused")]
    public static partial void AcceptPaused(ILogger logger, object endPoint, long openFileDescriptors, long fileDescriptorLimit, int fileDescriptorReserve, int connectionFileDescriptors);

    [LoggerMessage(107, LogLevel.Information, "Resumed accepting connections on {EndPoint} after {PausedMilliseconds} ms; {RefusedConnections} connection(s) were refused meanwhile because the listen backlog was full.", EventName = "AcceptResumed")]
    public static partial void AcceptResumed(ILogger logger, object endPoint, long pausedMilliseconds, long refusedConnections);

    [LoggerMessage(111, LogLevel.Debug, "Stopped accepting connections on {EndPoint} again: {OpenFileDescriptors} of {FileDescriptorLimit} file descriptors are open (the episode of the last warning, {EpisodeMilliseconds} ms ago; {RefusedConnections} connection(s) refused so far).", EventName = "AcceptPausedAgain")]
    public static partial void AcceptPausedAgain(ILogger logger, object endPoint, long openFileDescriptors, long fileDescriptorLimit, long episodeMilliseconds, long refusedConnections);

    [LoggerMessage(108, LogLevel.Error, "Accepting connections on {EndPoint} failed unexpectedly; retrying in {DelayMs} ms.", EventName = "AcceptFailed")]
    public static partial void AcceptFailed(ILogger logger, object endPoint, int delayMs, Exception ex);

    [LoggerMessage(109, LogLevel.Debug, "Accepting connections on {EndPoint} failed again with {Error}; retrying in {DelayMs} ms.", EventName = "AcceptBackoffRepeated")]
    public static partial void AcceptBackoffRepeated(ILogger logger, object endPoint, string error, int delayMs);

    [LoggerMessage(110, LogLevel.Information, "Accepting connections on {EndPoint} works again after {FailedAttempts} failed attempt(s).", EventName = "AcceptRecovered")]
    public static partial void AcceptRecovered(ILogger logger, object endPoint, int failedAttempts);

    [LoggerMessage(101, LogLevel.Debug, "Accepting a connection on {EndPoint} failed with {Error}; the connection is skipped.", EventName = "AcceptSkipped")]
    public static partial void AcceptSkipped(ILogger logger, object endPoint, string error);

    [LoggerMessage(102, LogLevel.Information, "Started {ReactorCount} {Transport} reactor thread(s).", EventName = "ReactorsStarted")]
    public static partial void ReactorsStarted(ILogger logger, int reactorCount, string transport);

    [LoggerMessage(103, LogLevel.Error, @"Reactor {ReactorName} caught an unexpected exception in the handler of connection id ""{ConnectionId}""; that connection was closed and the reactor keeps running.", EventName = "ReactorError")]
    public static partial void ReactorError(ILogger logger, string reactorName, string connectionId, Exception ex);

    [LoggerMessage(112, LogLevel.Error, "Reactor {ReactorName} caught an unexpected exception in work that belongs to no open connection (a timer, a listener's registration or close, a connection that was not started or had closed); the reactor keeps running.", EventName = "ReactorWorkError")]
    public static partial void ReactorWorkError(ILogger logger, string reactorName, Exception ex);

    [LoggerMessage(105, LogLevel.Critical, "Reactor {ReactorName} failed; the process is terminated.", EventName = "ReactorFailed")]
    public static partial void ReactorFailed(ILogger logger, string reactorName, Exception ex);

    [LoggerMessage(104, LogLevel.Warning, "The {Transport} transport is not supported on this platform ({Platform}); Kestrel's Sockets transport serves every endpoint instead.", EventName = "TransportNotSupported")]
    public static partial void TransportNotSupported(ILogger logger, string transport, string platform);
}
