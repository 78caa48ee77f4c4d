using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests;

/// <summary>
/// The conformance suite: every test runs once per transport, through a sealed subclass that only says how to
/// put its transport on a web host. Kestrel's Sockets transport is the reference: a test that fails on Sockets
/// is a wrong test; a test that fails on another transport is a transport bug.
/// </summary>
/// <remarks>
/// Tests are split by topic into partial files. Every server a test starts is stopped after the test, and its
/// log is then checked: neither Kestrel nor the transport may log a warning or worse during normal traffic,
/// which includes clients that half-close or reset.
/// </remarks>
public abstract partial class ConformanceTests : IAsyncLifetime
{
    private readonly List<TestServerHost> _servers = [];

    /// <summary>The log category of the transport under test, where it reports FIN, reset, pause and resume.</summary>
    protected abstract string TransportLogCategory { get; }

    /// <summary>Puts the transport under test on <paramref name="builder"/>, which already has Kestrel.</summary>
    /// <param name="builder">The web host builder.</param>
    /// <param name="maxReadBufferSize">The transport's MaxReadBufferSize, or null to keep its default.</param>
    protected abstract void UseTransport(IWebHostBuilder builder, long? maxReadBufferSize);

    /// <summary>Whether a reset by the peer is always logged (ConnectionReset, id 19), whichever side sees it first.</summary>
    protected virtual bool LogsEveryPeerReset => true;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await ServerChecks.DisposeAllAsync(_servers);

        // Checked after stopping, so that what a transport logs while closing connections counts too.
        foreach (var server in _servers.Where(s => !s.Options.ExpectWarnings))
        {
            ServerChecks.AssertNoKestrelWarnings(server.Logs);
        }
    }

    /// <summary>Builds and starts a server on loopback port 0 (unless <paramref name="configure"/> says otherwise).</summary>
    private protected async Task<TestServerHost> StartServerAsync(Action<WebApplication> configureApp, Action<TestServerOptions>? configure = null)
    {
        var server = CreateServer(configureApp, configure);
        await server.StartAsync();
        return server;
    }

    /// <summary>Builds a server without starting it; it is still stopped and log-checked after the test.</summary>
    private protected TestServerHost CreateServer(Action<WebApplication> configureApp, Action<TestServerOptions>? configure = null)
    {
        var options = new TestServerOptions();
        configure?.Invoke(options);
        var server = TestServerHost.Create(UseTransport, options, configureApp);
        _servers.Add(server);
        return server;
    }

    /// <summary>Proves a server still serves new connections after a test provoked an error on another one.</summary>
    private static async Task AssertServerHealthyAsync(TestServerHost server, string path = "/health")
    {
        using var client = server.CreateHttpClient();
        using var response = await client.GetAsync(new Uri(path, UriKind.Relative)).WithTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("healthy", await response.Content.ReadAsStringAsync().WithTimeout());
    }

    private static void MapHealth(WebApplication app) =>
        app.MapGet("/health", (RequestDelegate)(ctx => ctx.Response.WriteAsync("healthy")));

    /// <summary>A TaskCompletionSource whose continuations never run inline on the thread that completes it.</summary>
    private protected static TaskCompletionSource NewGate() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private protected static TaskCompletionSource<T> NewGate<T>() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
