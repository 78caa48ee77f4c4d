using System.Globalization;
using System.Text;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Sample;

// The raw TCP line chat room (--chat-port): "* you are client-N" on connect, "client-N: L" to every other client,
// join and leave notices, on the transport under test.
public abstract partial class SampleTests
{
    [Fact]
    public async Task ChatRoom_FiveClientsJoinAndOneSpeaks_IdsInOrderLineReachesOthersButNotSender()
    {
        // Arrange
        var server = await StartAsync("--chat-port", "0");
        var peers = await ConnectTcpChatPeersAsync(server, 5);

        // Assert: ids in connection order, each greeted first (checked by ConnectAsync).
        Assert.Equal(["client-1", "client-2", "client-3", "client-4", "client-5"], peers.Select(p => p.Name));

        // Act
        var line = "hello from the third, grüße ✓";
        await peers[2].SendAsync(line);

        // Assert: client-1 gets the line, then fences: the others see the line and then the fence, nothing else;
        // the sender sees only the fence.
        Assert.Equal("client-3: " + line, await peers[0].ReceiveMessageAsync());
        await peers[0].SendAsync("fence");
        foreach (var peer in peers.Skip(1))
        {
            var expected = peer.Name == "client-3" ? Array.Empty<string>() : ["client-3: " + line];
            Assert.Equal(expected, await peer.ReceiveMessagesUntilAsync("client-1: fence"));
        }

        await AssertJoinsAnnouncedToEarlierPeersAsync(peers);
    }

    [Fact]
    public async Task ChatRoom_FiveClientsSendInReverseOrder_EveryOtherClientReceivesAllFourLinesComplete()
    {
        // Arrange
        var server = await StartAsync("--chat-port", "0");
        var peers = await ConnectTcpChatPeersAsync(server, 5);

        // Act: client-5 first, client-1 last. Client-5's line arrives in two writes split inside a UTF-8
        // character; client-4 ends its line with "\r\n", which the room accepts and strips.
        for (var n = 5; n >= 1; n--)
        {
            var client = peers[n - 1].Client;
            var bytes = Encoding.UTF8.GetBytes(ChatLine(n) + (n == 4 ? "\r\n" : "\n"));
            if (n == 5)
            {
                var split = Array.IndexOf(bytes, (byte)0xE2) + 1;
                await client.SendAsync(bytes.AsMemory(0, split));
                await client.SendAsync(bytes.AsMemory(split));
            }
            else
            {
                await client.SendAsync(bytes);
            }
        }

        // Assert: four lines each, whole, attributed to their senders; lines from different clients may interleave.
        foreach (var peer in peers)
        {
            var expected = peers.Where(p => p != peer).Select(p => $"{p.Name}: {ChatLine(p.Name)}").Order(StringComparer.Ordinal);
            Assert.Equal(expected, (await peer.ReceiveMessagesAsync(4)).Order(StringComparer.Ordinal));
        }
        await AssertNoOwnLinesAsync(peers);
    }

    [Fact]
    public async Task ChatRoom_OneClientLeavesAndOneResets_RemainingGetLeftNoticesAndKeepChatting()
    {
        // Arrange: a line is on its way to both leavers when they go, so the room writes to a closed socket.
        var server = await StartAsync("--chat-port", "0");
        var peers = await ConnectTcpChatPeersAsync(server, 5);
        await peers[0].SendAsync("before anyone leaves");

        // Act
        peers[1].Client.Close();
        peers[3].Client.Reset();
        var remaining = new[] { peers[0], peers[2], peers[4] };

        // Assert: the others are told, whichever way a client left.
        foreach (var peer in remaining)
        {
            await peer.WaitForNoticeAsync("* client-2 left");
            await peer.WaitForNoticeAsync("* client-4 left");
        }
        // Client-1's line reached the others who stayed (not itself): relayed before the newcomer below joins, which
        // the room does on another connection's thread-pool work item, so only waiting for it here orders the two.
        foreach (var peer in new[] { peers[2], peers[4] })
        {
            Assert.Equal(["client-1: before anyone leaves"], await peer.ReceiveMessagesAsync(1));
        }

        // The room goes on: a newcomer gets the next id, and everyone still hears everyone.
        var newcomer = Track(await TcpChatPeer.ConnectAsync(server.Endpoints.Chat!));
        Assert.Equal("client-6", newcomer.Name);
        var members = remaining.Append(newcomer).ToArray();
        foreach (var peer in remaining)
        {
            await peer.WaitForNoticeAsync("* client-6 joined");
        }
        foreach (var peer in members.Reverse())
        {
            await peer.SendAsync(ChatLine(peer.Name));
        }
        foreach (var peer in members)
        {
            var expected = members.Where(p => p != peer).Select(p => $"{p.Name}: {ChatLine(p.Name)}").ToList();
            Assert.Equal(expected.Order(StringComparer.Ordinal), (await peer.ReceiveMessagesAsync(expected.Count)).Order(StringComparer.Ordinal));
        }
        await AssertNoOwnLinesAsync(members);
    }

