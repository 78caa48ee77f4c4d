using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll;
using Reactors.AspNetCore.Server.Kestrel.Transport.IoUring;
using Reactors.AspNetCore.Server.Kestrel.Transport.Select;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests;

/// <summary>
/// The send hand-off on real reactors, two of them, with the reactors polling before they block (the default) and
/// without: a lone response written by a thread the transport does not know, one flushed by a thread-pool thread
/// while the reactors are idle, and one written right after the previous one (a reactor still polling). Each goes
/// out promptly on every connection, whichever reactor serves it.
/// </summary>
public sealed class ReactorHandOffTests
{
    private const int Connections = 4; // spread round-robin over both reactors
    private const int RequestsPerConnection = 25;

    // Far above a healthy hand-off (well under a millisecond), far below "never".
    private static readonly TimeSpan Promptly = TimeSpan.FromSeconds(2);

    public static TheoryData<string, bool> Configurations => new()
    {
        { "epoll", true }, { "epoll", false }, { "iouring", true }, { "iouring", false }, { "select", true }, { "select", false },
    };

    [Theory]
    [MemberData(nameof(Configurations))]
    public async Task LoneResponse_WrittenFromForeignThread_TwoReactors_ReachesClientPromptly(string transport, bool spin)
    {
        await using var server = await StartAsync(transport, spin, app => app.MapGet("/foreign", (RequestDelegate)(async ctx =>
        {
            await ForeignThread.RunAsync(() =>
            {
                ctx.Response.ContentLength = 7;
                ctx.Response.Body.WriteAsync("foreign"u8.ToArray()).AsTask().GetAwaiter().GetResult();
                ctx.Response.Body.FlushAsync().GetAwaiter().GetResult();
            }).WaitAsync(TimeoutExtensions.DefaultTimeout);
        })));

        await AssertEveryResponsePromptAsync(server, "/foreign", "foreign");
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public async Task LoneResponse_FlushedOnThreadPool_TwoReactors_ReachesClientPromptly(string transport, bool spin)
    {
        await using var server = await StartAsync(transport, spin,
            app => app.MapGet("/pool", (RequestDelegate)(ctx => ctx.Response.WriteAsync("pool"))));

        await AssertEveryResponsePromptAsync(server, "/pool", "pool");
    }

    private static async Task<TestServerHost> StartAsync(string transport, bool spin, Action<WebApplication> configureApp)
    {
        TimeSpan spinDuration = spin ? ReactorTransportOptions.DefaultReactorSpinDuration : TimeSpan.Zero;
        TransportConfigurator use = transport switch
        {
            "epoll" => (builder, _) => builder.UseEpollTransport(o => { o.ReactorCount = 2; o.ReactorSpinDuration = spinDuration; }),
            "iouring" => (builder, _) => builder.UseIoUringTransport(o => { o.ReactorCount = 2; o.ReactorSpinDuration = spinDuration; }),
            _ => (builder, _) => builder.UseSelectTransport(o => { o.ReactorCount = 2; o.ReactorSpinDuration = spinDuration; }),
        };
        var server = TestServerHost.Create(use, new TestServerOptions(), configureApp);
        await server.StartAsync();
        return server;
    }

    /// <summary>
    /// Requests one at a time on each connection: a lone response each. With polling on, most find the reactor still
    /// polling after the previous one; with it off, every one finds it blocked in its wait.
    /// </summary>
    private static async Task AssertEveryResponsePromptAsync(TestServerHost server, string path, string body)
    {
        var clients = new List<RawClient>();
        try
        {
            for (int i = 0; i < Connections; i++)
            {
                clients.Add(await server.ConnectAsync());
            }
            foreach (var client in clients)
            {
                for (int i = 0; i < RequestsPerConnection; i++)
                {
                    await client.SendAsync($"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
                    var response = await client.ReadResponseAsync().WaitAsync(Promptly);
                    Assert.Equal(200, response.StatusCode);
                    Assert.Equal(body, response.BodyText);
                }
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }
}
