using System.Net;
using System.Net.Sockets;
using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll;
using Reactors.AspNetCore.Server.Kestrel.Transport.Select;
using Reactors.AspNetCore.Server.Kestrel.Transport.Select.Internal;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests;

/// <summary>
/// What only the select transport promises: no FD_SETSIZE ceiling per reactor, no Tmds.LibC anywhere on its
/// path, its registration, and the default picker that chooses between it and epoll.
/// </summary>
public sealed class SelectTransportTests
{
    private static readonly TransportConfigurator UseSelect = (builder, _) => builder.UseSelectTransport();

    private const string SocketTransportFactoryTypeName = "Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets.SocketTransportFactory";

    [Fact]
    public void WatchedSockets_AddAndRemoveInAnyOrder_HoldsExactlyTheWatchedOnesWithTheirSlots()
    {
        // What a select wait hands to the kernel: every registration watched, none twice, none after removal.
        var sockets = Enumerable.Range(0, 40).Select(_ => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)).ToArray();
        try
        {
            var registrations = sockets.Select(s => new SelectRegistration(s, handler: null!)).ToArray();
            var watched = new WatchedSockets(SelectInterest.Read);
            var expected = new HashSet<Socket>(ReferenceEqualityComparer.Instance);
            var random = new Random(12);
            foreach (var registration in registrations)
            {
                watched.Add(registration);
                expected.Add(registration.Socket);
            }

            // Remove and re-add in a random order, past the initial capacity, checking the set after each step.
            for (int step = 0; step < 400; step++)
            {
                var registration = registrations[random.Next(registrations.Length)];
                if (expected.Remove(registration.Socket))
                {
                    watched.Remove(registration);
                    Assert.Equal(SelectRegistration.NotWatched, registration.GetSlot(SelectInterest.Read));
                }
                else
                {
                    watched.Add(registration);
                    expected.Add(registration.Socket);
                }

                Assert.Equal(expected.Count, watched.Count);
                Assert.True(expected.SetEquals(watched.Sockets.ToArray()));
                foreach (var r in registrations.Where(r => expected.Contains(r.Socket)))
                {
                    Assert.Same(r.Socket, watched.Sockets[r.GetSlot(SelectInterest.Read)]);
                    Assert.Equal(SelectRegistration.NotWatched, r.GetSlot(SelectInterest.Write));
                }
            }
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }

