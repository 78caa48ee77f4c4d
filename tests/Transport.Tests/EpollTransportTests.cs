using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests;

/// <summary>
/// What only the epoll transport promises: that it, not Sockets, serves IP endpoints; how it registers; how it
/// validates its options; and which endpoints it leaves to Sockets.
/// </summary>
public sealed class EpollTransportTests
{
    private const string SocketTransportFactoryTypeName = "Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets.SocketTransportFactory";

    private static readonly TransportConfigurator UseEpoll = (builder, _) => builder.UseEpollTransport();
    private static readonly TransportConfigurator UseSockets = (builder, _) => builder.UseSockets();

    [Fact]
    public void IsSupported_OnLinuxWithGlibc_IsTrue()
    {
        // Guards the rest of the suite: were epoll silently unsupported here, every "epoll" test would quietly
        // exercise the Sockets fallback instead.
        var glibcLinux = OperatingSystem.IsLinux()
            && !RuntimeInformation.RuntimeIdentifier.Contains("musl", StringComparison.OrdinalIgnoreCase)
            && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64 or Architecture.Arm;

        Assert.Equal(glibcLinux, EpollTransportFactory.IsSupported);
    }

    [Theory]
    [InlineData("epoll")]
    [InlineData("sockets")]
    public async Task Connection_ServedByTransport_CarriesSocketFeatureOnlyUnderSockets(string transport)
    {
        // Sockets exposes the Socket through IConnectionSocketFeature; epoll has no Socket object. The Sockets
        // case proves the probe itself works, so that the epoll case is not vacuous.
        var hasSocketFeature = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var options = new TestServerOptions
        {
            ConnectionMiddleware = next => connection =>
            {
                hasSocketFeature.TrySetResult(connection.Features.Get<IConnectionSocketFeature>() is not null);
                return next(connection);
            },
        };
        await using var server = TestServerHost.Create(transport == "epoll" ? UseEpoll : UseSockets, options, MapHello);
        await server.StartAsync();

        await AssertHelloAsync(server);

        var expected = transport == "sockets" || !EpollTransportFactory.IsSupported;
        Assert.Equal(expected, await hasSocketFeature.Task.WithTimeout());
    }

    [Fact]
    public async Task UseEpollTransport_ListenerFactories_EpollRegisteredOnceAndAfterSockets()
    {
        await using var server = TestServerHost.Create(UseEpoll, new TestServerOptions(), MapHello);

        var factories = server.App.Services.GetServices<IConnectionListenerFactory>().ToList();

        var socketsIndex = factories.FindIndex(f => f.GetType().FullName == SocketTransportFactoryTypeName);
        var epollIndex = factories.FindIndex(f => f is EpollTransportFactory);
        Assert.True(socketsIndex >= 0, "Kestrel's Sockets transport is not registered: " + string.Join(", ", factories.Select(f => f.GetType().FullName)));
        Assert.True(epollIndex > socketsIndex, $"Epoll is registered at {epollIndex}, not after Sockets at {socketsIndex}; Kestrel tries the last one first.");
        Assert.Single(factories, f => f is EpollTransportFactory);
        Assert.IsType<EpollTransportFactory>(server.App.Services.GetService<IConnectionListenerFactory>());
    }

    [Fact]
    public async Task UseEpollTransport_CalledTwice_RegistersFactoryOnceAndAppliesBothConfigurations()
    {
        TransportConfigurator useTwice = (builder, _) =>
        {
            builder.UseEpollTransport(o => o.ReactorCount = 3);
            builder.UseEpollTransport(o => o.Backlog = 77);
        };
        await using var server = TestServerHost.Create(useTwice, new TestServerOptions(), MapHello);

        Assert.Single(server.App.Services.GetServices<IConnectionListenerFactory>(), f => f is EpollTransportFactory);
        var options = server.App.Services.GetRequiredService<IOptions<EpollTransportOptions>>().Value;
        Assert.Equal(3, options.ReactorCount);
        Assert.Equal(77, options.Backlog);

        // Twice registered would mean two listeners racing for one port: the server would not even start.
        await server.StartAsync();
        await AssertHelloAsync(server);
    }

