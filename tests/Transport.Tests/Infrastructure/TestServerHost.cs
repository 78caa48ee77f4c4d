using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;

/// <summary>Configures the transport under test on a web host; <c>maxReadBufferSize</c> null keeps its default.</summary>
internal delegate void TransportConfigurator(IWebHostBuilder builder, long? maxReadBufferSize);

/// <summary>What a test may change about the server; everything else is the same for every test and transport.</summary>
internal sealed class TestServerOptions
{
    public IPAddress Address { get; set; } = IPAddress.Loopback;

    public int Port { get; set; }

    /// <summary>When set, listen on this Unix domain socket instead of <see cref="Address"/>.</summary>
    public string? UnixSocketPath { get; set; }

    /// <summary>When set, listen on this inherited socket handle (as systemd passes one) instead of <see cref="Address"/>.</summary>
    public ulong? ListenHandle { get; set; }

    /// <summary>The HTTP versions the endpoint speaks; HTTP/1.1 only unless a test says otherwise.</summary>
    public HttpProtocols Protocols { get; set; } = HttpProtocols.Http1;

    /// <summary>When set, the endpoint serves HTTPS with this certificate (HTTP/2 is then negotiated by ALPN).</summary>
    public X509Certificate2? Certificate { get; set; }

    /// <summary>The transport's MaxReadBufferSize; null keeps the transport's default.</summary>
    public long? MaxReadBufferSize { get; set; }

    /// <summary>A connection middleware, which sees the transport's raw <see cref="ConnectionContext"/>.</summary>
    public Func<ConnectionDelegate, ConnectionDelegate>? ConnectionMiddleware { get; set; }

    /// <summary>Replaces Kestrel's memory pool factory (registered last, so it wins).</summary>
    public IMemoryPoolFactory<byte>? MemoryPoolFactory { get; set; }

    /// <summary>Set by a test that provokes a warning on purpose (a server that fails to start).</summary>
    public bool ExpectWarnings { get; set; }
}

/// <summary>
/// A real Kestrel server on a real socket, served by the transport under test. Never TestHost: it bypasses
/// the transport, which is the very thing under test.
/// </summary>
internal sealed class TestServerHost : IAsyncDisposable
{
    private bool _stopped;

    private TestServerHost(WebApplication app, CapturingLoggerProvider logs, TestServerOptions options)
    {
        App = app;
        Logs = logs;
        Options = options;
    }

    public WebApplication App { get; }

    public CapturingLoggerProvider Logs { get; }

    public TestServerOptions Options { get; }

    /// <summary>The bound address as Kestrel reports it, e.g. http://127.0.0.1:41234.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>The bound endpoint: an <see cref="IPEndPoint"/>, or a Unix domain socket's.</summary>
    public EndPoint EndPoint { get; private set; } = null!;

    /// <summary>The bound IP endpoint; for a server that listens on an IP address.</summary>
    public IPEndPoint IPEndPoint => (IPEndPoint)EndPoint;

    /// <summary>
    /// Builds the host; the returned host is not started yet, so a test can look at its services or expect
    /// <see cref="StartAsync"/> to fail.
    /// </summary>
    public static TestServerHost Create(TransportConfigurator useTransport, TestServerOptions options, Action<WebApplication> configureApp)
    {
        ArgumentNullException.ThrowIfNull(useTransport);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(configureApp);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { EnvironmentName = "Testing" });

        // The tests project references samples/WebApp, so the sample's appsettings.json (which raises the
        // transport's log level to Information) sits in the output folder, the content root here. A test host
        // takes its configuration from code only: the conformance tests wait for Debug events.
        foreach (var json in builder.Configuration.Sources.OfType<JsonConfigurationSource>().ToList())
        {
            builder.Configuration.Sources.Remove(json);
        }

        // Keep environment variables such as ASPNETCORE_URLS/HTTP_PORTS from adding endpoints beside ours.
        builder.WebHost.UseSetting(WebHostDefaults.ServerUrlsKey, string.Empty);
        builder.WebHost.UseSetting(WebHostDefaults.HttpPortsKey, string.Empty);
        builder.WebHost.UseSetting(WebHostDefaults.HttpsPortsKey, string.Empty);

