using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.RealClients;

/// <summary>
/// The distribution's nginx as a reverse proxy in front of a Unix domain socket, entirely inside one folder:
/// its own prefix, configuration, pid file, logs and temp paths, so it needs no root-owned path and no root.
/// </summary>
internal sealed partial class NginxProxy : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(15);

    // Temp paths nginx otherwise puts under /var/lib/nginx, one per module that has one; a module built out
    // (--without-http_uwsgi_module, ...) rejects its directive, so only present ones are written.
    private static readonly (string Module, string Directive)[] TempPaths =
    [
        ("http_proxy", "proxy_temp_path"),
        ("http_fastcgi", "fastcgi_temp_path"),
        ("http_uwsgi", "uwsgi_temp_path"),
        ("http_scgi", "scgi_temp_path"),
    ];

    private readonly BackgroundProcess _process;
    private readonly string _directory;

    private NginxProxy(BackgroundProcess process, string directory, Uri baseAddress)
    {
        _process = process;
        _directory = directory;
        BaseAddress = baseAddress;
    }

    /// <summary>Where nginx listens, e.g. http://127.0.0.1:41234/.</summary>
    public Uri BaseAddress { get; }

    public string ErrorLogPath => Path.Combine(_directory, "error.log");

    /// <param name="workerUser">
    /// The user and group nginx's worker runs as (its <c>user</c> directive), the way a distribution runs it (Debian:
    /// <c>www-data</c>; the tests use <c>nobody nogroup</c>); needs root. Null: the worker runs as this process's user.
    /// </param>
    public static async Task<NginxProxy> StartAsync(string unixSocketPath, string directory, string? workerUser = null)
    {
        if (workerUser is not null && GetEffectiveUserId() != 0)
        {
            throw new InvalidOperationException(
                $"nginx can run its worker as '{workerUser}' only when started as root; run the tests as root (CI does).");
        }
        var nginx = ProcessRunner.FindTool("nginx");
        Directory.CreateDirectory(directory);
        var build = await ProcessRunner.RunAsync(nginx, ["-V"], TimeSpan.FromSeconds(10));
        var buildInfo = build.StandardError + build.StandardOutput;

        // Another process can take the free port between the probe and nginx's bind: try again with a new one.
        const int Attempts = 3;
        for (var attempt = 1; ; attempt++)
        {
            var port = LoopbackPort.FindFree();
            File.WriteAllText(Path.Combine(directory, "nginx.conf"), CreateConfiguration(directory, unixSocketPath, port, buildInfo, workerUser));
            List<string> arguments = ["-p", directory + "/", "-c", Path.Combine(directory, "nginx.conf"), "-g", "daemon off;"];
            // -e (1.19.5+) moves the error log of start-up, before the configuration is read, away from the
            // compiled-in path (/var/log/nginx/error.log), which an unprivileged user cannot open.
            if (SupportsErrorLogSwitch(buildInfo))
            {
                arguments.InsertRange(0, ["-e", Path.Combine(directory, "error.log")]);
            }
            var process = BackgroundProcess.Start(nginx, arguments);
            try
            {
                if (await WaitForPortAsync(process, port))
                {
                    return new NginxProxy(process, directory, new Uri($"http://127.0.0.1:{port}/"));
                }
                var failure = $"nginx did not start.{Environment.NewLine}{process.Describe()}{Environment.NewLine}--- error.log ---{Environment.NewLine}{ReadIfExists(Path.Combine(directory, "error.log"))}";
                if (attempt == Attempts || !failure.Contains("Address already in use", StringComparison.Ordinal))
                {
                    throw new InvalidOperationException(failure);
                }
            }
            catch
            {
                await process.DisposeAsync();
                throw;
            }
            await process.DisposeAsync();
        }
    }

    /// <summary>The error log's lines at level error or worse ([error], [crit], [alert], [emerg]).</summary>
    public IReadOnlyList<string> ErrorLines() =>
        [.. ReadIfExists(ErrorLogPath).Split('\n').Where(l => ErrorLevel().IsMatch(l))];

    /// <summary>Fast shutdown (SIGTERM to the master process); returns the master's exit code.</summary>
    public Task<int> StopAsync() => _process.StopAsync(StopTimeout);

    public string Describe() =>
        $"{_process.Describe()}{Environment.NewLine}--- nginx.conf ---{Environment.NewLine}{ReadIfExists(Path.Combine(_directory, "nginx.conf"))}" +
        $"{Environment.NewLine}--- error.log ---{Environment.NewLine}{ReadIfExists(ErrorLogPath)}";

    public ValueTask DisposeAsync() => _process.DisposeAsync();

    private static string CreateConfiguration(string directory, string unixSocketPath, int port, string buildInfo, string? workerUser)
    {
        string In(string name) => Path.Combine(directory, name);
        var tempPaths = string.Concat(TempPaths
            .Where(t => !buildInfo.Contains($"--without-{t.Module}_module", StringComparison.Ordinal))
            .Select(t => $"    {t.Directive} {In(t.Directive.Replace("_temp_path", "_temp", StringComparison.Ordinal))};\n"));
        // As root, the master would hand the workers to "nobody", which may not enter the test's private (0700)
        // folder or connect to the socket; unprivileged, nginx ignores "user" with a warning, so it is left out.
        var user = workerUser is not null ? $"user {workerUser};\n"
            : GetEffectiveUserId() == 0 ? "user root;\n"
            : string.Empty;
        return string.Create(CultureInfo.InvariantCulture, $$"""
            {{user}}worker_processes 1;
            pid {{In("nginx.pid")}};
            error_log {{In("error.log")}} warn;
            events {
                worker_connections 256;
            }
            http {
                access_log {{In("access.log")}};
                client_body_temp_path {{In("client_body_temp")}};
            {{tempPaths}}
                server {
                    listen 127.0.0.1:{{port}};
                    location / {
                        proxy_pass http://unix:{{unixSocketPath}}:;
                        proxy_http_version 1.1;
                        proxy_set_header Connection "";
                        proxy_set_header Host $host;
                    }
                }
            }

            """);
    }

    private static bool SupportsErrorLogSwitch(string buildInfo)
    {
        var match = Version().Match(buildInfo);
        return match.Success && System.Version.Parse(match.Groups[1].Value) >= new Version(1, 19, 5);
    }

    /// <summary>
    /// True once nginx accepts connections on <paramref name="port"/>, false if it exits first. nginx prints
    /// nothing when it is ready, so the port is probed, with a short pause between probes and a deadline.
    /// </summary>
    private static async Task<bool> WaitForPortAsync(BackgroundProcess process, int port)
    {
        var elapsed = Stopwatch.StartNew();
        while (elapsed.Elapsed < StartTimeout)
        {
            if (process.HasExited)
            {
                return false;
            }
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).WaitAsync(TimeSpan.FromSeconds(2));
                return true;
            }
            catch (Exception ex) when (ex is SocketException or TimeoutException)
            {
                await Task.Delay(50);
            }
        }
        throw new TimeoutException($"nginx did not listen on port {port} within {StartTimeout.TotalSeconds} s.{Environment.NewLine}{process.Describe()}");
    }

    private static string ReadIfExists(string path) => File.Exists(path) ? File.ReadAllText(path) : "(none)";

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUserId();

    [GeneratedRegex(@"nginx/(\d+\.\d+\.\d+)")]
    private static partial Regex Version();

    [GeneratedRegex(@"\[(error|crit|alert|emerg)\]")]
    private static partial Regex ErrorLevel();
}