    [Fact]
    public void Options_Defaults_MatchSocketTransportOptions()
    {
        var epoll = new EpollTransportOptions();
        var sockets = new SocketTransportOptions();

        Assert.Equal(Math.Max(1, Environment.ProcessorCount / 2), epoll.ReactorCount); // Sockets' IOQueueCount differs: see README
        Assert.Equal(Environment.ProcessorCount, new EpollTransportOptions { UnsafePreferInlineScheduling = true }.ReactorCount);
        Assert.Equal(sockets.NoDelay, epoll.NoDelay);
        Assert.Equal(sockets.Backlog, epoll.Backlog);
        Assert.Equal(sockets.MaxReadBufferSize, epoll.MaxReadBufferSize);
        Assert.Equal(sockets.MaxWriteBufferSize, epoll.MaxWriteBufferSize);
        Assert.Equal(sockets.UnsafePreferInlineScheduling, epoll.UnsafePreferInlineScheduling);
        Assert.Equal(64, epoll.FileDescriptorReserve); // Sockets has none: it accepts until EMFILE
        Assert.Equal(TimeSpan.FromMicroseconds(50), epoll.ReactorSpinDuration); // Sockets' engine thread never polls
    }

    [Theory]
    [InlineData(nameof(ReactorTransportOptions.ReactorCount), 0)]
    [InlineData(nameof(ReactorTransportOptions.ReactorCount), -1)]
    [InlineData(nameof(ReactorTransportOptions.ReactorCount), 1025)]
    [InlineData(nameof(ReactorTransportOptions.Backlog), 0)]
    [InlineData(nameof(ReactorTransportOptions.Backlog), -5)]
    [InlineData(nameof(ReactorTransportOptions.MaxReadBufferSize), -1)]
    [InlineData(nameof(ReactorTransportOptions.MaxWriteBufferSize), -1)]
    [InlineData(nameof(ReactorTransportOptions.FileDescriptorReserve), -1)]
    [InlineData(nameof(ReactorTransportOptions.FileDescriptorReserve), 1_048_577)]
    [InlineData(nameof(ReactorTransportOptions.ReactorSpinDuration), -1)] // microseconds, here and below
    [InlineData(nameof(ReactorTransportOptions.ReactorSpinDuration), 1001)]
    public void Options_InvalidValue_ThrowsArgumentOutOfRangeNamingTheOption(string option, long value)
    {
        var options = new EpollTransportOptions();

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Set(options, option, value));

        Assert.Equal(option, error.ParamName);
        Assert.Contains(option, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(nameof(ReactorTransportOptions.ReactorCount), 1)]
    [InlineData(nameof(ReactorTransportOptions.ReactorCount), 1024)]
    [InlineData(nameof(ReactorTransportOptions.Backlog), 1)]
    [InlineData(nameof(ReactorTransportOptions.MaxReadBufferSize), 0)]
    [InlineData(nameof(ReactorTransportOptions.MaxWriteBufferSize), 0)]
    [InlineData(nameof(ReactorTransportOptions.FileDescriptorReserve), 0)]
    [InlineData(nameof(ReactorTransportOptions.FileDescriptorReserve), 1_048_576)]
    [InlineData(nameof(ReactorTransportOptions.ReactorSpinDuration), 0)]
    [InlineData(nameof(ReactorTransportOptions.ReactorSpinDuration), 1000)]
    public void Options_BoundaryValue_IsAccepted(string option, long value)
    {
        var options = new EpollTransportOptions();

        Set(options, option, value);

        Assert.Equal(value, Get(options, option));
    }

    [Fact]
    public void Options_NullBufferSizes_AreAcceptedAsUnlimited()
    {
        var options = new EpollTransportOptions { MaxReadBufferSize = null, MaxWriteBufferSize = null };

        Assert.Null(options.MaxReadBufferSize);
        Assert.Null(options.MaxWriteBufferSize);
    }

    [Fact]
    public async Task UseEpollTransport_InvalidValueInConfigure_StartupFailsNamingTheOption()
    {
        // Building the host already resolves Kestrel's transport factories, so the failure may come from the
        // build or from the start; either way the application never serves with an invalid option.
        var error = await Assert.ThrowsAnyAsync<ArgumentOutOfRangeException>(async () =>
        {
            await using var server = TestServerHost.Create((builder, _) => builder.UseEpollTransport(o => o.ReactorCount = 0), new TestServerOptions(), MapHello);
            await server.StartAsync();
        });

        Assert.Equal(nameof(ReactorTransportOptions.ReactorCount), error.ParamName);
    }

