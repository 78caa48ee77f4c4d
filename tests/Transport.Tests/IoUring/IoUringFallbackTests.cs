using System.Net.Http;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.RealClients;
using Xunit;
using Xunit.Abstractions;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.IoUring;

/// <summary>
/// The io_uring transport where io_uring is not available, for real: the sample runs under a seccomp filter that
/// fails io_uring_setup the way container runtimes' default profiles do (a few lines of C, built here with gcc), or
/// with the environment switch set. It must serve every endpoint through epoll and say why, once; a resource error
/// must fail the start instead of being hidden by the fallback.
/// </summary>
public sealed class IoUringFallbackTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromSeconds(60);
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("iouring-fallback-");
    private string _launcher = string.Empty;

    public async Task InitializeAsync()
    {
        // Built per run from the source next to the test assembly: CI machines install gcc (.ci/install-clients).
        string source = Path.Combine(AppContext.BaseDirectory, "IoUring", "deny-io-uring.c");
        _launcher = Path.Combine(_directory.FullName, "deny-io-uring");
        var gcc = await ProcessRunner.RunAsync(ProcessRunner.FindTool("gcc"), ["-O2", "-Wall", "-Werror", "-o", _launcher, source], BuildTimeout);
        Assert.True(gcc.ExitCode == 0, $"Building the seccomp launcher failed:{Environment.NewLine}{gcc}");
    }

    public Task DisposeAsync()
    {
        _directory.Delete(recursive: true);
        return Task.CompletedTask;
    }

    [Theory]
    [InlineData("EPERM", "io_uring is not permitted here (io_uring_setup: EPERM")]
    [InlineData("ENOSYS", "the kernel has no io_uring (io_uring_setup: ENOSYS")]
    public async Task SetupDeniedBySeccomp_ServesEveryEndpointThroughEpollAndWarnsOnce(string errno, string reason)
    {
        await using var sample = await SampleProcess.StartAsync(new SampleLaunch(_launcher, [errno]), "iouring", _directory.FullName);

        await AssertServesThroughEpollAsync(sample, reason);
    }

    [Fact]
    public async Task EnvironmentSwitchOff_ServesThroughEpollAndSaysSo()
    {
        var launch = new SampleLaunch(Environment: new Dictionary<string, string> { ["REACTORS_IO_URING"] = "0" });
        await using var sample = await SampleProcess.StartAsync(launch, "iouring", _directory.FullName);

        await AssertServesThroughEpollAsync(sample, "io_uring is turned off by REACTORS_IO_URING=0");
    }

    [Fact]
    public async Task SetupOutOfMemory_FailsTheStartWithTheReasonInsteadOfFallingBack()
    {
        // ENOMEM is a resource error, not "unavailable": serving through epoll would hide a machine in trouble.
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(
            () => SampleProcess.StartAsync(new SampleLaunch(_launcher, ["ENOMEM"]), "iouring", _directory.FullName));

        output.WriteLine(failure.Message);
        Assert.Contains("The process ended its output", failure.Message, StringComparison.Ordinal);
        Assert.Contains("setting up an io_uring failed with ENOMEM", failure.Message, StringComparison.Ordinal);
        Assert.Contains("REACTORS_IO_URING=0 to serve through epoll", failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("serves through epoll instead", failure.Message, StringComparison.Ordinal);
    }

    private async Task AssertServesThroughEpollAsync(SampleProcess sample, string reason)
    {
        output.WriteLine(sample.Describe());
        string log = sample.Describe();
        string[] warnings = [.. sample.ProblemLines()];
        Assert.True(warnings.Length == 1 && warnings[0].Contains("[113]", StringComparison.Ordinal), $"Expected one warning, event 113:{Environment.NewLine}{log}");
        Assert.Contains(reason, log, StringComparison.Ordinal);
        Assert.Contains("the io_uring transport serves through epoll instead", log, StringComparison.Ordinal);
        Assert.Contains("Started 1 epoll reactor thread(s)", log, StringComparison.Ordinal);
        Assert.DoesNotContain("Serving through io_uring", log, StringComparison.Ordinal);

        // Every endpoint the sample logged is the transport's (the sample names Kestrel's Sockets when it serves one).
        Assert.All(sample.Endpoints, e => Assert.Equal("iouring", e.Transport));
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
        Assert.Equal("Hello, World!", await client.GetStringAsync(new Uri(sample.HttpAddress, "/plaintext")));
        Assert.Equal(0, await sample.StopAsync());
    }
}
