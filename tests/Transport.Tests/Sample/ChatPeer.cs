using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Sample;

/// <summary>
/// One member of a chat room, over raw TCP lines or WebSocket text messages. Both rooms send two kinds of line:
/// messages ("NAME: text") and notices ("* ..."). The contract lets notices arrive between messages, so reads sort
/// them: a test asks for the next messages and finds every notice received so far in <see cref="Notices"/>.
/// </summary>
internal abstract class ChatPeer : IDisposable
{
    /// <summary>Bounds every reading loop: no test exchanges anywhere near this many lines.</summary>
    private const int MaxLinesPerWait = 1000;

    private readonly Queue<string> _pendingMessages = new();
    private readonly List<string> _notices = [];

    protected ChatPeer(string name) => Name = name;

    /// <summary>The name the others see this peer by: "client-N" in the TCP room, the chosen name on the WebSocket.</summary>
    public string Name { get; protected set; }

    /// <summary>Every notice received so far, in order of arrival.</summary>
    public IReadOnlyList<string> Notices => _notices;

    public static bool IsNotice(string line) => line.StartsWith("* ", StringComparison.Ordinal);

    public abstract Task SendAsync(string text);

    public async Task<string> ReceiveMessageAsync()
    {
        if (_pendingMessages.TryDequeue(out var pending))
        {
            return pending;
        }
        for (var i = 0; i < MaxLinesPerWait; i++)
        {
            var line = await ReceiveLineAsync();
            if (IsNotice(line))
            {
                _notices.Add(line);
            }
            else
            {
                return line;
            }
        }
        throw new InvalidDataException($"{Name} received {MaxLinesPerWait} notices and no message.");
    }

    public async Task<List<string>> ReceiveMessagesAsync(int count)
    {
        var messages = new List<string>(count);
        while (messages.Count < count)
        {
            messages.Add(await ReceiveMessageAsync());
        }
        return messages;
    }

    /// <summary>
    /// Receives messages up to and including <paramref name="fence"/> and returns the ones before it. A fence sent
    /// by another peer after it saw the lines of this test proves nothing else is still on its way here.
    /// </summary>
    public async Task<List<string>> ReceiveMessagesUntilAsync(string fence)
    {
        var before = new List<string>();
        for (var i = 0; i < MaxLinesPerWait; i++)
        {
            var message = await ReceiveMessageAsync();
            if (message == fence)
            {
                return before;
            }
            before.Add(message);
        }
        throw new InvalidDataException($"{Name} did not receive '{fence}' within {MaxLinesPerWait} messages: {string.Join(" | ", before)}");
    }

    /// <summary>Reads until <paramref name="notice"/> has arrived; messages read meanwhile are kept for later.</summary>
    public async Task WaitForNoticeAsync(string notice)
    {
        for (var i = 0; i < MaxLinesPerWait; i++)
        {
            if (_notices.Contains(notice))
            {
                return;
            }
            var line = await ReceiveLineAsync();
            if (IsNotice(line))
            {
                _notices.Add(line);
            }
            else
            {
                _pendingMessages.Enqueue(line);
            }
        }
        throw new InvalidDataException($"{Name} did not receive '{notice}' within {MaxLinesPerWait} lines; notices: {string.Join(" | ", _notices)}");
    }

    public abstract void Dispose();

    /// <summary>The next line or text message, whatever it is; bounded by a timeout.</summary>
    protected abstract Task<string> ReceiveLineAsync();
}

/// <summary>A client of the raw TCP chat room, which learns its name from the room's greeting.</summary>
internal sealed class TcpChatPeer : ChatPeer
{
    private const string GreetingPrefix = "* you are ";

    private TcpChatPeer(TcpTestClient client, string name)
        : base(name) => Client = client;

    public TcpTestClient Client { get; }

    /// <summary>Connects and reads the greeting, which must be the first line: "* you are client-N".</summary>
    public static async Task<TcpChatPeer> ConnectAsync(IPEndPoint endPoint)
    {
        var client = await TcpTestClient.ConnectAsync(endPoint);
        try
        {
            var greeting = await client.ReadLineAsync();
            if (!greeting.StartsWith(GreetingPrefix + "client-", StringComparison.Ordinal))
            {
                throw new InvalidDataException($"The first line was '{greeting}', not '{GreetingPrefix}client-N'.");
            }
            return new TcpChatPeer(client, greeting[GreetingPrefix.Length..]);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    public override Task SendAsync(string text) => Client.SendAsync(text + "\n");

    public override void Dispose() => Client.Dispose();

    protected override Task<string> ReceiveLineAsync() => Client.ReadLineAsync();
}

/// <summary>A client of the WebSocket chat room (<c>/ws?name=NAME</c>) on <see cref="ClientWebSocket"/>.</summary>
internal sealed class WebSocketChatPeer : ChatPeer
{
    private const int MaxMessageBytes = 64 * 1024;

    private readonly ClientWebSocket _webSocket;
    private readonly HttpMessageInvoker _invoker;
    private readonly byte[] _buffer = new byte[MaxMessageBytes];
    private Socket? _socket;

    private WebSocketChatPeer(string name)
        : base(name)
    {
        _webSocket = new ClientWebSocket();
        // A handler of our own, so that the test holds the socket and can turn an abort into a reset.
        _invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            ConnectCallback = (context, cancellationToken) =>
                ClientConnections.ConnectTcpAsync(context.DnsEndPoint, socket => _socket = socket, cancellationToken),
        });
    }

    public WebSocketState State => _webSocket.State;

    /// <summary>Joins as <paramref name="name"/>, or without a name when null (the room then picks one).</summary>
    public static async Task<WebSocketChatPeer> ConnectAsync(Uri httpAddress, string? name)
    {
        // The room trims names; a peer without one is known by a name the test does not need.
        var peer = new WebSocketChatPeer(name?.Trim() ?? "guest");
        try
        {
            var uri = new UriBuilder(httpAddress)
            {
                Scheme = "ws",
                Path = "/ws",
                Query = name is null ? string.Empty : "name=" + Uri.EscapeDataString(name),
            }.Uri;
            await peer._webSocket.ConnectAsync(uri, peer._invoker, CancellationToken.None).WithTimeout();
            return peer;
        }
        catch
        {
            peer.Dispose();
            throw;
        }
    }

    public override Task SendAsync(string text) =>
        _webSocket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None).WithTimeout();

    /// <summary>Leaves politely: the close handshake, both ways.</summary>
    public Task CloseAsync() =>
        _webSocket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None).WithTimeout();

    /// <summary>Leaves abruptly: no close frame, and the TCP connection ends with an RST.</summary>
    public void Abort()
    {
        if (_socket is { } socket)
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        _webSocket.Abort();
        _socket?.Dispose();
    }

    public override void Dispose()
    {
        _webSocket.Dispose();
        _invoker.Dispose();
    }

    protected override async Task<string> ReceiveLineAsync()
    {
        var length = 0;
        while (true)
        {
            if (length == _buffer.Length)
            {
                throw new InvalidDataException($"{Name} received a message over {MaxMessageBytes} bytes.");
            }
            var result = await _webSocket.ReceiveAsync(_buffer.AsMemory(length), CancellationToken.None).WithTimeout();
            if (result.MessageType != WebSocketMessageType.Text)
            {
                throw new InvalidDataException($"{Name} received a {result.MessageType} message, not a text message.");
            }
            length += result.Count;
            if (result.EndOfMessage)
            {
                return Encoding.UTF8.GetString(_buffer, 0, length);
            }
        }
    }
}