    [Fact]
    public void CanBind_IPEndPoints_TrueWhereSupported()
    {
        var factory = CreateFactory();

        Assert.Equal(EpollTransportFactory.IsSupported, factory.CanBind(new IPEndPoint(IPAddress.Loopback, 0)));
        Assert.Equal(EpollTransportFactory.IsSupported, factory.CanBind(new IPEndPoint(IPAddress.IPv6Loopback, 0)));
    }

    [Fact]
    public void CanBind_UnixSocketAndFileHandle_TrueWhereSupported_OtherEndPointsFalse()
    {
        var factory = CreateFactory();

        Assert.Equal(EpollTransportFactory.IsSupported, factory.CanBind(new UnixDomainSocketEndPoint(Path.Combine(Path.GetTempPath(), "epoll-canbind.sock"))));
        Assert.Equal(EpollTransportFactory.IsSupported, factory.CanBind(new FileHandleEndPoint(3, FileHandleType.Tcp)));
        Assert.False(factory.CanBind(new NamedPipeEndPoint("epoll-canbind")));
        Assert.False(factory.CanBind(new DnsEndPoint("localhost", 80)));
    }

    [Theory]
    [InlineData(1, false, true)]
    [InlineData(1, true, true)]
    [InlineData(4, true, false)]
    public async Task Options_NonDefaultCombination_ServesPipelinedRequestsAndLargeBody(int reactorCount, bool inlineScheduling, bool noDelay)
    {
        TransportConfigurator configure = (builder, _) => builder.UseEpollTransport(o =>
        {
            o.ReactorCount = reactorCount;
            o.UnsafePreferInlineScheduling = inlineScheduling;
            o.NoDelay = noDelay;
            o.MaxWriteBufferSize = 16 * 1024;
        });
        await using var server = TestServerHost.Create(configure, new TestServerOptions(), app =>
        {
            MapHello(app);
            app.MapPost("/sha256", (RequestDelegate)(async ctx =>
            {
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[16 * 1024];
                int read;
                while ((read = await ctx.Request.Body.ReadAsync(buffer)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                }
                // Echoing the hash as a large body exercises the small write buffer too.
                var hex = Encoding.ASCII.GetBytes(Convert.ToHexString(hash.GetHashAndReset()));
                for (var i = 0; i < 4096; i++)
                {
                    await ctx.Response.Body.WriteAsync(hex);
                }
            }));
        });
        await server.StartAsync();

        using var client = await server.ConnectAsync();
        await client.SendAsync(string.Concat(Enumerable.Repeat("GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n", 8)));
        for (var i = 0; i < 8; i++)
        {
            var hello = await client.ReadResponseAsync();
            Assert.Equal("hello", hello.BodyText);
        }

        var body = TestData.RandomBytes(4 * TestData.MiB, seed: reactorCount);
        await client.SendAsync($"POST /sha256 HTTP/1.1\r\nHost: localhost\r\nContent-Length: {body.Length}\r\n\r\n");
        await client.SendAsync(body);
        var response = await client.ReadResponseAsync();

        Assert.Equal(200, response.StatusCode);
        Assert.Equal(string.Concat(Enumerable.Repeat(TestData.Sha256Hex(body), 4096)), response.BodyText);
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public async Task NoDelay_AcceptedConnections_HaveTcpNoDelayAsConfigured(bool noDelay, bool inheritedListenerWithout)
    {
        // Arrange: the transport sets TCP_NODELAY on its own listening socket, which accepted sockets copy; an
        // inherited listening socket (systemd) is never changed, so there the first connection shows that it lacks
        // the option and every connection gets it set.
        using var inherited = inheritedListenerWithout ? new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) : null;
        inherited?.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var noDelayOfEach = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var options = new TestServerOptions
        {
            ListenHandle = inherited is null ? null : (ulong)inherited.Handle,
            ConnectionMiddleware = next => connection =>
            {
                // Recorded here, asserted below: an assertion failing on the server would only show as a failed request.
                noDelayOfEach.Enqueue(connection is Epoll.Internal.EpollConnection epoll
                    ? Epoll.Internal.Interop.SocketApi.GetNoDelay(epoll.FileDescriptor, out bool on) == SocketError.Success ? $"{on}" : "getsockopt failed"
                    : $"served by {connection.GetType().Name}");
                return next(connection);
            },
        };
        await using var server = TestServerHost.Create((builder, _) => builder.UseEpollTransport(o => o.NoDelay = noDelay), options, MapHello);
        await server.StartAsync();

        // Act: several connections; only the first one checks where the option comes from.
        for (int i = 0; i < 3; i++)
        {
            await AssertHelloAsync(server);
        }

        // Assert
        Assert.Equal(3, noDelayOfEach.Count);
        Assert.All(noDelayOfEach, on => Assert.Equal($"{noDelay}", on));
        if (inherited is not null)
        {
            Assert.Equal(0, (int)inherited.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.NoDelay)!);
        }
    }

