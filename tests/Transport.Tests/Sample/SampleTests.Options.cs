using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using WebApp;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Sample;

// Options: invalid ones fail SampleApp.Create with a one-line message naming the option; valid ones bind where
// the log says.
public abstract partial class SampleTests
{
    [Theory]
    [InlineData("--transport", "foo", "transport")]
    [InlineData("--transport", "", "transport")]
    [InlineData("--echo-port", " ", "echo-port")]
    [InlineData("--echo-port", "abc", "echo-port")]
    [InlineData("--chat-port", "-1", "chat-port")]
    [InlineData("--h2c-port", "http", "h2c-port")]
    [InlineData("--https-port", "70000", "https-port")]
    [InlineData("--unix-socket", "", "unix-socket")]
    [InlineData("--unsafe-prefer-inline-scheduling", "yes", "unsafe-prefer-inline-scheduling")]
    [InlineData("--unsafe-prefer-inline-scheduling", "", "unsafe-prefer-inline-scheduling")]
    [InlineData("--unix-socket-mode", "rw-rw-rw-", "unix-socket-mode")]
    [InlineData("--unix-socket-mode", "689", "unix-socket-mode")]
    [InlineData("--unix-socket-mode", "17777", "unix-socket-mode")]
    [InlineData("--reuse-port", "maybe", "reuse-port")]
    [InlineData("--reactor-count", "0", "reactor-count")]
    [InlineData("--reactor-count", "1025", "reactor-count")]
    [InlineData("--reactor-count", "two", "reactor-count")]
    [InlineData("--reactor-spin-microseconds", "1001", "reactor-spin-microseconds")]
    [InlineData("--reactor-spin-microseconds", "-5", "reactor-spin-microseconds")]
    [InlineData("--reactor-spin-microseconds", "fast", "reactor-spin-microseconds")]
    public void Create_InvalidOption_ThrowsSampleOptionExceptionNamingTheOption(string option, string value, string name)
    {
        // Act
        var error = Assert.Throws<SampleOptionException>(() => SampleServer.Create(Transport, [option, value]));

        // Assert: the message is what the command line prints on stderr: one line, naming the option.
        Assert.Contains(name, error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain('\n', error.Message);
        if (name == "transport")
        {
            // The fix: the values that are allowed.
            Assert.Contains("epoll", error.Message, StringComparison.Ordinal);
            Assert.Contains("select", error.Message, StringComparison.Ordinal);
            Assert.Contains("sockets", error.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("--echo-port")]
    [InlineData("--reactor-count")]
    [InlineData("--urls")]
    [InlineData("--unix-socket")]
    [InlineData("--environment")] // the host's, not the sample's: the same rule
    public void Create_ValueSwitchWithoutValue_ThrowsNamingIt(string option)
    {
        // Last on the command line (.NET's reader would drop it silently), and followed by another switch (it would
        // take that switch as its value, and the switch would be lost).
        var atTheEnd = Assert.Throws<SampleOptionException>(() => SampleServer.Create(Transport, [option]));
        var beforeAnother = Assert.Throws<SampleOptionException>(() => SampleServer.Create(Transport, [option, "--chat-port", "0"]));

        foreach (var error in (SampleOptionException[])[atTheEnd, beforeAnother])
        {
            Assert.Contains($"{option} needs a value", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain('\n', error.Message);
        }
    }

    [Fact]
    public async Task Create_BareBooleanSwitch_MeansTrueWhereverItStands()
    {
        // At the end, before another switch, and in the /key form, in any case: each means true, and the switch that
        // follows keeps its own value.
        string[][] commandLines =
        [
            ["--unsafe-prefer-inline-scheduling"],
            ["--unsafe-prefer-inline-scheduling", "--echo-port", "0"],
            ["/Unsafe-Prefer-Inline-Scheduling", "--echo-port", "0"],
        ];
        foreach (var args in commandLines)
        {
            var options = await OptionsOfAsync(args);
            Assert.True(options.UnsafePreferInlineScheduling, string.Join(' ', args));
            Assert.Equal(args.Length > 1 ? 0 : null, options.EchoPort);
        }

        // An explicit value still wins.
        Assert.False((await OptionsOfAsync("--unsafe-prefer-inline-scheduling", "false")).UnsafePreferInlineScheduling);
        if (Transport != "sockets")
        {
            Assert.True((await OptionsOfAsync("--reuse-port")).ReusePort);
            var both = await OptionsOfAsync("--reuse-port", "--reactor-count", "2");
            Assert.True(both.ReusePort);
            Assert.Equal(2, both.ReactorCount);
        }
    }

    [Fact]
    public async Task Start_ReactorSpinMicroseconds_SetsReactorSpinDurationOnReactorTransports()
    {
        string[] args = ["--reactor-spin-microseconds", "0"];
        if (RefusedAsReactorOnly(args))
        {
            return;
        }

        var server = await StartAsync(args);
        using var client = server.CreateHttpClient();

        Assert.Equal("Hello, World!", await client.GetStringAsync(new Uri("/plaintext", UriKind.Relative)).WithTimeout());
        Assert.Equal(TimeSpan.Zero, Options(server).ReactorSpinDuration);
    }

    [Fact]
    public async Task Start_UnsafePreferInlineScheduling_ServesAndLogsIt()
    {
        // Arrange
        var server = await StartAsync("--unsafe-prefer-inline-scheduling", "true");
        using var client = server.CreateHttpClient();

        // Act
        var body = await client.GetStringAsync(new Uri("/plaintext", UriKind.Relative)).WithTimeout();

        // Assert: served inline, and the log says so (benchmarks/run.sh waits for this line for its ":inline" specs).
        Assert.Equal("Hello, World!", body);
        Assert.Contains(server.Logs.Entries, e => e.Category == "WebApp" && e.Level == LogLevel.Information
            && e.Message.StartsWith($"Inline scheduling is on for {Transport}:", StringComparison.Ordinal));
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Start_UnixSocketMode_TheSocketFileHasItOnReactorTransports()
    {
        var path = NewUnixSocketPath();
        string[] args = ["--unix-socket", path, "--unix-socket-mode", "666"];
        if (RefusedAsReactorOnly(args))
        {
            return;
        }

        await StartAsync(args);

        Assert.Equal((UnixFileMode)0x1B6, File.GetUnixFileMode(path)); // 0666
        using var client = await RawClient.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
        await client.SendAsync("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("Hello, World!", (await client.ReadResponseAsync()).BodyText);
    }

    [Fact]
    public async Task Start_ReactorCount_StartsThatManyReactorsOnReactorTransports()
    {
        string[] args = ["--reactor-count", "3"];
        if (RefusedAsReactorOnly(args))
        {
            return;
        }

        var server = await StartAsync(args);
        using var client = server.CreateHttpClient();

        Assert.Equal("Hello, World!", await client.GetStringAsync(new Uri("/plaintext", UriKind.Relative)).WithTimeout());
        Assert.Contains(server.Logs.Entries, e => e.EventId.Name == "ReactorsStarted" && e.Message.StartsWith("Started 3 ", StringComparison.Ordinal));
    }

    /// <summary>
    /// With the Sockets transport, asserts that the sample refuses <paramref name="args"/> as reactor-only (Kestrel's
    /// Sockets transport has no such option: the sample says so instead of ignoring it) and returns true.
    /// </summary>
    private bool RefusedAsReactorOnly(string[] args)
    {
        if (Transport != "sockets")
        {
            return false;
        }

        var error = Assert.Throws<SampleOptionException>(() => SampleServer.Create(Transport, args));
        Assert.Contains("reactor transports", error.Message, StringComparison.Ordinal);
        return true;
    }

    private static SampleOptions Options(SampleServer server) => server.App.Services.GetRequiredService<SampleOptions>();

    /// <summary>The options a command line gives, read from an app that is built and disposed, never started.</summary>
    private async Task<SampleOptions> OptionsOfAsync(params string[] args)
    {
        await using var server = SampleServer.Create(Transport, args);
        return Options(server);
    }

    [Fact]
    public void Create_UnixSocketPathExists_ThrowsSampleOptionExceptionNamingTheOption()
    {
        // Arrange: the contract wants a path that does not exist yet, rather than a stale file silently replaced.
        var path = NewUnixSocketPath();
        File.WriteAllBytes(path, []);
        try
        {
            // Act
            var error = Assert.Throws<SampleOptionException>(() => SampleServer.Create(Transport, ["--unix-socket", path]));

            // Assert
            Assert.Contains("unix-socket", error.Message, StringComparison.OrdinalIgnoreCase);
            Assert.True(File.Exists(path), "The existing file was removed.");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Start_EveryEndpointOnPortZero_BindsRealPortsAndLogsOneLineEach()
    {
        // Act
        var server = await StartAsync("--https-port", "0", "--h2c-port", "0", "--echo-port", "0", "--chat-port", "0");

        // Assert: real, distinct ports; only the --urls address counts as an HTTP address.
        var endpoints = server.Endpoints;
        var http = Assert.Single(endpoints.HttpAddresses);
        Assert.Equal(Uri.UriSchemeHttp, http.Scheme);
        Assert.Equal("127.0.0.1", http.Host);
        var h2c = endpoints.H2cAddress!;
        Assert.Equal(Uri.UriSchemeHttp, h2c.Scheme);
        Assert.Equal("127.0.0.1", h2c.Host);
        int[] ports = [http.Port, endpoints.HttpsAddress!.Port, h2c.Port, endpoints.Echo!.Port, endpoints.Chat!.Port];
        Assert.DoesNotContain(0, ports);
        Assert.Equal(ports.Length, ports.Distinct().Count());
        Assert.Equal("127.0.0.1", endpoints.Echo.Address.ToString());
        Assert.Equal("127.0.0.1", endpoints.Chat.Address.ToString());
        Assert.Null(endpoints.UnixSocketPath);

        // Any other line the app may add is not counted; these must be there exactly once.
        var lines = server.Logs.Entries
            .Where(e => e.Category == "WebApp" && e.Level == LogLevel.Information)
            .Select(e => e.Message)
            .Where(m => m.Contains(" transport ", StringComparison.Ordinal) || m.Contains(" listens on ", StringComparison.Ordinal))
            .ToList();
        Assert.Equal(
            new[]
            {
                $"{Transport} transport serves http://127.0.0.1:{http.Port}",
                $"{Transport} transport serves https://127.0.0.1:{endpoints.HttpsAddress.Port}",
                $"{Transport} transport serves h2c http://127.0.0.1:{h2c.Port}",
                $"Echo server listens on tcp://127.0.0.1:{endpoints.Echo.Port}",
                $"Chat room listens on tcp://127.0.0.1:{endpoints.Chat.Port}",
            }.Order(StringComparer.Ordinal),
            lines.Order(StringComparer.Ordinal));
    }
}
