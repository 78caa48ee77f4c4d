using System.Diagnostics;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Stress;

public abstract partial class StressTests
{
    private const int IdleConnections = 10_000;
    private const int ShortConnections = 30_000;
    private const int ShortConnectionConcurrency = 64;

    /// <summary>
    /// 10,000 keep-alive connections that answered one request each and then stay idle: what each costs in
    /// memory, what the idle server burns, and whether every sampled one still answers.
    /// </summary>
    [Fact]
    public async Task IdleConnections_10000HeldOpen_CheapWhileIdleAndEverySampledOneAnswers()
    {
        const string Scenario = "10k idle";
        await using var server = await StressServer.StartAsync(Transport);
        await WarmUpAsync(server);
        long residentBefore = server.ReadResidentBytes();

        var clients = new List<RawClient>(IdleConnections);
        try
        {
            var opening = Stopwatch.StartNew();
            while (clients.Count < IdleConnections)
            {
                var wave = new Task<RawClient>[Math.Min(256, IdleConnections - clients.Count)];
                for (int i = 0; i < wave.Length; i++)
                {
                    wave[i] = OpenAnsweredConnectionAsync(server);
                }
                clients.AddRange(await Task.WhenAll(wave).WaitAsync(TimeSpan.FromSeconds(60)));
            }
            Record(Scenario, "opening 10k connections", opening.Elapsed.TotalSeconds, "s");

            // The opening burst leaves background work behind (tiered JIT, GC): let it settle, then measure five
            // idle seconds, in which Kestrel's heartbeat still visits every connection once a second.
            await Task.Delay(TimeSpan.FromSeconds(2));
            TimeSpan cpuBefore = server.ReadCpuTime();
            var window = Stopwatch.StartNew();
            await Task.Delay(TimeSpan.FromSeconds(5));
            double idleCpu = (server.ReadCpuTime() - cpuBefore).TotalSeconds / window.Elapsed.TotalSeconds;
            long residentAfter = server.ReadResidentBytes();
            double perConnection = (residentAfter - residentBefore) / (double)IdleConnections;
            Record(Scenario, "RSS per idle connection", perConnection / 1024, "KiB");
            Record(Scenario, "RSS with 10k idle connections", Megabytes(residentAfter), "MiB");
            Record(Scenario, "idle CPU", idleCpu * 1000, "ms per s");

            // Every 100th connection answers a second request.
            var sampled = new Task<int>[IdleConnections / 100];
            for (int i = 0; i < sampled.Length; i++)
            {
                sampled[i] = RequestOnAsync(clients[i * 100]);
            }
            int[] statuses = await Task.WhenAll(sampled).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.All(statuses, status => Assert.Equal(200, status));
            Record(Scenario, "sampled connections answering", statuses.Length, $"of {statuses.Length}");

            Assert.True(idleCpu < 0.05, $"{idleCpu:P0} of a core while 10k connections are idle.{Environment.NewLine}{server.Describe()}");
            Assert.True(perConnection < 64 * 1024, $"{perConnection / 1024:F1} KiB of RSS per idle connection.");
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    /// <summary>
    /// 30,000 short connections, 64 at a time, in three kinds: answered and closed, answered and reset, reset
    /// before sending a byte. None may fail, every socket must be closed afterwards, and memory must not grow.
    /// </summary>
    [Fact]
    public async Task ShortConnections_30000ClosedOrReset_NoFailureNoSocketLeftAndNoMemoryGrowth()
    {
        const string Scenario = "30k short";
        await using var server = await StressServer.StartAsync(Transport);
        await WarmUpAsync(server);
        int baselineSockets = server.CountSocketDescriptors();

        int next = -1;
        int failures = 0;
        string? firstFailure = null;
        var resident = new List<long>();
        var run = Stopwatch.StartNew();
        using var done = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!done.IsCancellationRequested)
            {
                resident.Add(server.ReadResidentBytes());
                await Task.Delay(250, done.Token).ContinueWith(static _ => { }, TaskScheduler.Default);
            }
        });