        var logs = new CapturingLoggerProvider();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        builder.Logging.AddProvider(logs);

        builder.WebHost.UseKestrel(kestrel =>
        {
            // Bodies larger than Kestrel's 30 MB default are part of the suite.
            kestrel.Limits.MaxRequestBodySize = null;
            void ConfigureListen(ListenOptions listen)
            {
                listen.Protocols = options.Protocols;
                if (options.Certificate is { } certificate)
                {
                    listen.UseHttps(certificate);
                }
                if (options.ConnectionMiddleware is { } middleware)
                {
                    listen.Use(middleware);
                }
            }
            if (options.UnixSocketPath is { } path)
            {
                kestrel.ListenUnixSocket(path, ConfigureListen);
            }
            else if (options.ListenHandle is { } handle)
            {
                kestrel.ListenHandle(handle, ConfigureListen);
            }
            else
            {
                kestrel.Listen(options.Address, options.Port, ConfigureListen);
            }
        });
        useTransport(builder.WebHost, options.MaxReadBufferSize);

        if (options.MemoryPoolFactory is { } memoryPoolFactory)
        {
            builder.Services.AddSingleton<IMemoryPoolFactory<byte>>(memoryPoolFactory);
        }

        // A transport that does not close connections on shutdown must fail the graceful-stop test, not pass
        // after a long default timeout; StopAsync is also bounded by the caller.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(20));

        var app = builder.Build();
        configureApp(app);
        return new TestServerHost(app, logs, options);
    }

    public async Task StartAsync()
    {
        await App.StartAsync().WithTimeout();
        var address = App.Services.GetRequiredService<IServer>()
            .Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        if (Options.UnixSocketPath is { } path)
        {
            EndPoint = new UnixDomainSocketEndPoint(path);
            return;
        }
        BaseAddress = new Uri(address);
        EndPoint = new IPEndPoint(IPAddress.Parse(BaseAddress.Host.Trim('[', ']')), BaseAddress.Port);
    }

    public Task StopAsync()
    {
        _stopped = true;
        return App.StopAsync().WithTimeout();
    }

    /// <summary>An HttpClient for this server; for a Unix socket server it connects to the socket file.</summary>
    public HttpClient CreateHttpClient(int maxConnectionsPerServer = int.MaxValue)
    {
        var handler = new SocketsHttpHandler { MaxConnectionsPerServer = maxConnectionsPerServer };
        if (Options.Certificate is { } certificate)
        {
            // Trust exactly the server's certificate, nothing else.
            handler.SslOptions.RemoteCertificateValidationCallback = new PinnedCertificateValidation(certificate).Validate;
        }
        if (Options.UnixSocketPath is { } path)
        {
            handler.ConnectCallback = (_, cancellationToken) => ClientConnections.ConnectUnixAsync(path, cancellationToken);
        }
        return new HttpClient(handler)
        {
            BaseAddress = EndPoint is UnixDomainSocketEndPoint ? new Uri("http://localhost") : BaseAddress,
            Timeout = TimeoutExtensions.DefaultTimeout,
        };
    }

    public Task<RawClient> ConnectAsync() => RawClient.ConnectAsync(EndPoint);

    /// <summary>
    /// Opens <paramref name="count"/> connections that all stay open. Connects are throttled only so the listen
    /// backlog never overflows (a dropped SYN costs a 1 s retransmit). On failure every opened one is closed.
    /// </summary>
    public async Task<RawClient[]> ConnectManyAsync(int count)
    {
        var clients = new RawClient?[count];
        try
        {
            using var throttle = new SemaphoreSlim(64);
            await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
            {
                await throttle.WaitAsync();
                try
                {
                    clients[i] = await ConnectAsync();
                }
                finally
                {
                    throttle.Release();
                }
            })).WithTimeout();
            return clients!;
        }
        catch
        {
            foreach (var client in clients)
            {
                client?.Dispose();
            }
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_stopped)
            {
                _stopped = true;
                await App.StopAsync().WithTimeout();
            }
        }
        finally
        {
            await App.DisposeAsync();
        }
    }
}