    [Theory]
    [InlineData("127.0.0.1", false, "127.0.0.1")]
    [InlineData("::1", false, "::1")]
    [InlineData("0.0.0.0", false, null)]
    [InlineData("::", false, null)]
    [InlineData("::ffff:0.0.0.0", false, null)]
    [InlineData("127.0.0.1", true, null)]
    public void AcceptedLocalEndPoint_KnownOnlyForAListenerThisTransportBoundToOneAddress(string address, bool inherited, string? expected)
    {
        // A wildcard's connections each have the address they came in on; an inherited listener may carry options
        // that change it (IP_TRANSPARENT): both ask the kernel per connection (null here).
        using var handle = new Epoll.Internal.FileDescriptorHandle(-1, ownsFd: false);
        var ip = IPAddress.Parse(address);
        var listener = new Epoll.Internal.EpollListenSocket(handle, new IPEndPoint(ip, 8080), ip.AddressFamily, SocketFile: null, inherited);

        var accepted = listener.AcceptedLocalEndPoint();

        Assert.Equal(expected is null ? null : new IPEndPoint(IPAddress.Parse(expected), 8080), accepted);
    }

    private static EpollTransportFactory CreateFactory() =>
        new(Options.Create(new EpollTransportOptions()), NullLoggerFactory.Instance);

    private static void MapHello(WebApplication app) =>
        app.MapGet("/hello", (RequestDelegate)(ctx => ctx.Response.WriteAsync("hello")));

    private static async Task AssertHelloAsync(TestServerHost server)
    {
        using var client = server.CreateHttpClient();
        Assert.Equal("hello", await client.GetStringAsync(new Uri("/hello", UriKind.Relative)).WithTimeout());
    }

    private static void Set(EpollTransportOptions options, string option, long value)
    {
        switch (option)
        {
            case nameof(ReactorTransportOptions.ReactorCount):
                options.ReactorCount = checked((int)value);
                break;
            case nameof(ReactorTransportOptions.Backlog):
                options.Backlog = checked((int)value);
                break;
            case nameof(ReactorTransportOptions.MaxReadBufferSize):
                options.MaxReadBufferSize = value;
                break;
            case nameof(ReactorTransportOptions.MaxWriteBufferSize):
                options.MaxWriteBufferSize = value;
                break;
            case nameof(ReactorTransportOptions.FileDescriptorReserve):
                options.FileDescriptorReserve = checked((int)value);
                break;
            case nameof(ReactorTransportOptions.ReactorSpinDuration):
                options.ReactorSpinDuration = TimeSpan.FromMicroseconds(value);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(option), option, "Not an option of the test.");
        }
    }

    private static long? Get(EpollTransportOptions options, string option) => option switch
    {
        nameof(ReactorTransportOptions.ReactorCount) => options.ReactorCount,
        nameof(ReactorTransportOptions.Backlog) => options.Backlog,
        nameof(ReactorTransportOptions.MaxReadBufferSize) => options.MaxReadBufferSize,
        nameof(ReactorTransportOptions.MaxWriteBufferSize) => options.MaxWriteBufferSize,
        nameof(ReactorTransportOptions.FileDescriptorReserve) => options.FileDescriptorReserve,
        nameof(ReactorTransportOptions.ReactorSpinDuration) => (long)options.ReactorSpinDuration.TotalMicroseconds,
        _ => throw new ArgumentOutOfRangeException(nameof(option), option, "Not an option of the test."),
    };
}