        var workers = new Task[ShortConnectionConcurrency];
        for (int w = 0; w < workers.Length; w++)
        {
            workers[w] = Task.Run(async () =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < ShortConnections)
                {
                    try
                    {
                        await OneShortConnectionAsync(server, kind: i % 3);
                    }
                    catch (Exception ex) when (ex is TimeoutException or System.Net.Sockets.SocketException or IOException or InvalidDataException)
                    {
                        if (Interlocked.Increment(ref failures) == 1)
                        {
                            firstFailure = $"connection {i} (kind {i % 3}): {ex.GetType().Name}: {ex.Message}";
                        }
                    }
                }
            });
        }
        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromMinutes(3));
        double seconds = run.Elapsed.TotalSeconds;
        await done.CancelAsync();
        await sampler.WaitAsync(TimeSpan.FromSeconds(10));

        Record(Scenario, "connections per second", ShortConnections / seconds, "");
        Record(Scenario, "failed connections", failures, $"of {ShortConnections}");
        Assert.True(failures == 0, $"{failures} failed; the first: {firstFailure}{Environment.NewLine}{server.Describe()}");

        bool socketsBack = await Eventually.HoldsAsync(() => server.CountSocketDescriptors() <= baselineSockets, TimeSpan.FromSeconds(10));
        Record(Scenario, "sockets open after (before)", server.CountSocketDescriptors(), $"({baselineSockets})");
        Assert.True(socketsBack, $"{server.CountSocketDescriptors()} sockets open, {baselineSockets} before.");

        // No trend: the last third of the run uses no more memory than the middle third, beyond noise.
        Assert.True(resident.Count >= 6, $"Only {resident.Count} memory samples.");
        int third = resident.Count / 3;
        long middle = resident.Skip(third).Take(third).Max();
        long last = resident.Skip(2 * third).Max();
        Record(Scenario, "RSS, middle third of the run (max)", Megabytes(middle), "MiB");
        Record(Scenario, "RSS, last third of the run (max)", Megabytes(last), "MiB");
        Assert.True(last <= middle + Math.Max(16L << 20, middle / 10),
            $"RSS grew from {Megabytes(middle):F0} MiB to {Megabytes(last):F0} MiB over the run.");
    }

    private static async Task OneShortConnectionAsync(StressServer server, int kind)
    {
        var timeout = TimeSpan.FromSeconds(10);
        using var client = await RawClient.ConnectAsync(server.EndPoint, timeout);
        if (kind == 2)
        {
            client.Reset(); // before any byte
            return;
        }
        await client.SendAsync(PlaintextRequest).WaitAsync(timeout);
        var response = await client.ReadResponseAsync().WaitAsync(timeout);
        if (response.StatusCode != 200)
        {
            throw new InvalidDataException($"Status {response.StatusCode}.");
        }
        if (kind == 1)
        {
            client.Reset(); // after the response
        }
        // kind 0: Dispose closes with a FIN.
    }

    private static async Task WarmUpAsync(StressServer server)
    {
        for (int i = 0; i < 20; i++)
        {
            Assert.True(await TryRequestAsync(server, TimeSpan.FromSeconds(10)), server.Describe());
        }
    }

    private static async Task<RawClient> OpenAnsweredConnectionAsync(StressServer server)
    {
        var client = await RawClient.ConnectAsync(server.EndPoint, TimeSpan.FromSeconds(20));
        try
        {
            if (await RequestOnAsync(client) != 200)
            {
                throw new InvalidDataException("The first request of an idle connection was not answered 200.");
            }
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    private static async Task<int> RequestOnAsync(RawClient client)
    {
        await client.SendAsync(PlaintextRequest);
        return (await client.ReadResponseAsync().WaitAsync(TimeSpan.FromSeconds(20))).StatusCode;
    }
}
