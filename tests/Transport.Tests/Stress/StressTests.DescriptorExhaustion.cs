using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Stress;

public abstract partial class StressTests
{
    private const int ExhaustionLimit = 512;
    private const int ExhaustionClients = 900;

    [GeneratedRegex(@"; (\d+) connection\(s\) were refused")]
    private static partial Regex RefusedCount();

    /// <summary>
    /// An operator's accident: the server under <c>prlimit --nofile=512:512</c>, 900 clients connect at once and
    /// each sends a request. The process must live, log the episode once, stay nearly idle while it lasts, and
    /// serve a new client within a second of the crowd leaving, with no socket left behind.
    /// </summary>
    [Fact]
    public async Task DescriptorExhaustion_900ClientsUnderALimitOf512_ServerLivesAndServesWithinASecondOfTheirLeaving()
    {
        const string Scenario = "fd exhaustion";
        await using var server = await StressServer.StartAsync(Transport, fileDescriptorLimit: ExhaustionLimit);
        Assert.True(await TryRequestAsync(server, TimeSpan.FromSeconds(10)), server.Describe());
        int baselineSockets = server.CountSocketDescriptors();

        var clients = new RawClient?[ExhaustionClients];
        var answers = new Task[ExhaustionClients];
        int answered = 0;
        try
        {
            // All at once: the kernel completes every handshake (the backlog holds what is not accepted yet).
            var connects = new Task<RawClient>[ExhaustionClients];
            for (int i = 0; i < connects.Length; i++)
            {
                connects[i] = RawClient.ConnectAsync(server.EndPoint, TimeSpan.FromSeconds(20));
            }
            for (int i = 0; i < connects.Length; i++)
            {
                try
                {
                    clients[i] = await connects[i];
                }
                catch (Exception ex) when (ex is TimeoutException or System.Net.Sockets.SocketException)
                {
                    // Refused: Sockets' process may be gone already.
                }
                answers[i] = clients[i] is { } client ? AnswerAsync(client) : Task.CompletedTask;
            }
            int connected = clients.Count(c => c is not null);
            Record(Scenario, "clients connected", connected, "");

            if (!SurvivesDescriptorExhaustion)
            {
                bool died = await Eventually.HoldsAsync(() => server.HasExited, TimeSpan.FromSeconds(30));
                Record(Scenario, "process alive after the storm", died ? 0 : 1, "(1 = yes)");
                Record(Scenario, "requests answered during the storm", Volatile.Read(ref answered), $"of {connected}");
                Assert.True(died, "Kestrel's Sockets transport survived running out of file descriptors: the suite and the README record that it " +
                    $"aborts. Update both.{Environment.NewLine}{server.Describe()}");
                return;
            }

            await server.WaitForOutputAsync("Stopped accepting connections", TimeSpan.FromSeconds(20));
            // The storm goes on for three seconds: the clients hold their connections and the backlog waits.
            TimeSpan cpuBefore = server.ReadCpuTime();
            var window = Stopwatch.StartNew();
            await Task.Delay(TimeSpan.FromSeconds(3));
            double stormCpu = (server.ReadCpuTime() - cpuBefore).TotalSeconds;
            double windowSeconds = window.Elapsed.TotalSeconds;

            Assert.False(server.HasExited, server.Describe());
            Record(Scenario, "process alive after the storm", 1, "(1 = yes)");
            int answeredInStorm = Volatile.Read(ref answered);
            Record(Scenario, "requests answered during the storm", answeredInStorm, $"of {connected}");
            Record(Scenario, "CPU during the storm", stormCpu / windowSeconds * 1000, "ms per s");
            Assert.InRange(answeredInStorm, 1, connected - 1);
            Assert.True(stormCpu <= 0.15 * windowSeconds, $"{stormCpu:F2} CPU-s in {windowSeconds:F1} s while paused: a spin.{Environment.NewLine}{server.Describe()}");
            AssertOneEpisode(server);

            // The crowd leaves; a new client must be served within a second.
            foreach (var client in clients)
            {
                client?.Dispose();
            }
            var sinceClose = Stopwatch.StartNew();
            bool served = false;
            while (!served && sinceClose.Elapsed < TimeSpan.FromSeconds(5))
            {
                served = await TryRequestAsync(server, TimeSpan.FromSeconds(1));
            }
            double secondsToServe = sinceClose.Elapsed.TotalSeconds;
            Record(Scenario, "first request served after the clients left", secondsToServe * 1000, "ms");
            Assert.True(served && secondsToServe < 1, $"Served: {served}, after {secondsToServe:F2} s.{Environment.NewLine}{server.Describe()}");

            Assert.True(await Eventually.HoldsAsync(() => server.CountSocketDescriptors() <= baselineSockets, TimeSpan.FromSeconds(10)),
                $"{server.CountSocketDescriptors()} sockets open, {baselineSockets} before the storm.{Environment.NewLine}{server.Describe()}");
            var resumed = await server.WaitForOutputAsync("Resumed accepting connections", TimeSpan.FromSeconds(5));
            var refused = RefusedCount().Match(resumed);
            Assert.True(refused.Success, resumed);
            int refusedCount = int.Parse(refused.Groups[1].Value, CultureInfo.InvariantCulture);
            Record(Scenario, "clients refused (backlog full)", refusedCount, "");
            // About 250 served and 513 in the backlog leave well over a hundred of the 900 to refuse.
            Assert.True(refusedCount > 0, $"No client refused although the backlog overflowed.{Environment.NewLine}{server.Describe()}");
            AssertOneEpisode(server);
            Assert.Equal(0, await server.StopAsync());
        }
        finally
        {
            foreach (var client in clients)
            {
                client?.Dispose();
            }
            foreach (var answer in answers)
            {
                await (answer ?? Task.CompletedTask).WaitQuietlyAsync();
            }
        }

        static void AssertOneEpisode(StressServer server) =>
            Assert.True(server.CountOutputLines("Stopped accepting connections") == 1,
                $"Not one pause warning:{Environment.NewLine}{server.Describe()}");

        async Task AnswerAsync(RawClient client)
        {
            try
            {
                await client.SendAsync(PlaintextRequest);
                if ((await client.ReadResponseAsync()).StatusCode == 200)
                {
                    Interlocked.Increment(ref answered);
                }
            }
            catch (Exception ex) when (ex is TimeoutException or System.Net.Sockets.SocketException or IOException or ObjectDisposedException)
            {
                // Still waiting in the backlog when the test closed it, or the server died (Sockets).
            }
        }
    }
}
