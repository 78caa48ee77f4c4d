using System.Buffers;
using System.Globalization;
using System.Text;

namespace WebApp;

/// <summary>
/// The raw TCP chat room: who is connected, their ids, and fan-out of lines and join/leave notices. One per app,
/// so ids start at client-1 in every app instance.
/// </summary>
internal sealed class LineChatRoom
{
    private readonly ChatRoster<LineChatClient> _clients = new();
    private int _lastId;

    public string NextClientId() =>
        "client-" + Interlocked.Increment(ref _lastId).ToString(CultureInfo.InvariantCulture);

    public void Join(LineChatClient client)
    {
        var others = _clients.Add(client);
        SendToAll(others, Encoding.UTF8.GetBytes($"* {client.Id} joined\n"));
    }

    public void Leave(LineChatClient client)
    {
        if (_clients.Remove(client) is { } remaining)
        {
            SendToAll(remaining, Encoding.UTF8.GetBytes($"* {client.Id} left\n"));
        }
    }

    /// <summary>Sends "client-N: line\n" to every client but the sender; the line has no end-of-line.</summary>
    public void Relay(LineChatClient sender, in ReadOnlySequence<byte> line)
    {
        var clients = _clients.Members;
        if (clients.Length < 2)
        {
            return;
        }

        // One buffer for all recipients: queued messages are never written to after this.
        var prefix = sender.LinePrefix.Span;
        var message = new byte[prefix.Length + line.Length + 1];
        prefix.CopyTo(message);
        line.CopyTo(message.AsSpan(prefix.Length));
        message[^1] = (byte)'\n';

        foreach (var client in clients)
        {
            if (!ReferenceEquals(client, sender))
            {
                client.Send(message);
            }
        }
    }

    private static void SendToAll(LineChatClient[] clients, byte[] message)
    {
        foreach (var client in clients)
        {
            client.Send(message);
        }
    }
}
