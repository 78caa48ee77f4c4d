using Microsoft.Extensions.Logging;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Sample;

/// <summary>
/// The sample app (samples/WebApp) held to its contract (coord/sample-contract.md), in process, with real clients
/// on real sockets. Every test runs once per transport through a sealed subclass that only names the value of
/// <c>--transport</c>; Kestrel's Sockets transport is the reference, so a test failing there is a wrong test or a
/// sample bug, and a test failing on epoll or select only is a transport bug.
/// </summary>
/// <remarks>
/// Tests are split by topic into partial files. Every app a test starts is stopped and disposed after the test,
/// and its log is then checked: neither Kestrel nor the transport may log a warning or worse, even though some
/// tests make clients leave abruptly.
/// </remarks>
public abstract partial class SampleTests : IAsyncLifetime
{
    private readonly List<SampleServer> _servers = [];
    private readonly List<IDisposable> _clients = [];

    /// <summary>The value of the sample's <c>--transport</c> option.</summary>
    protected abstract string Transport { get; }

    /// <summary>The log category of the transport under test, where it reports a client's FIN at Debug.</summary>
    protected abstract string TransportLogCategory { get; }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        // Clients first, also those of a failed test, so that no server waits for them to leave.
        foreach (var client in _clients)
        {
            client.Dispose();
        }

        await ServerChecks.DisposeAllAsync(_servers);

        // Checked after stopping, so that what is logged while connections are closed counts too.
        foreach (var server in _servers)
        {
            ServerChecks.AssertNoKestrelWarnings(server.Logs);
        }
    }

    /// <summary>Starts the sample on <see cref="Transport"/> with <c>--urls http://127.0.0.1:0</c> and <paramref name="extraArgs"/>.</summary>
    private protected async Task<SampleServer> StartAsync(params string[] extraArgs)
    {
        var server = SampleServer.Create(Transport, extraArgs);
        _servers.Add(server);
        await server.StartAsync();
        return server;
    }

    /// <summary>Disposes <paramref name="client"/> after the test, before the servers stop, however the test ends.</summary>
    private protected T Track<T>(T client)
        where T : IDisposable
    {
        _clients.Add(client);
        return client;
    }
}
