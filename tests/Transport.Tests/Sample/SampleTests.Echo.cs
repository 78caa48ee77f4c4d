using System.Globalization;
using System.Text;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Sample;

// The raw TCP echo server (--echo-port): every byte back, ASCII a-z upper-cased, in order, on the transport under test.
public abstract partial class SampleTests
{
    /// <summary>How long a small exchange may take while a large one is in flight: milliseconds when healthy.</summary>
    private static readonly TimeSpan SmallExchangeTimeout = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task EchoServer_FiveClientsSendInReverseOrder_EachReceivesExactlyItsOwnMessageUpperCased()
    {
        // Arrange: all five connected before anyone sends, so the server holds five live connections at once.
        var server = await StartAsync("--echo-port", "0");
        var clients = new TcpTestClient[5];
        for (var i = 0; i < clients.Length; i++)
        {
            clients[i] = Track(await TcpTestClient.ConnectAsync(server.Endpoints.Echo!));
        }

        // Act: client 5 first, client 1 last, each message of a different length.
        for (var n = clients.Length; n >= 1; n--)
        {
            await clients[n - 1].SendAsync(EchoMessage(n));
        }

        // Assert: each gets its own message, complete, and nothing more before the server's FIN.
        for (var n = 1; n <= clients.Length; n++)
        {
            var client = clients[n - 1];
            var expected = UpperCaseAscii(Encoding.UTF8.GetBytes(EchoMessage(n)));
            var received = await client.ReceiveExactlyAsync(expected.Length);
            Assert.Equal(Encoding.UTF8.GetString(expected), Encoding.UTF8.GetString(received));
            client.ShutdownSend();
            Assert.Equal(0, await client.ReceiveUntilFinAsync());
        }
    }

    [Fact]
    public async Task EchoServer_OneMiBMixedCaseUtf8_ReturnsItUpperCasedWhileAnotherClientIsServed()
    {
        const int Length = TestData.MiB;
        const int ReceivedBeforeSmallExchange = 256 * 1024;
        var server = await StartAsync("--echo-port", "0");
        var payload = MixedCaseUtf8(Length);
        var expected = UpperCaseAscii(payload);
        var big = Track(await TcpTestClient.ConnectAsync(server.Endpoints.Echo!));
        var small = Track(await TcpTestClient.ConnectAsync(server.Endpoints.Echo!));

        // The big client stops reading after a quarter, until the small exchange is over: at that moment its
        // transfer is provably unfinished, and the server holds (or is blocked on) the rest.
        var quarterReceived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var smallExchangeDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var progress = new long[2]; // bytes sent, bytes echoed back: a stall says where it stalled
        var send = Task.Run(async () =>
        {
            for (var offset = 0; offset < Length; offset += 16 * 1024)
            {
                var size = Math.Min(16 * 1024, Length - offset);
                await big.SendAsync(payload.AsMemory(offset, size));
                Interlocked.Add(ref progress[0], size);
            }
        });
        var receive = Task.Run(async () =>
        {
            var buffer = new byte[64 * 1024];
            var received = 0;
            while (received < Length)
            {
                var read = await big.ReceiveAsync(buffer.AsMemory(0, Math.Min(buffer.Length, Length - received)));
                if (read == 0)
                {
                    throw new EndOfStreamException($"The echo ended after {received} of {Length} bytes.");
                }
                if (!buffer.AsSpan(0, read).SequenceEqual(expected.AsSpan(received, read)))
                {
                    throw new InvalidDataException($"The echo differs from the expected bytes within [{received}, {received + read}).");
                }
                received += read;
                Interlocked.Exchange(ref progress[1], received);
                if (received >= ReceivedBeforeSmallExchange && !quarterReceived.Task.IsCompleted)
                {
                    quarterReceived.SetResult();
                    await smallExchangeDone.Task.WithTimeout();
                }
            }
        });
        async Task Step(string what, Task task, TimeSpan? timeout = null)
        {
            try
            {
                await task.WithTimeout(timeout);
            }
            catch (Exception ex)
            {
                var transportLog = server.Logs.Entries.Where(e => e.Category == TransportLogCategory).TakeLast(20);
                throw new InvalidOperationException(
                    $"{what} failed with {Interlocked.Read(ref progress[0])} of {Length} bytes sent and {Interlocked.Read(ref progress[1])} echoed back " +
                    $"({big.Socket.Available} more bytes waiting unread in the client's socket). " +
                    "The transport's last log entries:" + Environment.NewLine + string.Join(Environment.NewLine, transportLog), ex);
            }
        }

        await Step("Waiting for a quarter of the echo", Task.WhenAny(quarterReceived.Task, receive));
        Assert.False(receive.IsCompleted, "The big transfer ended before a quarter of it had come back: " + receive.Exception);

        var smallMessage = "small exchange: ping, ça va?"u8.ToArray();
        await Step("The small exchange", small.SendAsync(smallMessage), SmallExchangeTimeout);
        var smallEcho = small.ReceiveExactlyAsync(smallMessage.Length);
        await Step("The small exchange", smallEcho, SmallExchangeTimeout);
        smallExchangeDone.SetResult();

        Assert.Equal(UpperCaseAscii(smallMessage), await smallEcho);
        await Step("The rest of the echo", receive);
        await Step("Sending", send);
        big.ShutdownSend();
        Assert.Equal(0, await big.ReceiveUntilFinAsync());
    }

    /// <summary>Distinct per client, of different lengths, with lower case to convert and UTF-8 to keep.</summary>
    private static string EchoMessage(int client) =>
        string.Create(CultureInfo.InvariantCulture, $"message from client {client}: ") + new string((char)('a' + client), client * 100) + " – ok";

    /// <summary>Text with every kind of byte the echo must treat differently: a-z, A-Z, digits, and multi-byte UTF-8.</summary>
    private static byte[] MixedCaseUtf8(int length)
    {
        var unit = Encoding.UTF8.GetBytes("The Quick brown Fox – jumps über 12 lazy Dogs; ÄÖÜ ß ǅ 日本語 ÿ ok.\n");
        var bytes = new byte[length];
        for (var i = 0; i < length; i += unit.Length)
        {
            unit.AsSpan(0, Math.Min(unit.Length, length - i)).CopyTo(bytes.AsSpan(i));
        }
        return bytes;
    }

    /// <summary>What the echo server sends back: ASCII a-z upper-cased, every other byte unchanged.</summary>
    private static byte[] UpperCaseAscii(ReadOnlySpan<byte> bytes)
    {
        var result = bytes.ToArray();
        for (var i = 0; i < result.Length; i++)
        {
            if (result[i] is >= (byte)'a' and <= (byte)'z')
            {
                result[i] -= 'a' - 'A';
            }
        }
        return result;
    }
}
