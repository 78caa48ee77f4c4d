namespace WebApp;

/// <summary>
/// Every log line of the sample, source-generated so a disabled level costs a flag check and no formatting.
/// Client-caused endings (reset, abort, slow reader) stay at Debug or Information: they are normal traffic for a
/// server and must not look like failures.
/// </summary>
internal static partial class Log
{
    /// <summary>The one category the sample logs under (raise it to Debug in appsettings.json to see connections).</summary>
    public const string Category = "WebApp";

    [LoggerMessage(1, LogLevel.Information, "{Transport} transport serves {Address}", EventName = "TransportServes")]
    public static partial void TransportServes(ILogger logger, string transport, string address);

    [LoggerMessage(2, LogLevel.Information,
        "{Transport} transport was requested but {Reason}; sockets transport serves {Address}",
        EventName = "TransportFallback")]
    public static partial void TransportFallback(ILogger logger, string transport, string reason, string address);

    [LoggerMessage(3, LogLevel.Information, "Echo server listens on {Address}", EventName = "EchoServerListens")]
    public static partial void EchoServerListens(ILogger logger, string address);

    [LoggerMessage(4, LogLevel.Information, "Chat room listens on {Address}", EventName = "ChatRoomListens")]
    public static partial void ChatRoomListens(ILogger logger, string address);

    [LoggerMessage(5, LogLevel.Debug, "Generated a self-signed certificate for localhost, thumbprint {Thumbprint}, valid until {NotAfter:u}",
        EventName = "CertificateGenerated")]
    public static partial void CertificateGenerated(ILogger logger, string thumbprint, DateTime notAfter);

    [LoggerMessage(6, LogLevel.Information, "{Transport} transport serves h2c {Address}", EventName = "TransportServesH2c")]
    public static partial void TransportServesH2c(ILogger logger, string transport, string address);

    // Deliberately not "... transport ...": tests and benchmarks/run.sh match the "<name> transport serves" lines.
    [LoggerMessage(7, LogLevel.Information,
        "Inline scheduling is on for {Transport}: application code runs on the I/O threads, not the thread pool (--unsafe-prefer-inline-scheduling)",
        EventName = "InlineSchedulingOn")]
    public static partial void InlineSchedulingOn(ILogger logger, string transport);

    [LoggerMessage(10, LogLevel.Debug, "Echo connection {ConnectionId} ended by the peer: {Reason}", EventName = "EchoConnectionEnded")]
    public static partial void EchoConnectionEnded(ILogger logger, string connectionId, string reason);

    [LoggerMessage(20, LogLevel.Debug, "{Client} joined the chat room ({ConnectionId})", EventName = "ChatClientJoined")]
    public static partial void ChatClientJoined(ILogger logger, string client, string connectionId);

    [LoggerMessage(21, LogLevel.Debug, "{Client} left the chat room", EventName = "ChatClientLeft")]
    public static partial void ChatClientLeft(ILogger logger, string client);

    [LoggerMessage(22, LogLevel.Debug, "{Client} connection ended by the peer: {Reason}", EventName = "ChatClientConnectionEnded")]
    public static partial void ChatClientConnectionEnded(ILogger logger, string client, string reason);

    [LoggerMessage(23, LogLevel.Information, "{Client} did not keep up with the chat room ({Capacity} lines queued) and was disconnected",
        EventName = "ChatClientTooSlow")]
    public static partial void ChatClientTooSlow(ILogger logger, string client, int capacity);

    [LoggerMessage(24, LogLevel.Debug, "{Client} sent a line longer than {MaxLineBytes} bytes and was disconnected", EventName = "ChatLineTooLong")]
    public static partial void ChatLineTooLong(ILogger logger, string client, int maxLineBytes);

    [LoggerMessage(25, LogLevel.Information, "{Client} did not read the last chat lines within {Timeout} and was disconnected",
        EventName = "ChatClientDrainTimedOut")]
    public static partial void ChatClientDrainTimedOut(ILogger logger, string client, TimeSpan timeout);

    [LoggerMessage(30, LogLevel.Debug, "WebSocket client {Name} joined the chat room", EventName = "WebSocketClientJoined")]
    public static partial void WebSocketClientJoined(ILogger logger, string name);

    [LoggerMessage(31, LogLevel.Debug, "WebSocket client {Name} left the chat room", EventName = "WebSocketClientLeft")]
    public static partial void WebSocketClientLeft(ILogger logger, string name);

    [LoggerMessage(32, LogLevel.Debug, "WebSocket client {Name} connection ended without a close handshake: {Reason}",
        EventName = "WebSocketClientConnectionEnded")]
    public static partial void WebSocketClientConnectionEnded(ILogger logger, string name, string reason);

    [LoggerMessage(33, LogLevel.Information, "WebSocket client {Name} did not keep up with the chat room ({Capacity} messages queued) and was disconnected",
        EventName = "WebSocketClientTooSlow")]
    public static partial void WebSocketClientTooSlow(ILogger logger, string name, int capacity);

    [LoggerMessage(34, LogLevel.Debug, "WebSocket client {Name} sent a message larger than {MaxMessageBytes} bytes and is being closed",
        EventName = "WebSocketMessageTooBig")]
    public static partial void WebSocketMessageTooBig(ILogger logger, string name, int maxMessageBytes);
}
