using System.Diagnostics;
using Xunit;
using Xunit.Abstractions;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Stress;

/// <summary>
/// Scaling past one process: two samples started with <c>--reuse-port true</c> share one port (SO_REUSEPORT), the
/// kernel spreads connections over both, and stopping one leaves the other serving; without the switch the second
/// fails with the address-in-use message. Reactor transports only (Kestrel's Sockets transport has no such option).
/// Runs with the stress suite, alone: two servers and a client loop on two cores.
/// </summary>
[Collection(nameof(StressTests))]
public sealed class ReusePortTests(ITestOutputHelper output)
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(5);

    public static TheoryData<string> Transports => new() { "epoll", "select" };

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task TwoProcesses_ReusePort_BothAcceptAndStoppingOneLeavesTheOtherServing(string transport)
    {
        await using var first = await StressServer.StartAsync(transport, extraArguments: ["--reuse-port", "true"]);
        int port = first.EndPoint.Port;
        await using var second = await StressServer.StartAsync(transport, port: port, extraArguments: ["--reuse-port", "true"]);
        int firstBaseline = first.CountSocketDescriptors();
        int secondBaseline = second.CountSocketDescriptors();

        // 64 connections held open: the kernel hashes each to one of the two listening sockets.
        var clients = new List<Infrastructure.RawClient>();
        try
        {
            for (int i = 0; i < 64; i++)
            {
                var client = await Infrastructure.RawClient.ConnectAsync(first.EndPoint);
                clients.Add(client);
                await client.SendAsync("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
                Assert.Equal(200, (await client.ReadResponseAsync()).StatusCode);
            }
            int onFirst = first.CountSocketDescriptors() - firstBaseline;
            int onSecond = second.CountSocketDescriptors() - secondBaseline;
            output.WriteLine($"{transport}: 64 connections, {onFirst} on the first process, {onSecond} on the second");
            Assert.True(onFirst > 0 && onSecond > 0, $"{onFirst} and {onSecond} of 64 connections.");
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }

        // One process stops while a client keeps asking, each request on a new connection, retrying once: a
        // connection that was in the stopped process's backlog is reset, its retry lands on the other.
        var stopping = first.StopAsync();
        int requests = 0;
        int retried = 0;
        var loop = Stopwatch.StartNew();
        while (!stopping.IsCompleted || loop.Elapsed < TimeSpan.FromSeconds(1))
        {
            Assert.True(loop.Elapsed < TimeSpan.FromSeconds(30), "The first process did not stop within 30 s.");
            if (!await StressTests.TryRequestAsync(second, RequestTimeout))
            {
                retried++;
                Assert.True(await StressTests.TryRequestAsync(second, RequestTimeout), $"A request failed twice in a row while one of the two processes stopped.{Environment.NewLine}{second.Describe()}");
            }
            requests++;
        }
        Assert.Equal(0, await stopping);
        output.WriteLine($"{transport}: {requests} requests while the first process stopped, {retried} retried");
        Assert.True(await StressTests.TryRequestAsync(second, RequestTimeout));
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task TwoProcesses_NoReusePort_TheSecondFailsWithAddressInUse(string transport)
    {
        await using var first = await StressServer.StartAsync(transport);

        var error = await Assert.ThrowsAnyAsync<InvalidOperationException>(() => StressServer.StartAsync(transport, port: first.EndPoint.Port));

        Assert.Contains("already in use", error.Message, StringComparison.Ordinal);
    }
}
