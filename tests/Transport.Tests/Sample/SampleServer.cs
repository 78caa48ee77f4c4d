using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using WebApp;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Sample;

/// <summary>
/// The sample app (samples/WebApp) in this process, built by <see cref="SampleApp.Create"/> exactly as its command
/// line would build it, on loopback port 0, with every log entry captured.
/// </summary>
internal sealed class SampleServer : IAsyncDisposable
{
    private bool _stopped;
    private bool _disposed;

    private SampleServer(WebApplication app, CapturingLoggerProvider logs)
    {
        App = app;
        Logs = logs;
    }

    public WebApplication App { get; }

    public CapturingLoggerProvider Logs { get; }

    /// <summary>What the app bound; read once it has started.</summary>
    public SampleEndpoints Endpoints => App.Services.GetRequiredService<SampleEndpoints>();

    /// <summary>The first cleartext HTTP address, e.g. http://127.0.0.1:41234/.</summary>
    public Uri HttpAddress => Endpoints.HttpAddresses[0];

    /// <summary>The command line every test starts from; <paramref name="extraArgs"/> come last, so they win.</summary>
    public static string[] Arguments(string transport, IEnumerable<string> extraArgs) =>
        ["--transport", transport, "--urls", "http://127.0.0.1:0", .. extraArgs];

    /// <summary>Builds the app without starting it; <see cref="SampleApp.Create"/> may throw for invalid options.</summary>
    public static SampleServer Create(string transport, IEnumerable<string> extraArgs)
    {
        var logs = new CapturingLoggerProvider();
        var app = SampleApp.Create(Arguments(transport, extraArgs), builder =>
        {
            // Console output of dozens of servers would only bury the test output.
            builder.Logging.ClearProviders();
            builder.Logging.AddProvider(logs);
            // The transports' per-connection events are Debug; a test may need one to tell which transport
            // served a connection. Rules for this provider win over the app's configured levels.
            builder.Logging.AddFilter<CapturingLoggerProvider>("Reactors.AspNetCore.Server.Kestrel", LogLevel.Debug);
            builder.Logging.AddFilter<CapturingLoggerProvider>("Microsoft.AspNetCore.Server.Kestrel.Transport", LogLevel.Debug);
        });
        return new SampleServer(app, logs);
    }

    public Task StartAsync() => App.StartAsync().WithTimeout();

    public Task StopAsync()
    {
        _stopped = true;
        return App.StopAsync().WithTimeout();
    }

    public HttpClient CreateHttpClient(SocketsHttpHandler? handler = null) =>
        new(handler ?? new SocketsHttpHandler())
        {
            BaseAddress = HttpAddress,
            Timeout = TimeoutExtensions.DefaultTimeout,
        };

    /// <summary>Stops (if still running) and disposes; a second call does nothing.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        try
        {
            if (!_stopped)
            {
                await StopAsync();
            }
        }
        finally
        {
            await App.DisposeAsync();
        }
    }
}
