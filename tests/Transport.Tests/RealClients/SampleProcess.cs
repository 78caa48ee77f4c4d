using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.RealClients;

/// <summary>One address the sample says it serves (as logged: a Unix socket's is no usable URI), and by which transport.</summary>
internal sealed record SampleEndpoint(string Transport, string Address, bool IsH2c)
{
    public bool IsUnixSocket => Address.StartsWith("http://unix:", StringComparison.Ordinal);

    public Uri Uri => new(Address);
}

/// <summary>
/// samples/WebApp started out of process the way a user runs it (<c>dotnet WebApp.dll --transport ...</c>), with
/// every endpoint on a port of the system's choosing; the real addresses are read from its start-up log lines.
/// </summary>
/// <remarks>
/// The tests project references the sample, so the build copies WebApp.dll with its runtimeconfig.json,
/// deps.json and appsettings.json next to the test assembly.
/// </remarks>
internal sealed partial class SampleProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(20);

    // Configuration that would add or change endpoints behind the command line's back.
    private static readonly string[] RemovedEnvironment =
    [
        "ASPNETCORE_URLS", "DOTNET_URLS", "ASPNETCORE_HTTP_PORTS", "DOTNET_HTTP_PORTS", "HTTP_PORTS",
        "ASPNETCORE_HTTPS_PORTS", "DOTNET_HTTPS_PORTS", "HTTPS_PORTS", "ASPNETCORE_ENVIRONMENT", "DOTNET_ENVIRONMENT",
        "TRANSPORT", "DOTNET_TRANSPORT",
    ];

    private readonly BackgroundProcess _process;

    private SampleProcess(BackgroundProcess process, IReadOnlyList<SampleEndpoint> endpoints)
    {
        _process = process;
        Endpoints = endpoints;
    }

    public IReadOnlyList<SampleEndpoint> Endpoints { get; }

    /// <summary>The HTTP/1.1 TCP address (--urls).</summary>
    public Uri HttpAddress => Single(e => e.Address.StartsWith("http://", StringComparison.Ordinal) && !e.IsH2c && !e.IsUnixSocket, "--urls").Uri;

    /// <summary>The cleartext HTTP/2-only address for prior-knowledge clients (--h2c-port).</summary>
    public Uri H2cAddress => Single(e => e.IsH2c, "--h2c-port").Uri;

    /// <summary>The TLS address with ALPN h2 and http/1.1 (--https-port).</summary>
    public Uri HttpsAddress => Single(e => e.Address.StartsWith("https://", StringComparison.Ordinal), "--https-port").Uri;

    public string UnixSocketPath { get; private init; } = string.Empty;

    /// <summary>Everything the sample wrote so far, for failure messages.</summary>
    public string Describe() => _process.Describe();

    /// <summary>
    /// Starts the sample on <paramref name="transport"/> with a cleartext, an h2c, an HTTPS and a Unix socket
    /// endpoint, and returns once it has logged all four.
    /// </summary>
    public static async Task<SampleProcess> StartAsync(string transport, string directory)
    {
        var appPath = Path.Combine(AppContext.BaseDirectory, "WebApp.dll");
        if (!File.Exists(appPath))
        {
            throw new InvalidOperationException($"{appPath} not found: the tests project must reference samples/WebApp/WebApp.csproj.");
        }
        var socketPath = Path.Combine(directory, "sample.sock");
        string[] arguments =
        [
            "exec", appPath,
            "--transport", transport,
            "--urls", "http://127.0.0.1:0",
            "--h2c-port", "0",
            "--https-port", "0",
            "--unix-socket", socketPath,
        ];
        var process = BackgroundProcess.Start(FindDotnet(), arguments, RemovedEnvironment);
        try
        {
            // One line per endpoint, logged together once the server has started.
            var endpoints = new List<SampleEndpoint>();
            foreach (var (what, predicate) in ExpectedEndpoints)
            {
                var line = await process.WaitForLineAsync(l => ServesLine().Match(l) is { Success: true } m && predicate(m),
                    StartTimeout, $"log line for the {what} endpoint");
                var match = ServesLine().Match(line);
                endpoints.Add(new SampleEndpoint(match.Groups["transport"].Value, match.Groups["address"].Value, match.Groups["h2c"].Success));
            }
            return new SampleProcess(process, endpoints) { UnixSocketPath = socketPath };
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Stops the sample like a service manager does (SIGTERM) and returns its exit code; graceful shutdown
    /// must end the process promptly.
    /// </summary>
    public Task<int> StopAsync() => _process.StopAsync(StopTimeout);

    /// <summary>Log lines at Warning or above ("warn:", "fail:", "crit:" with the console logger's simple format).</summary>
    public IReadOnlyList<string> ProblemLines() =>
        [.. _process.Output.Split('\n').Where(l => l.StartsWith("warn:", StringComparison.Ordinal)
            || l.StartsWith("fail:", StringComparison.Ordinal) || l.StartsWith("crit:", StringComparison.Ordinal))];

    public ValueTask DisposeAsync() => _process.DisposeAsync();

    private static readonly (string What, Func<Match, bool> Predicate)[] ExpectedEndpoints =
    [
        ("--urls", static m => m.Groups["address"].Value.StartsWith("http://127.0.0.1:", StringComparison.Ordinal) && !m.Groups["h2c"].Success),
        ("--h2c-port", static m => m.Groups["h2c"].Success),
        ("--https-port", static m => m.Groups["address"].Value.StartsWith("https://", StringComparison.Ordinal)),
        ("--unix-socket", static m => m.Groups["address"].Value.StartsWith("http://unix:", StringComparison.Ordinal)),
    ];

    private SampleEndpoint Single(Func<SampleEndpoint, bool> predicate, string option) =>
        Endpoints.SingleOrDefault(predicate)
        ?? throw new InvalidOperationException($"The sample logged no single endpoint for {option}.{Environment.NewLine}{Describe()}");

    /// <summary>
    /// The dotnet host that runs this test run: DOTNET_HOST_PATH (set by the dotnet CLI), else the one that owns
    /// the running runtime (…/dotnet/shared/Microsoft.NETCore.App/VERSION/), else PATH.
    /// </summary>
    private static string FindDotnet()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath))
        {
            return hostPath;
        }
        var root = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        var besideRuntime = Path.Combine(root, "dotnet");
        return File.Exists(besideRuntime) ? besideRuntime : ProcessRunner.FindTool("dotnet");
    }

    // The contract's "{transport} transport serves [h2c ]ADDRESS" line. The fallback line ("... ; sockets
    // transport serves ADDRESS") matches too, with "sockets" as the transport: the tests then report it.
    [GeneratedRegex(@"\b(?<transport>[a-z]+) transport serves (?<h2c>h2c )?(?<address>https?://\S+)$")]
    private static partial Regex ServesLine();
}
