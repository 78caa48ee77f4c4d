using System.Globalization;
using System.Text.Json;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.RealClients;
using Xunit;
using Xunit.Abstractions;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Stress;

/// <summary>
/// A real metrics client: dotnet-counters (the repository's local tool, <c>dotnet tool restore</c>) attached to the
/// sample out of process while it serves requests, an echo upload it cannot keep up with and a download read
/// late, must report the transport's instruments, with values. Every value it saw is recorded with the stress
/// figures. Runs with the stress suite, alone.
/// </summary>
[Collection(nameof(StressTests))]
public sealed class DotnetCountersTests(ITestOutputHelper output)
{
    public static TheoryData<string> Transports => new() { "epoll", "select" };

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task DotnetCounters_SampleUnderLoad_ReportsTheTransportsInstrumentsWithValues(string transport)
    {
        string root = RepositoryRoot.Find() ?? throw new InvalidOperationException("dotnet-counters is the repository's local tool: run the tests from a clone.");
        string meter = transport == "epoll" ? "Reactors.AspNetCore.Server.Kestrel.Transport.Epoll" : "Reactors.AspNetCore.Server.Kestrel.Transport.Select";
        await using var server = await StressServer.StartAsync(transport);
        string file = Path.Combine(Path.GetTempPath(), $"dotnet-counters-{transport}-{Guid.NewGuid():N}.json");

        using var stop = new CancellationTokenSource();
        var load = Task.WhenAll(
            Task.Run(() => RequestLoopAsync(server, stop.Token)),
            Task.Run(() => RequestLoopAsync(server, stop.Token)),
            Task.Run(() => BackedUpEchoAsync(server, stop.Token)));
        ProcessResult collect;
        try
        {
            collect = await ProcessRunner.RunAsync(SampleProcess.FindDotnet(),
                ["tool", "run", "dotnet-counters", "--", "collect", "--process-id", server.ProcessId.ToString(CultureInfo.InvariantCulture),
                 "--counters", meter, "--format", "json", "--output", file, "--duration", "00:00:00:05"],
                TimeSpan.FromSeconds(60), workingDirectory: root);
        }
        finally
        {
            await stop.CancelAsync();
            await load.WaitAsync(TimeSpan.FromSeconds(30));
        }
        Assert.True(collect.ExitCode == 0 && File.Exists(file), $"dotnet-counters failed:{Environment.NewLine}{collect}");

        // The largest value each instrument showed, summed over reactors at each timestamp.
        var largest = new Dictionary<string, double>();
        using (var json = JsonDocument.Parse(File.ReadAllText(file)))
        {
            foreach (var sample in json.RootElement.GetProperty("Events").EnumerateArray()
                .Where(e => e.GetProperty("provider").GetString() == meter)
                .GroupBy(e => (Time: e.GetProperty("timestamp").GetString(), Name: e.GetProperty("name").GetString()!.Split(' ')[0])))
            {
                double sum = sample.Sum(e => e.GetProperty("value").GetDouble());
                largest[sample.Key.Name] = Math.Max(largest.GetValueOrDefault(sample.Key.Name), sum);
            }
        }
        File.Delete(file);
        foreach (var (name, value) in largest.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            StressFigures.Record(output, transport, "dotnet-counters", name, value, name == "reactor.connections" ? "(largest)" : "per s (largest)");
        }

        foreach (string instrument in (string[])["reactor.loop.iterations", "reactor.wait.events", "reactor.work_items", "reactor.sends",
            "reactor.sent", "reactor.sends.would_block", "reactor.receive.pauses", "reactor.receive.resumes", "reactor.connections"])
        {
            Assert.True(largest.GetValueOrDefault(instrument) > 0,
                $"dotnet-counters showed {instrument} = {largest.GetValueOrDefault(instrument)}; all: {string.Join(", ", largest)}");
        }
        foreach (string instrument in (string[])["reactor.wakeups", "reactor.wait.spins", "reactor.wait.spins.found_work", "reactor.accept.backoffs", "reactor.accept.pauses"])
        {
            Assert.True(largest.ContainsKey(instrument), $"dotnet-counters did not list {instrument}; all: {string.Join(", ", largest)}");
        }
    }

    private static async Task RequestLoopAsync(StressServer server, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            using var client = await RawClient.ConnectAsync(server.EndPoint);
            for (int i = 0; i < 100 && !stop.IsCancellationRequested; i++)
            {
                await client.SendAsync("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
                await client.ReadResponseAsync();
            }
        }
    }

    /// <summary>
    /// Uploads to /echo without reading the echo for a while, again and again: the server's output fills the socket
    /// (sends that would block), then the application stops reading, then the transport pauses the input.
    /// </summary>
    private static async Task BackedUpEchoAsync(StressServer server, CancellationToken stop)
    {
        const int Size = 8 * 1024 * 1024;
        var chunk = new byte[64 * 1024];
        while (!stop.IsCancellationRequested)
        {
            using var client = await RawClient.ConnectAsync(server.EndPoint);
            await client.SendAsync($"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {Size}\r\n\r\n");
            // An upload under way finishes even after the stop: the echo is read to its end before the next one.
            var sending = Task.Run(async () =>
            {
                for (int sent = 0; sent < Size; sent += chunk.Length)
                {
                    await client.SendAsync(chunk);
                }
            }, CancellationToken.None);
            await Task.Delay(500, CancellationToken.None);
            var response = await client.ReadResponseAsync();
            Assert.Equal(Size, response.Body.Length);
            await sending.WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
        }
    }
}
