using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.RealClients;

/// <summary>How the sample is started: directly (the default), or through a launcher, with environment variables set.</summary>
/// <param name="Launcher">A program that runs the rest of its command line (the dotnet host and the sample) after its own arguments.</param>
/// <param name="LauncherArguments">The launcher's own arguments.</param>
/// <param name="Environment">Variables set for the sample.</param>
internal sealed record SampleLaunch(string? Launcher = null, IReadOnlyList<string>? LauncherArguments = null,
    IReadOnlyDictionary<string, string>? Environment = null)
{
    public IReadOnlyList<string> LauncherArguments { get; } = LauncherArguments ?? [];
}

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
    internal static readonly string[] RemovedEnvironment =
    [
        "ASPNETCORE_URLS", "DOTNET_URLS", "ASPNETCORE_HTTP_PORTS", "DOTNET_HTTP_PORTS", "HTTP_PORTS",
        "ASPNETCORE_HTTPS_PORTS", "DOTNET_HTTPS_PORTS", "HTTPS_PORTS", "ASPNETCORE_ENVIRONMENT", "DOTNET_ENVIRONMENT",
        "TRANSPORT", "DOTNET_TRANSPORT",
    ];

    private readonly BackgroundProcess _process;

    private SampleProcess(BackgroundProcess process, string unixSocketPath)
    {
        _process = process;
        UnixSocketPath = unixSocketPath;
    }

    /// <summary>What the sample logged it serves; empty until it has started.</summary>
    public IReadOnlyList<SampleEndpoint> Endpoints { get; private set; } = [];

    /// <summary>The HTTP/1.1 TCP address (--urls).</summary>
    public Uri HttpAddress => Single(e => e.Address.StartsWith("http://", StringComparison.Ordinal) && !e.IsH2c && !e.IsUnixSocket, "--urls").Uri;

    /// <summary>The cleartext HTTP/2-only address for prior-knowledge clients (--h2c-port).</summary>
    public Uri H2cAddress => Single(e => e.IsH2c, "--h2c-port").Uri;

    /// <summary>The TLS address with ALPN h2 and http/1.1 (--https-port).</summary>
    public Uri HttpsAddress => Single(e => e.Address.StartsWith("https://", StringComparison.Ordinal), "--https-port").Uri;

    /// <summary>The Unix socket: --unix-socket's, or the one systemd-socket-activate bound.</summary>
    public string UnixSocketPath { get; }

    /// <summary>The TCP port systemd-socket-activate bound on 127.0.0.1; 0 for a sample started directly.</summary>
    public int ActivatedPort { get; private init; }

    /// <summary>Everything the sample wrote so far, for failure messages.</summary>
    public string Describe() => _process.Describe();

    /// <summary>
    /// Starts the sample on <paramref name="transport"/> with a cleartext, an h2c, an HTTPS and a Unix socket
    /// endpoint, and returns once it has logged all four.
    /// </summary>
    public static Task<SampleProcess> StartAsync(string transport, string directory, params string[] extraArguments) =>
        StartAsync(new SampleLaunch(), transport, directory, extraArguments);

    /// <summary>
    /// <see cref="StartAsync(string, string, string[])"/> through a launcher program (which runs the dotnet host with
    /// the rest of the command line) and with environment variables set.
    /// </summary>
    public static async Task<SampleProcess> StartAsync(SampleLaunch launch, string transport, string directory, params string[] extraArguments)
    {
        var socketPath = Path.Combine(directory, "sample.sock");
        string[] arguments =
        [
            .. launch.LauncherArguments,
            .. launch.Launcher is null ? Array.Empty<string>() : [FindDotnet()],
            "exec", FindApp(),
            "--transport", transport,
            "--urls", "http://127.0.0.1:0",
            "--h2c-port", "0",
            "--https-port", "0",
            "--unix-socket", socketPath,
            .. extraArguments,
        ];
        var process = BackgroundProcess.Start(launch.Launcher ?? FindDotnet(), arguments, RemovedEnvironment, launch.Environment);
        var sample = new SampleProcess(process, socketPath);
        try
        {
            await sample.WaitUntilStartedAsync(ExpectedEndpoints);
            return sample;
        }
        catch
        {
            await sample.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Starts the sample the way systemd socket activation does: systemd-socket-activate binds a Unix socket and a
    /// TCP port on 127.0.0.1, and on the first connection to either starts the sample with both as inherited
    /// listening sockets (LISTEN_FDS=2, fds 3 and 4). Returns once both sockets listen; the sample itself starts
    /// only when a client connects, and <see cref="WaitUntilStartedAsync"/> then reads what it serves.
    /// </summary>
    public static async Task<SampleProcess> StartSocketActivatedAsync(string transport, string directory)
    {
        var socketPath = Path.Combine(directory, "activated.sock");

        // systemd-socket-activate takes no port 0: a free port is picked here, and another one if it is taken
        // by somebody else between the check and the bind.
        for (var attempt = 1; ; attempt++)
        {
            var port = LoopbackPort.FindFree();
            string[] arguments =
            [
                "--listen", socketPath, "--listen", $"127.0.0.1:{port}",
                FindDotnet(), "exec", FindApp(), "--transport", transport,
            ];
            var sample = new SampleProcess(
                BackgroundProcess.Start(ProcessRunner.FindTool("systemd-socket-activate"), arguments, RemovedEnvironment), socketPath)
            {
                ActivatedPort = port,
            };
            try
            {
                await sample._process.WaitForLineAsync(l => l.Contains($"Listening on 127.0.0.1:{port} as 4.", StringComparison.Ordinal),
                    StartTimeout, "systemd-socket-activate's line for the TCP socket");
                return sample;
            }
            catch (InvalidOperationException) when (attempt < 3 && sample.Describe().Contains("Address already in use", StringComparison.Ordinal))
            {
                await sample.DisposeAsync();
                File.Delete(socketPath);
            }
            catch
            {
                await sample.DisposeAsync();
                throw;
            }
        }
    }

    /// <summary>Waits for one "serves" line per expected endpoint, logged together once the server has started.</summary>
    public async Task WaitUntilStartedAsync(IReadOnlyList<(string What, Func<Match, bool> Predicate)> expected)
    {
        var endpoints = new List<SampleEndpoint>();
        foreach (var (what, predicate) in expected)
        {
            var line = await _process.WaitForLineAsync(l => ServesLine().Match(l) is { Success: true } m && predicate(m),
                StartTimeout, $"log line for the {what} endpoint");
            var match = ServesLine().Match(line);
            endpoints.Add(new SampleEndpoint(match.Groups["transport"].Value, match.Groups["address"].Value, match.Groups["h2c"].Success));
        }
        Endpoints = endpoints;
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

    /// <summary>What a sample started by <see cref="StartAsync"/> serves.</summary>
    public static readonly (string What, Func<Match, bool> Predicate)[] ExpectedEndpoints =
    [
        ("--urls", static m => m.Groups["address"].Value.StartsWith("http://127.0.0.1:", StringComparison.Ordinal) && !m.Groups["h2c"].Success),
        ("--h2c-port", static m => m.Groups["h2c"].Success),
        ("--https-port", static m => m.Groups["address"].Value.StartsWith("https://", StringComparison.Ordinal)),
        ("--unix-socket", static m => m.Groups["address"].Value.StartsWith("http://unix:", StringComparison.Ordinal)),
    ];

    private SampleEndpoint Single(Func<SampleEndpoint, bool> predicate, string option) =>
        Endpoints.SingleOrDefault(predicate)
        ?? throw new InvalidOperationException($"The sample logged no single endpoint for {option}.{Environment.NewLine}{Describe()}");

    /// <summary>The sockets systemd passed to a socket-activated sample: the Unix socket and the TCP port, in that order.</summary>
    public IReadOnlyList<(string What, Func<Match, bool> Predicate)> ActivatedEndpoints =>
    [
        ("systemd's Unix socket (fd 3)", m => m.Groups["address"].Value == "http://unix:" + UnixSocketPath),
        ("systemd's TCP socket (fd 4)", m => m.Groups["address"].Value == $"http://127.0.0.1:{ActivatedPort}"),
    ];

    internal static string FindApp()
    {
        var appPath = Path.Combine(AppContext.BaseDirectory, "WebApp.dll");
        return File.Exists(appPath)
            ? appPath
            : throw new InvalidOperationException($"{appPath} not found: the tests project must reference samples/WebApp/WebApp.csproj.");
    }

    /// <summary>
    /// The dotnet host that runs this test run: DOTNET_HOST_PATH (set by the dotnet CLI), else the one that owns
    /// the running runtime (…/dotnet/shared/Microsoft.NETCore.App/VERSION/), else PATH.
    /// </summary>
    internal static string FindDotnet()
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