    [Fact]
    public async Task OneReactor_MoreThanFdSetSizeConnections_ServesEveryConnectionWhileAllOpen()
    {
        // select(2)'s fd_set holds 1,024 descriptors; one reactor must multiplex more than that.
        const int Count = 1100;
        var arrived = 0;
        var allArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = TestServerHost.Create((builder, _) => builder.UseSelectTransport(o => o.ReactorCount = 1),
            new TestServerOptions(), app => app.MapGet("/held", (RequestDelegate)(async ctx =>
            {
                if (Interlocked.Increment(ref arrived) == Count)
                {
                    allArrived.TrySetResult();
                }
                // Answer only once every connection is in, so all of them sit in the one reactor's select set.
                await allArrived.Task.WaitAsync(TimeoutExtensions.DefaultTimeout);
                await ctx.Response.WriteAsync("ok");
            })));
        await server.StartAsync();

        var clients = await server.ConnectManyAsync(Count);
        try
        {
            await Task.WhenAll(clients.Select(c => c.SendAsync("GET /held HTTP/1.1\r\nHost: localhost\r\n\r\n"))).WithTimeout();
            var responses = await Task.WhenAll(clients.Select(c => c.ReadResponseAsync())).WithTimeout();

            Assert.All(responses, r => Assert.Equal("ok", r.BodyText));
            Assert.Equal(Count, Volatile.Read(ref arrived));
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    [Theory]
    [InlineData(typeof(SelectTransportFactory))]
    [InlineData(typeof(ReactorTransportOptions))]
    public void PortablePath_ReferencedAssemblies_DoNotIncludeTmdsLibC(Type typeOnPath)
    {
        // On Windows and macOS Tmds.LibC has no implementation: the select transport and the core it stands on
        // must not even reference it.
        var references = typeOnPath.Assembly.GetReferencedAssemblies().Select(a => a.Name).ToList();

        Assert.DoesNotContain("Tmds.LibC", references);
        Assert.DoesNotContain(typeOnPath.Assembly.GetTypes(), t => t.FullName!.StartsWith("Tmds.", StringComparison.Ordinal));
    }

    [Fact]
    public async Task UseSelectTransport_CalledTwice_RegisteredOnceAfterSocketsAndServes()
    {
        await using var server = TestServerHost.Create((builder, _) =>
        {
            builder.UseSelectTransport();
            builder.UseSelectTransport(o => o.Backlog = 64);
        }, new TestServerOptions(), MapHello);

        var factories = server.App.Services.GetServices<IConnectionListenerFactory>().ToList();
        int socketsIndex = factories.FindIndex(f => f.GetType().FullName == SocketTransportFactoryTypeName);
        int selectIndex = factories.FindIndex(f => f is SelectTransportFactory);
        Assert.Single(factories, f => f is SelectTransportFactory);
        Assert.True(socketsIndex >= 0 && selectIndex > socketsIndex, "Select must be registered after Sockets: Kestrel tries the last one first.");

        await server.StartAsync();
        using var client = server.CreateHttpClient();
        Assert.Equal("hello", await client.GetStringAsync(new Uri("/hello", UriKind.Relative)).WithTimeout());
    }

    [Fact]
    public void CanBind_IPUnixSocketAndFileHandle_TrueOtherEndPointsFalse()
    {
        var factory = new SelectTransportFactory(
            Microsoft.Extensions.Options.Options.Create(new SelectTransportOptions()),
            Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);

        Assert.True(factory.CanBind(new IPEndPoint(IPAddress.Loopback, 0)));
        Assert.True(factory.CanBind(new IPEndPoint(IPAddress.IPv6Any, 80)));
        Assert.True(factory.CanBind(new UnixDomainSocketEndPoint("/tmp/select-test.sock")));
        Assert.True(factory.CanBind(new FileHandleEndPoint(3, FileHandleType.Tcp)));
        Assert.False(factory.CanBind(new NamedPipeEndPoint("select-test")));
        Assert.False(factory.CanBind(new DnsEndPoint("localhost", 80)));
    }

    [Fact]
    public async Task UseDefaultReactorTransport_PicksEpollWhereSupportedElseSelect()
    {
        await using var server = TestServerHost.Create((builder, _) => builder.UseDefaultReactorTransport(o => o.ReactorCount = 1),
            new TestServerOptions(), MapHello);

        var factories = server.App.Services.GetServices<IConnectionListenerFactory>().ToList();
        if (EpollTransportFactory.IsSupported)
        {
            Assert.Equal("epoll", WebHostBuilderDefaultReactorExtensions.DefaultReactorTransportName);
            Assert.Contains(factories, f => f is EpollTransportFactory);
            Assert.DoesNotContain(factories, f => f is SelectTransportFactory);
        }
        else
        {
            Assert.Equal("select", WebHostBuilderDefaultReactorExtensions.DefaultReactorTransportName);
            Assert.Contains(factories, f => f is SelectTransportFactory);
            Assert.DoesNotContain(factories, f => f is EpollTransportFactory);
        }

        await server.StartAsync();
        using var client = server.CreateHttpClient();
        Assert.Equal("hello", await client.GetStringAsync(new Uri("/hello", UriKind.Relative)).WithTimeout());
    }

    private static void MapHello(WebApplication app) =>
        app.MapGet("/hello", (RequestDelegate)(ctx => ctx.Response.WriteAsync("hello")));
}
