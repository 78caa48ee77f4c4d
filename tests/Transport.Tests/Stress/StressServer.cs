using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.RealClients;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Stress;

/// <summary>
/// samples/WebApp out of process on one HTTP/1.1 endpoint, optionally under <c>prlimit --nofile</c>, with what the
/// stress suite reads about it from procfs: resident memory, CPU time and open descriptors.
/// </summary>
internal sealed partial class StressServer : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    // USER_HZ: the unit of /proc/<pid>/stat's times, 100 on every Linux architecture .NET runs on.
    private const double ClockTicksPerSecond = 100;

    private readonly BackgroundProcess _process;

    private StressServer(BackgroundProcess process) => _process = process;

    public IPEndPoint EndPoint { get; private set; } = new(IPAddress.Loopback, 0);

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    public string Output => _process.Output;

    public string Describe() => _process.Describe();

    /// <summary>Starts the sample on <paramref name="transport"/> and returns once it serves.</summary>
    /// <param name="fileDescriptorLimit">Both RLIMIT_NOFILE limits, through prlimit; null keeps the inherited ones.</param>
    /// <param name="port">The port on 127.0.0.1; 0 for any free one.</param>
    /// <param name="extraArguments">More of the sample's switches.</param>
    public static async Task<StressServer> StartAsync(string transport, int? fileDescriptorLimit = null, int port = 0, params string[] extraArguments)
    {
        List<string> arguments = ["exec", SampleProcess.FindApp(), "--transport", transport, "--urls", $"http://127.0.0.1:{port}", .. extraArguments];
        string program = SampleProcess.FindDotnet();
        if (fileDescriptorLimit is int limit)
        {
            arguments.InsertRange(0, [$"--nofile={limit}:{limit}", program]);
            program = ProcessRunner.FindTool("prlimit");
        }
        var server = new StressServer(BackgroundProcess.Start(program, arguments, SampleProcess.RemovedEnvironment));
        try
        {
            var line = await server._process.WaitForLineAsync(l => ServesLine().IsMatch(l), StartTimeout, "serves line for --urls");
            server.EndPoint = new IPEndPoint(IPAddress.Loopback, int.Parse(ServesLine().Match(line).Groups["port"].Value, CultureInfo.InvariantCulture));
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Waits for a line of output, past or future, that contains <paramref name="text"/>.</summary>
    public Task<string> WaitForOutputAsync(string text, TimeSpan timeout) =>
        _process.WaitForLineAsync(l => l.Contains(text, StringComparison.Ordinal), timeout, $"line with '{text}'");

    /// <summary>How many lines of output so far contain <paramref name="text"/>.</summary>
    public int CountOutputLines(string text) =>
        Output.Split('\n').Count(l => l.Contains(text, StringComparison.Ordinal));

    /// <summary>Resident set size (VmRSS), in bytes.</summary>
    public long ReadResidentBytes()
    {
        foreach (var line in File.ReadLines($"/proc/{ProcessId}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                var kilobytes = line["VmRSS:".Length..].Trim().Split(' ')[0];
                return long.Parse(kilobytes, CultureInfo.InvariantCulture) * 1024;
            }
        }
        throw new InvalidOperationException($"No VmRSS in /proc/{ProcessId}/status.");
    }

    /// <summary>User plus system CPU time since the start.</summary>
    public TimeSpan ReadCpuTime()
    {
        var stat = File.ReadAllText($"/proc/{ProcessId}/stat");
        // The command name (field 2) may contain spaces: fields are counted after its closing parenthesis.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds(ticks / ClockTicksPerSecond);
    }

    /// <summary>Open descriptors that are sockets (listeners, connections, the runtime's own).</summary>
    public int CountSocketDescriptors()
    {
        var count = 0;
        foreach (var entry in Directory.EnumerateFileSystemEntries($"/proc/{ProcessId}/fd"))
        {
            try
            {
                if (new FileInfo(entry).LinkTarget?.StartsWith("socket:", StringComparison.Ordinal) == true)
                {
                    count++;
                }
            }
            catch (IOException)
            {
                // Closed between the listing and the read.
            }
        }
        return count;
    }

    public Task<int> StopAsync() => _process.StopAsync(TimeSpan.FromSeconds(20));

    public ValueTask DisposeAsync() => _process.DisposeAsync();

    [GeneratedRegex(@"\b[a-z]+ transport serves http://127\.0\.0\.1:(?<port>\d+)$")]
    private static partial Regex ServesLine();
}
