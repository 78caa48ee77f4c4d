using System.Globalization;
using System.Net.WebSockets;
using System.Text;

namespace WebApp;

/// <summary>
/// The browser chat room behind <c>/ws</c>: accepts WebSocket clients, names them, and fans text out to everybody
/// but the sender. One per app.
/// </summary>
internal sealed class WebSocketChatRoom(IHostApplicationLifetime lifetime, ILoggerFactory loggerFactory)
{
    public const int MaxNameLength = 32;

    private readonly ILogger _logger = loggerFactory.CreateLogger(Log.Category);
    private readonly ChatRoster<WebSocketChatClient> _clients = new();
    private int _lastGuest;

    public async Task HandleAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync("/ws takes WebSocket requests only; open / in a browser to chat.\n", context.RequestAborted);
            return;
        }

        var client = new WebSocketChatClient(ChooseName(context.Request.Query["name"]), this, _logger);

        // Joined before the handshake's answer goes out: a client that sees its connection open is in the room
        // and hears everything said after that. Until the socket exists, its messages wait in its queue. The price:
        // a handshake that fails shows the others a join and a leave of somebody who never chatted.
        Join(client);
        WebSocket socket;
        try
        {
            socket = await context.WebSockets.AcceptWebSocketAsync();
        }
        catch
        {
            Leave(client);
            throw;
        }

        using (socket)
        {
            await client.RunAsync(socket, context.RequestAborted, lifetime.ApplicationStopping);
        }
    }

    public void Join(WebSocketChatClient client)
    {
        var others = _clients.Add(client);
        Log.WebSocketClientJoined(_logger, client.Name);
        SendToAllBut(others, sender: null, $"* {client.Name} joined");
    }

    public void Leave(WebSocketChatClient client)
    {
        if (_clients.Remove(client) is { } remaining)
        {
            Log.WebSocketClientLeft(_logger, client.Name);
            SendToAllBut(remaining, sender: null, $"* {client.Name} left");
        }
    }

    public void Relay(WebSocketChatClient sender, string text) =>
        SendToAllBut(_clients.Members, sender, $"{sender.Name}: {text}");

    private static void SendToAllBut(WebSocketChatClient[] clients, WebSocketChatClient? sender, string text)
    {
        if (clients.Length == 0 || (clients.Length == 1 && ReferenceEquals(clients[0], sender)))
        {
            return;
        }

        // Encoded once for every recipient; queued messages are never written to after this.
        ReadOnlyMemory<byte> message = Encoding.UTF8.GetBytes(text);
        foreach (var client in clients)
        {
            if (!ReferenceEquals(client, sender))
            {
                client.Send(message);
            }
        }
    }

    private string ChooseName(string? requested)
    {
        var name = requested?.Trim() ?? "";
        if (name.Length > MaxNameLength)
        {
            // Never keep half of a surrogate pair: the name goes out as UTF-8 and must stay valid text.
            var length = char.IsHighSurrogate(name[MaxNameLength - 1]) ? MaxNameLength - 1 : MaxNameLength;
            name = name[..length].TrimEnd();
        }

        return name.Length > 0
            ? name
            : "guest-" + Interlocked.Increment(ref _lastGuest).ToString(CultureInfo.InvariantCulture);
    }
}
