using System.Security.Cryptography;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.RealClients;

/// <summary>
/// The sample app, run out of process the way a user runs it, against the clients people really put in front
/// of it: nginx as a reverse proxy on the Unix socket, curl over the Unix socket, h2c and HTTP/2 over TLS,
/// h2load's HTTP/2 load, two headless Chromium pages chatting over WebSockets, and systemd socket activation. One sealed subclass per
/// transport; every test also requires that the transport under test (not the Sockets fallback) serves every
/// endpoint, and that the sample stops cleanly on SIGTERM without logging a warning.
/// </summary>
/// <remarks>
/// The clients are not NuGet packages: <c>.ci/install-clients</c> installs them, and a missing one fails the
/// test (never a skip). Every process a test starts is killed, and its folder deleted, even when it fails.
/// </remarks>
public abstract partial class RealClientTests : IAsyncLifetime
{
    private const int LargeSize = 16 * 1024 * 1024;
    private const int H2loadRequests = 10_000;

    private static readonly TimeSpan ClientTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan PageTimeout = TimeSpan.FromSeconds(20);
    private static readonly Lazy<string> ExpectedBytesSha256 = new(() =>
    {
        var bytes = new byte[LargeSize];
        for (var i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (byte)(i % 251);
        }
        return Convert.ToHexStringLower(SHA256.HashData(bytes));
    });

    private readonly ITestOutputHelper _output;
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("real-clients-");
    private readonly List<IAsyncDisposable> _resources = [];
    private readonly List<Func<string>> _processOutputs = [];

    protected RealClientTests(ITestOutputHelper output) => _output = output;

