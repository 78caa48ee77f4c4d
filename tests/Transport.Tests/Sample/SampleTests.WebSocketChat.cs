using System.Net;
using System.Net.WebSockets;
using System.Text.RegularExpressions;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Sample;

// The WebSocket chat room (GET /ws?name=NAME) and the page that joins it (GET /), over ClientWebSocket.
public abstract partial class SampleTests
{
    private static readonly string[] ChatNames = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"];

    [Fact]
    public async Task WebSocketChat_EightClientsSendInReverseOrder_EveryOtherClientReceivesNameAndMessage()
    {
        // Arrange
        var server = await StartAsync();
        var peers = await ConnectWebSocketPeersAsync(server, ChatNames);

        // Act
        foreach (var peer in peers.Reverse())
        {
            await peer.SendAsync(WebSocketMessage(peer.Name));
        }

        // Assert: seven messages each, from the seven others, as "NAME: M"; then none of one's own.
        foreach (var peer in peers)
        {
            var expected = peers.Where(p => p != peer).Select(p => $"{p.Name}: {WebSocketMessage(p.Name)}").Order(StringComparer.Ordinal);
            Assert.Equal(expected, (await peer.ReceiveMessagesAsync(peers.Length - 1)).Order(StringComparer.Ordinal));
        }
        await AssertNoOwnLinesAsync(peers);

        await AssertJoinsAnnouncedToEarlierPeersAsync(peers);
    }

    [Fact]
    public async Task WebSocketChat_OneClientClosesAndOneAborts_RemainingGetLeftNoticesAndKeepChatting()
    {
        // Arrange: a message is on its way to both leavers when they go.
        var server = await StartAsync();
        var peers = await ConnectWebSocketPeersAsync(server, ChatNames);
        await peers[0].SendAsync("before anyone leaves");

        // Act: bob closes with the close handshake; dave vanishes with a TCP reset.
        await peers[1].CloseAsync();
        peers[3].Abort();
        var remaining = peers.Where((_, i) => i is not 1 and not 3).ToArray();

        // Assert
        Assert.Equal(WebSocketState.Closed, peers[1].State);
        foreach (var peer in remaining)
        {
            await peer.WaitForNoticeAsync("* bob left");
            await peer.WaitForNoticeAsync("* dave left");
        }

        // The room goes on: everyone left still hears everyone, the earlier message included.
        foreach (var peer in remaining.Reverse())
        {
            await peer.SendAsync(WebSocketMessage(peer.Name));
        }
        foreach (var peer in remaining)
        {
            var expected = remaining.Where(p => p != peer).Select(p => $"{p.Name}: {WebSocketMessage(p.Name)}").ToList();
            if (peer != peers[0])
            {
                expected.Add("alice: before anyone leaves");
            }
            Assert.Equal(expected.Order(StringComparer.Ordinal), (await peer.ReceiveMessagesAsync(expected.Count)).Order(StringComparer.Ordinal));
        }
        await AssertNoOwnLinesAsync(remaining);
    }

    [Fact]
    public async Task WebSocketChat_MessageSentRightAfterAClientConnects_ReachesThatClient()
    {
        var server = await StartAsync();
        var speaker = Track(await WebSocketChatPeer.ConnectAsync(server.HttpAddress, "speaker"));

        await AssertNewcomersHearAtOnceAsync(speaker, async round =>
            Track(await WebSocketChatPeer.ConnectAsync(server.HttpAddress, $"late-{round}")));
    }

    [Fact]
    public async Task WebSocketChat_NameMissingOrPadded_DefaultsToGuestOrIsTrimmed()
    {
        // Arrange
        var server = await StartAsync();
        var listener = Track(await WebSocketChatPeer.ConnectAsync(server.HttpAddress, "listener"));
        var padded = Track(await WebSocketChatPeer.ConnectAsync(server.HttpAddress, "  zoe  "));
        var anonymous = Track(await WebSocketChatPeer.ConnectAsync(server.HttpAddress, name: null));

        // Act
        await padded.SendAsync("from the padded name");
        await anonymous.SendAsync("from no name");

        // Assert: two senders, so in either order.
        var messages = (await listener.ReceiveMessagesAsync(2)).Order(StringComparer.Ordinal).ToList();
        Assert.Matches(new Regex("^guest-[0-9]+: from no name$"), messages[0]);
        Assert.Equal("zoe: from the padded name", messages[1]);
        await listener.WaitForNoticeAsync("* zoe joined");
        Assert.Contains(listener.Notices, n => Regex.IsMatch(n, "^\\* guest-[0-9]+ joined$"));
    }

    [Fact]
    public async Task Index_Get_ReturnsSelfContainedHtmlPageWithTheChatElements()
    {
        // Arrange
        var server = await StartAsync();
        using var client = server.CreateHttpClient();

        // Act
        using var response = await client.GetAsync(new Uri("/", UriKind.Relative)).WithTimeout();
        var html = await response.Content.ReadAsStringAsync().WithTimeout();

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        foreach (var id in new[] { "status", "log", "message", "send" })
        {
            Assert.Matches(new Regex($"""\sid\s*=\s*["']?{id}["'\s/>]"""), html);
        }
        Assert.Contains("/ws", html, StringComparison.Ordinal);
        // Inline script and style only, nothing fetched (data: URLs are inline too): the page needs no other request.
        Assert.DoesNotMatch(new Regex("""<(script|img|iframe|link)\b[^>]*\s(src|href)\s*=\s*(?!["']?data:)""", RegexOptions.IgnoreCase), html);
    }

    /// <summary>Connects one after the other, so that join notices have a known order.</summary>
    private async Task<WebSocketChatPeer[]> ConnectWebSocketPeersAsync(SampleServer server, string[] names)
    {
        var peers = new WebSocketChatPeer[names.Length];
        for (var i = 0; i < peers.Length; i++)
        {
            peers[i] = Track(await WebSocketChatPeer.ConnectAsync(server.HttpAddress, names[i]));
        }
        return peers;
    }

    private static string WebSocketMessage(string name) => $"hello from {name} – ✓ " + new string('w', name.Length * 50);
}