    [Fact]
    public async Task ChatRoom_LineSentRightAfterAClientIsGreeted_ReachesThatClient()
    {
        var server = await StartAsync("--chat-port", "0");
        var speaker = Track(await TcpChatPeer.ConnectAsync(server.Endpoints.Chat!));

        await AssertNewcomersHearAtOnceAsync(speaker, async _ => Track(await TcpChatPeer.ConnectAsync(server.Endpoints.Chat!)));
    }

    /// <summary>
    /// A client that is in the room (greeted, or its WebSocket handshake done) must get every line sent after
    /// that. Repeated, because a room that registers a client only some time after telling it so loses the lines
    /// sent in between only when the timing is right.
    /// </summary>
    private static async Task AssertNewcomersHearAtOnceAsync(ChatPeer speaker, Func<int, Task<ChatPeer>> connectNewcomer)
    {
        const int Rounds = 40;
        for (var round = 0; round < Rounds; round++)
        {
            var newcomer = await connectNewcomer(round);
            var probe = $"probe {round}";
            await speaker.SendAsync(probe);

            // The newcomer speaks, so it is in the room for sure; the fence after that must find the probe before it.
            var here = $"here {round}";
            await newcomer.SendAsync(here);
            Assert.Equal($"{newcomer.Name}: {here}", await speaker.ReceiveMessageAsync());
            var fence = $"fence {round}";
            await speaker.SendAsync(fence);
            var before = await newcomer.ReceiveMessagesUntilAsync($"{speaker.Name}: {fence}");
            Assert.True(before.SequenceEqual([$"{speaker.Name}: {probe}"]),
                $"Round {round}: {newcomer.Name} was told it was in the room, yet of '{speaker.Name}: {probe}', sent after that, it received [{string.Join(" | ", before)}].");
        }
    }

    /// <summary>Connects one after the other, each greeted before the next connects, so ids follow this order.</summary>
    private async Task<TcpChatPeer[]> ConnectTcpChatPeersAsync(SampleServer server, int count)
    {
        var peers = new TcpChatPeer[count];
        for (var i = 0; i < count; i++)
        {
            peers[i] = Track(await TcpChatPeer.ConnectAsync(server.Endpoints.Chat!));
        }
        return peers;
    }

    /// <summary>Joins are announced to those already in the room (connected in this order), and only to them.</summary>
    private static async Task AssertJoinsAnnouncedToEarlierPeersAsync(ChatPeer[] peers)
    {
        for (var i = 0; i < peers.Length; i++)
        {
            for (var j = i + 1; j < peers.Length; j++)
            {
                await peers[i].WaitForNoticeAsync($"* {peers[j].Name} joined");
            }
            for (var j = 0; j <= i; j++)
            {
                Assert.DoesNotContain($"* {peers[j].Name} joined", peers[i].Notices);
            }
        }
    }

    /// <summary>
    /// Proves no peer was sent its own lines: the first peer sends a fence, which every other peer must receive
    /// next; the second peer then fences the first the same way. Any line still queued for a peer comes first.
    /// </summary>
    private static async Task AssertNoOwnLinesAsync(IReadOnlyList<ChatPeer> peers)
    {
        var fence = "fence " + Guid.NewGuid().ToString("N");
        await peers[0].SendAsync(fence);
        foreach (var peer in peers.Skip(1))
        {
            Assert.Empty(await peer.ReceiveMessagesUntilAsync($"{peers[0].Name}: {fence}"));
        }
        await peers[1].SendAsync(fence);
        Assert.Empty(await peers[0].ReceiveMessagesUntilAsync($"{peers[1].Name}: {fence}"));
    }

    /// <summary>A distinct line per client: different lengths (all far below the 4096-byte limit) and UTF-8.</summary>
    private static string ChatLine(int client) =>
        string.Create(CultureInfo.InvariantCulture, $"line from client {client} – grüße ✓ ") + new string((char)('a' + client), client * 300);

    private static string ChatLine(string name) => ChatLine(int.Parse(name.AsSpan("client-".Length), CultureInfo.InvariantCulture));
}