    /// <summary>The sample's --transport value.</summary>
    protected abstract string Transport { get; }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        // What every process wrote, in the test's output: xunit shows it with a failure.
        foreach (var describe in _processOutputs)
        {
            _output.WriteLine(describe());
        }
        var failures = new List<Exception>();
        for (var i = _resources.Count - 1; i >= 0; i--)
        {
            try
            {
                await _resources[i].DisposeAsync();
            }
            catch (Exception ex)
            {
                failures.Add(ex);
            }
        }
        try
        {
            _directory.Delete(recursive: true);
        }
        catch (IOException ex)
        {
            failures.Add(ex);
        }
        if (failures.Count > 0)
        {
            throw new AggregateException("Cleaning up after a real-client test failed.", failures);
        }
    }

    [Fact]
    public async Task Nginx_ProxiesToUnixSocket_PlaintextAnd16MiBDownloadIntact()
    {
        // Arrange
        var sample = await StartSampleAsync();
        var nginx = await NginxProxy.StartAsync(sample.UnixSocketPath, Path.Combine(_directory.FullName, "nginx"));
        _resources.Add(nginx);
        _processOutputs.Add(nginx.Describe);
        var download = Path.Combine(_directory.FullName, "via-nginx.bin");

        // Act
        var plaintext = await CurlAsync(new Uri(nginx.BaseAddress, "/plaintext").AbsoluteUri);
        var status = await CurlAsync("--output", download, "--write-out", "%{http_code} %{size_download}",
            new Uri(nginx.BaseAddress, $"/bytes/{LargeSize}").AbsoluteUri);

        // Assert
        Assert.Equal("Hello, World!", plaintext);
        Assert.Equal($"200 {LargeSize}", status);
        AssertPatternDownload(download, "nginx -> unix socket");
        Assert.Equal(0, await nginx.StopAsync());
        Assert.True(nginx.ErrorLines().Count == 0, $"nginx logged errors:{Environment.NewLine}{nginx.Describe()}");
        await StopSampleCleanlyAsync(sample);
    }

    /// <summary>
    /// nginx the way a distribution runs it, its worker an unprivileged user (nobody), proxying to the sample's Unix
    /// socket: served when the socket file was created 0666 (<c>--unix-socket-mode</c>, reactor transports only),
    /// 502 when it has the default mode (0755 from the umask; connecting needs write permission), which is all
    /// Kestrel's Sockets transport offers (dotnet/aspnetcore#17706).
    /// </summary>
    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Nginx_UnprivilegedWorker_ServedThroughAMode666SocketAnd502WithTheDefaultMode()
    {
        if (Transport != "sockets")
        {
            var open = await StartSampleAsync(WorldTraversableFolder("mode-666"), "--unix-socket-mode", "666");
            var nginx = await StartNginxAsync(open.UnixSocketPath, "nginx-666", workerUser: "nobody nogroup");

            Assert.Equal("Hello, World!", await CurlAsync(new Uri(nginx.BaseAddress, "/plaintext").AbsoluteUri));
            Assert.Equal(0, await nginx.StopAsync());
            await StopSampleCleanlyAsync(open);
        }

        var closed = await StartSampleAsync(WorldTraversableFolder("mode-default"));
        var refused = await StartNginxAsync(closed.UnixSocketPath, "nginx-default", workerUser: "nobody nogroup");
        var result = await ProcessRunner.RunAsync(ProcessRunner.FindTool("curl"),
            ["--silent", "--max-time", "60", "--output", "/dev/null", "--write-out", "%{http_code}", new Uri(refused.BaseAddress, "/plaintext").AbsoluteUri],
            ClientTimeout);

        Assert.Equal("502", result.StandardOutput);
        Assert.Contains(refused.ErrorLines(), l => l.Contains("Permission denied", StringComparison.Ordinal));
        Assert.Equal(0, await refused.StopAsync());
        await StopSampleCleanlyAsync(closed);
    }

    [Fact]
    public async Task CurlUnixSocket_PlaintextAnd16MiBDownload_Sha256Matches()
    {
        // Arrange
        var sample = await StartSampleAsync();
        var download = Path.Combine(_directory.FullName, "via-unix-socket.bin");

        // Act
        var plaintext = await CurlAsync("--unix-socket", sample.UnixSocketPath, "http://localhost/plaintext");
        var status = await CurlAsync("--unix-socket", sample.UnixSocketPath, "--output", download,
            "--write-out", "%{http_code} %{size_download} %{http_version}", $"http://localhost/bytes/{LargeSize}");

        // Assert
        Assert.Equal("Hello, World!", plaintext);
        Assert.Equal($"200 {LargeSize} 1.1", status);
        AssertPatternDownload(download, "curl --unix-socket");
        await StopSampleCleanlyAsync(sample);
    }

    [Fact]
    public async Task CurlHttp2PriorKnowledge_Plaintext_ServedOverHttp2()
    {
        // Arrange
        var sample = await StartSampleAsync();

        // Act
        var output = await CurlAsync("--http2-prior-knowledge", "--write-out", "\n%{http_code} %{http_version}",
            new Uri(sample.H2cAddress, "/plaintext").AbsoluteUri);

        // Assert
        Assert.Equal("Hello, World!\n200 2", output);
        _output.WriteLine($"{Transport}: curl --http2-prior-knowledge {sample.H2cAddress}plaintext -> http_version 2");
        await StopSampleCleanlyAsync(sample);
    }

    [Fact]
    public async Task CurlHttps_Http2PlaintextAnd16MiBEcho_NegotiatesHttp2AndEchoesIdentically()
    {
        // Arrange
        var sample = await StartSampleAsync();
        var upload = Path.Combine(_directory.FullName, "upload.bin");
        var echoed = Path.Combine(_directory.FullName, "echoed.bin");
        var payload = new byte[LargeSize];
        new Random(251).NextBytes(payload);
        await File.WriteAllBytesAsync(upload, payload).WithTimeout();

        // Act
        var plaintext = await CurlAsync("--insecure", "--http2", "--write-out", "\n%{http_code} %{http_version}",
            new Uri(sample.HttpsAddress, "/plaintext").AbsoluteUri);
        var status = await CurlAsync("--insecure", "--http2", "--data-binary", "@" + upload,
            "--header", "Content-Type: application/octet-stream", "--output", echoed,
            "--write-out", "%{http_code} %{http_version} %{size_upload} %{size_download}",
            new Uri(sample.HttpsAddress, "/echo").AbsoluteUri);

        // Assert
        Assert.Equal("Hello, World!\n200 2", plaintext);
        Assert.Equal($"200 2 {LargeSize} {LargeSize}", status);
        var sent = Convert.ToHexStringLower(SHA256.HashData(payload));
        var received = Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(echoed).WithTimeout()));
        Assert.Equal(sent, received);
        _output.WriteLine($"{Transport}: curl -k --http2 {sample.HttpsAddress}plaintext -> http_version 2; " +
            $"POST /echo {LargeSize} bytes over h2/TLS -> {status}, sha256 {received} (sent {sent})");
        await StopSampleCleanlyAsync(sample);
    }

    [Fact]
    public async Task H2load_H2cPlaintext_AllRequestsSucceed()
    {
        var sample = await StartSampleAsync();

        await RunH2loadAsync(new Uri(sample.H2cAddress, "/plaintext"), "h2c");

        await StopSampleCleanlyAsync(sample);
    }

    [Fact]
    public async Task H2load_HttpsPlaintext_AllRequestsSucceed()
    {
        var sample = await StartSampleAsync();

        await RunH2loadAsync(new Uri(sample.HttpsAddress, "/plaintext"), "h2");

        await StopSampleCleanlyAsync(sample);
    }

    [Fact]
    public async Task Chromium_TwoChatPages_MessagesReachTheOtherPage()
    {
        // Arrange
        var sample = await StartSampleAsync();
        var browser = await ChromiumBrowser.StartAsync(Path.Combine(_directory.FullName, "chromium"));
        _resources.Add(browser);
        _processOutputs.Add(browser.Describe);
        var alice = await browser.OpenPageAsync(new Uri(sample.HttpAddress, "/?name=alice"));
        await alice.WaitUntilAsync(StatusIs("connected"), PageState, PageTimeout);
        var bob = await browser.OpenPageAsync(new Uri(sample.HttpAddress, "/?name=bob"));
        await bob.WaitUntilAsync(StatusIs("connected"), PageState, PageTimeout);
        await alice.WaitUntilAsync(LogHasLine("* bob joined"), PageState, PageTimeout);
        var fromAlice = $"hello bob, from alice over {Transport}";
        var fromBob = $"hi alice, bob here on {Transport}";

        // Act
        await SendThroughPageAsync(alice, fromAlice);
        await bob.WaitUntilAsync(LogHasLine($"alice: {fromAlice}"), PageState, PageTimeout);
        await SendThroughPageAsync(bob, fromBob);
        await alice.WaitUntilAsync(LogHasLine($"bob: {fromBob}"), PageState, PageTimeout);

        // Assert
        await alice.WaitUntilAsync(LogHasLine($"me: {fromAlice}"), PageState, PageTimeout);
        await bob.WaitUntilAsync(LogHasLine($"me: {fromBob}"), PageState, PageTimeout);
        Assert.Equal(string.Empty, (await alice.EvaluateAsync("document.querySelector('#message').value")).GetString());
        _output.WriteLine($"{Transport}: Chromium alice and bob connected to {sample.HttpAddress}; " +
            $"alice's page shows {await alice.EvaluateAsync(PageState)}; bob's page shows {await bob.EvaluateAsync(PageState)}");
        await StopSampleCleanlyAsync(sample);
    }

    [Fact]
    public async Task SystemdSocketActivation_FirstRequestsOnBothPassedSockets_ServedByTheTransport()
    {
        // Arrange: only systemd-socket-activate runs, holding a listening Unix socket and a listening TCP port.
        var sample = await SampleProcess.StartSocketActivatedAsync(Transport, _directory.FullName);
        _resources.Add(sample);
        _processOutputs.Add(sample.Describe);
        var download = Path.Combine(_directory.FullName, "via-systemd-tcp.bin");

        // Act: the first connection starts the sample, and waits in the socket's backlog until it serves.
        var plaintext = await CurlAsync("--unix-socket", sample.UnixSocketPath, "http://localhost/plaintext");
        await sample.WaitUntilStartedAsync(sample.ActivatedEndpoints);
        AssertServedByTransportUnderTest(sample);
        var status = await CurlAsync("--output", download, "--write-out", "%{http_code} %{size_download}",
            $"http://127.0.0.1:{sample.ActivatedPort}/bytes/{LargeSize}");

        // Assert: the sample reported the real addresses of the sockets it was given (the logged lines matched),
        // served both, and left systemd's socket file alone.
        Assert.Equal("Hello, World!", plaintext);
        Assert.Equal($"200 {LargeSize}", status);
        AssertPatternDownload(download, "systemd-socket-activate TCP socket");
        _output.WriteLine($"{Transport}: socket-activated sample serves {string.Join(" and ", sample.Endpoints.Select(e => e.Address))}");
        await StopSampleCleanlyAsync(sample);
        Assert.True(File.Exists(sample.UnixSocketPath), "The transport deleted the Unix socket file that systemd passed it.");
    }

    private const string PageState =
        "JSON.stringify({ status: document.querySelector('#status')?.textContent, " +
        "log: [...document.querySelectorAll('#log > *')].map(e => e.textContent) })";

    private static string StatusIs(string status) =>
        $"document.readyState === 'complete' && document.querySelector('#status')?.textContent === {JsString(status)}";

    private static string LogHasLine(string line) =>
        $"[...document.querySelectorAll('#log > *')].some(e => e.textContent.trim() === {JsString(line)})";

    private static string JsString(string value) => JsonValue.Create(value).ToJsonString();

    /// <summary>Types into #message and clicks #send, as a user does.</summary>
    private static async Task SendThroughPageAsync(ChromiumPage page, string message) =>
        await page.EvaluateAsync($$"""
            (() => {
                const input = document.querySelector('#message');
                input.focus();
                input.value = {{JsString(message)}};
                input.dispatchEvent(new Event('input', { bubbles: true }));
                document.querySelector('#send').click();
                return true;
            })()
            """);

    private async Task<SampleProcess> StartSampleAsync(string? directory = null, params string[] extraArguments)
    {
        var sample = await SampleProcess.StartAsync(Transport, directory ?? _directory.FullName, extraArguments);
        _resources.Add(sample);
        _processOutputs.Add(sample.Describe);
        AssertServedByTransportUnderTest(sample);
        return sample;
    }

    /// <summary>A folder an unprivileged nginx worker can reach a socket in (the test's own folder is private).</summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private string WorldTraversableFolder(string name)
    {
        var folder = Directory.CreateDirectory(Path.Combine(_directory.FullName, name)).FullName;
        File.SetUnixFileMode(_directory.FullName, File.GetUnixFileMode(_directory.FullName) | UnixFileMode.OtherExecute | UnixFileMode.GroupExecute);
        File.SetUnixFileMode(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        return folder;
    }

    private async Task<NginxProxy> StartNginxAsync(string unixSocketPath, string folder, string? workerUser)
    {
        var nginx = await NginxProxy.StartAsync(unixSocketPath, Path.Combine(_directory.FullName, folder), workerUser);
        _resources.Add(nginx);
        _processOutputs.Add(nginx.Describe);
        return nginx;
    }

    private void AssertServedByTransportUnderTest(SampleProcess sample)
    {
        foreach (var endpoint in sample.Endpoints)
        {
            Assert.True(endpoint.Transport == Transport,
                $"{endpoint.Address} is served by {endpoint.Transport}, not by {Transport}.{Environment.NewLine}{sample.Describe()}");
        }
    }

    private static async Task StopSampleCleanlyAsync(SampleProcess sample)
    {
        var exitCode = await sample.StopAsync();
        Assert.True(exitCode == 0, $"The sample exited with {exitCode} after SIGTERM.{Environment.NewLine}{sample.Describe()}");
        Assert.True(sample.ProblemLines().Count == 0, $"The sample logged warnings or errors.{Environment.NewLine}{sample.Describe()}");
    }

    /// <summary>Runs curl (silent, failing on HTTP errors, bounded) and returns its standard output.</summary>
    private static async Task<string> CurlAsync(params string[] arguments)
    {
        var result = await ProcessRunner.RunAsync(ProcessRunner.FindTool("curl"),
            ["--silent", "--show-error", "--fail", "--max-time", "60", .. arguments], ClientTimeout);
        Assert.True(result.ExitCode == 0, $"curl failed:{Environment.NewLine}{result}");
        return result.StandardOutput;
    }

    private void AssertPatternDownload(string file, string route)
    {
        var bytes = File.ReadAllBytes(file);
        Assert.Equal(LargeSize, bytes.Length);
        var firstWrong = Enumerable.Range(0, bytes.Length).FirstOrDefault(i => bytes[i] != (byte)(i % 251), -1);
        Assert.True(firstWrong < 0, $"Byte {firstWrong} of the download is {(firstWrong < 0 ? 0 : bytes[firstWrong])}, expected {firstWrong % 251}.");
        var actual = Convert.ToHexStringLower(SHA256.HashData(bytes));
        Assert.Equal(ExpectedBytesSha256.Value, actual);
        _output.WriteLine($"{Transport}: {route}: GET /bytes/{LargeSize} -> sha256 {actual} (expected {ExpectedBytesSha256.Value})");
    }

    /// <summary>h2load with 10 connections of 10 concurrent streams; every request must succeed.</summary>
    private async Task RunH2loadAsync(Uri url, string expectedProtocol)
    {
        var result = await ProcessRunner.RunAsync(ProcessRunner.FindTool("h2load"),
            ["-n", H2loadRequests.ToString(System.Globalization.CultureInfo.InvariantCulture), "-c", "10", "-m", "10", url.AbsoluteUri],
            ClientTimeout);
        var requests = H2loadRequestsLine().Match(result.StandardOutput);
        var status = H2loadStatusLine().Match(result.StandardOutput);
        var protocol = H2loadProtocolLine().Match(result.StandardOutput);
        Assert.True(result.ExitCode == 0 && requests.Success && status.Success && protocol.Success, $"h2load's summary is missing:{Environment.NewLine}{result}");
        _output.WriteLine($"{Transport}: h2load {url} ({protocol.Groups["protocol"].Value}): {requests.Value} | {status.Value}");
        Assert.Equal(expectedProtocol, protocol.Groups["protocol"].Value);
        var expected = $"{H2loadRequests} total, {H2loadRequests} succeeded, 0 failed, 0 errored, 0 timeout";
        var actual = $"{requests.Groups["total"].Value} total, {requests.Groups["succeeded"].Value} succeeded, " +
            $"{requests.Groups["failed"].Value} failed, {requests.Groups["errored"].Value} errored, {requests.Groups["timeout"].Value} timeout";
        Assert.True(expected == actual, $"h2load: {actual}{Environment.NewLine}{result}");
        Assert.True(status.Groups["ok"].Value == H2loadRequests.ToString(System.Globalization.CultureInfo.InvariantCulture),
            $"h2load: {status.Value}{Environment.NewLine}{result}");
    }

    [GeneratedRegex(@"^requests: (?<total>\d+) total, (?<started>\d+) started, (?<done>\d+) done, (?<succeeded>\d+) succeeded, (?<failed>\d+) failed, (?<errored>\d+) errored, (?<timeout>\d+) timeout$", RegexOptions.Multiline)]
    private static partial Regex H2loadRequestsLine();

    [GeneratedRegex(@"^status codes: (?<ok>\d+) 2xx, \d+ 3xx, \d+ 4xx, \d+ 5xx$", RegexOptions.Multiline)]
    private static partial Regex H2loadStatusLine();

    [GeneratedRegex(@"^Application protocol: (?<protocol>\S+)$", RegexOptions.Multiline)]
    private static partial Regex H2loadProtocolLine();
}
