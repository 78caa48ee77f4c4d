using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll;
using Reactors.AspNetCore.Server.Kestrel.Transport.IoUring;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;
using Reactors.AspNetCore.Server.Kestrel.Transport.Select;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests;

/// <summary>
/// The transports' meters, read in process by a <see cref="MeterListener"/> the way dotnet-counters and
/// OpenTelemetry read them: every instrument is published under the transport's log category and counts what the
/// server did. (dotnet-counters against the sample out of process: <c>DotnetCountersTests</c>.)
/// </summary>
public sealed class ReactorMetricsTests
{
    private const int LargeResponse = 16 * 1024 * 1024;

    public static TheoryData<string> Transports => new() { "epoll", "iouring", "select" };

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Meter_AfterRequestsUploadsAndASlowDownload_EveryReactorInstrumentCounts(string transport)
    {
        string meterName = transport switch
        {
            "epoll" => EpollTransportFactory.LoggerCategory,
            "iouring" => IoUringTransportFactory.LoggerCategory,
            _ => SelectTransportFactory.LoggerCategory,
        };
        using var listener = new ValueListener(meterName);
        var options = new TestServerOptions { MaxReadBufferSize = 16 * 1024 };
        await using var server = TestServerHost.Create(Use(transport), options, MapApp);
        await server.StartAsync();

        // Requests (iterations, events, wake-ups, work items, sends); an upload the handler reads late (receive
        // pauses and resumes); a download read late (sends that hit a full socket buffer).
        for (int i = 0; i < 20; i++)
        {
            using var client = await server.ConnectAsync();
            await client.SendAsync("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
            Assert.Equal("hello", (await client.ReadResponseAsync()).BodyText);
        }
        using (var uploader = await server.ConnectAsync())
        {
            var body = TestData.RandomBytes(1024 * 1024, seed: 1);
            await uploader.SendAsync($"POST /late-read HTTP/1.1\r\nHost: x\r\nContent-Length: {body.Length}\r\n\r\n");
            await uploader.SendAsync(body);
            Assert.Equal($"{body.Length}", (await uploader.ReadResponseAsync()).BodyText);
        }
        using var downloader = await server.ConnectAsync();
        await downloader.SendAsync("GET /large HTTP/1.1\r\nHost: x\r\n\r\n");
        // The connection is still open while the values are read.
        var values = await listener.ReadEventuallyAsync(v => v.GetValueOrDefault("reactor.sends.would_block") > 0);
        await downloader.DiscardAsync(LargeResponse); // headers and body: at least that many bytes

        foreach (string instrument in (string[])["reactor.loop.iterations", "reactor.wait.events", "reactor.wakeups", "reactor.work_items",
            "reactor.sends", "reactor.sent", "reactor.sends.would_block", "reactor.receive.pauses", "reactor.receive.resumes", "reactor.connections"])
        {
            Assert.True(values.GetValueOrDefault(instrument) > 0, $"{instrument} = {values.GetValueOrDefault(instrument)}; all: {string.Join(", ", values)}");
        }
        // The sender counts its bytes after its send returns, which may be after the client has read them.
        long sentInAll = (await listener.ReadEventuallyAsync(v => v.GetValueOrDefault("reactor.sent") >= LargeResponse)).GetValueOrDefault("reactor.sent");
        Assert.True(sentInAll >= LargeResponse, $"reactor.sent = {sentInAll} once the download was read");
        // Twenty requests one after another: the reactor polled between some of them (ReactorSpinDuration).
        Assert.True(values.GetValueOrDefault("reactor.wait.spins") > 0, $"reactor.wait.spins = 0; all: {string.Join(", ", values)}");
        Assert.Contains("reactor.wait.spins.found_work", listener.Published);
        Assert.Contains("reactor.accept.backoffs", listener.Published);
        Assert.Contains("reactor.accept.pauses", listener.Published);
    }

    [Fact]
    public void Meter_ListenerCounters_AcceptBackoffsAndPausesAreReported()
    {
        // Back-offs and pauses need the process to run out of descriptors, which a test process must not do;
        // AcceptThrottle's tests drive the pause itself, this checks that the meter reports what was counted.
        using var meter = new Meter("test.reactor.metrics");
        var counters = new ListenerCounters();
        _ = new ReactorMetrics(meter, counters);
        using var listener = new ValueListener(meter.Name);
        counters.OnAcceptBackoff();
        counters.OnAcceptBackoff();
        counters.OnAcceptPause();

        var values = listener.Read();

        Assert.Equal(2, values["reactor.accept.backoffs"]);
        Assert.Equal(1, values["reactor.accept.pauses"]);
    }

    private static TransportConfigurator Use(string transport) => transport switch
    {
        "epoll" => (builder, max) => builder.UseEpollTransport(o => o.MaxReadBufferSize = max),
        "iouring" => (builder, max) => builder.UseIoUringTransport(o => o.MaxReadBufferSize = max),
        _ => (builder, max) => builder.UseSelectTransport(o => o.MaxReadBufferSize = max),
    };

    private static void MapApp(WebApplication app)
    {
        app.MapGet("/hello", (RequestDelegate)(ctx => ctx.Response.WriteAsync("hello")));
        app.MapPost("/late-read", (RequestDelegate)(async ctx =>
        {
            // Read only once the body has filled MaxReadBufferSize: the transport pauses, then resumes.
            await Task.Delay(200);
            long total = 0;
            var buffer = new byte[64 * 1024];
            int n;
            while ((n = await ctx.Request.Body.ReadAsync(buffer)) > 0)
            {
                total += n;
            }
            await ctx.Response.WriteAsync($"{total}");
        }));
        app.MapGet("/large", (RequestDelegate)(async ctx =>
        {
            ctx.Response.ContentLength = LargeResponse;
            var chunk = new byte[64 * 1024];
            for (int sent = 0; sent < LargeResponse; sent += chunk.Length)
            {
                await ctx.Response.Body.WriteAsync(chunk);
            }
        }));
    }

    /// <summary>Sums each long instrument of one meter over its tags, as a collection tool shows the total.</summary>
    private sealed class ValueListener : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentDictionary<string, long> _values = new();

        public ValueListener(string meterName)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == meterName)
                {
                    Published.Add(instrument.Name);
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => _values.AddOrUpdate(instrument.Name, value, (_, sum) => sum + value));
            _listener.Start();
        }

        public ConcurrentBag<string> Published { get; } = [];

        public Dictionary<string, long> Read()
        {
            _values.Clear();
            _listener.RecordObservableInstruments();
            return new Dictionary<string, long>(_values);
        }

        public async Task<Dictionary<string, long>> ReadEventuallyAsync(Func<Dictionary<string, long>, bool> condition)
        {
            var deadline = System.Diagnostics.Stopwatch.StartNew();
            while (true)
            {
                var values = Read();
                if (condition(values) || deadline.Elapsed > TimeSpan.FromSeconds(10))
                {
                    return values;
                }
                await Task.Delay(20);
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
