using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests;

// TLS and HTTP/2 on top of the transport. HTTPS replaces the connection's Transport with an SslStream pipe, so
// these also prove the transport completes its own pipes, not the replacement, when Kestrel disposes it.
public abstract partial class ConformanceTests
{
    [Fact]
    public async Task Https_AlpnHttp2_ManyStreamsAndLargeBodiesIntact()
    {
        var server = await StartServerAsync(MapBodies, options =>
        {
            options.Certificate = TestCertificate.Localhost;
            options.Protocols = HttpProtocols.Http1AndHttp2;
        });
        Assert.Equal("https", server.BaseAddress.Scheme);

        using var client = server.CreateHttpClient();
        await AssertHttp2ExchangesAsync(client);
    }

    [Fact]
    public async Task Https_Http11Requested_ServedOverTls()
    {
        var server = await StartServerAsync(MapBodies, options =>
        {
            options.Certificate = TestCertificate.Localhost;
            options.Protocols = HttpProtocols.Http1AndHttp2;
        });

        using var client = server.CreateHttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/bytes/1048576", UriKind.Relative))
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        using var response = await client.SendAsync(request).WithTimeout();

        Assert.Equal(HttpVersion.Version11, response.Version);
        Assert.Equal(TestData.Pattern(TestData.MiB), await response.Content.ReadAsByteArrayAsync().WithTimeout());
    }

    [Fact]
    public async Task H2c_PriorKnowledge_ManyStreamsAndLargeBodiesIntact()
    {
        // Kestrel speaks cleartext HTTP/2 only on an Http2-only endpoint: without TLS there is no ALPN to choose
        // between versions, and it does not sniff the connection preface (it warns that Http1AndHttp2 means
        // HTTP/1.1 there).
        var server = await StartServerAsync(MapBodies, options => options.Protocols = HttpProtocols.Http2);

        using var client = server.CreateHttpClient();
        await AssertHttp2ExchangesAsync(client);
    }

    /// <summary>Fifty concurrent streams on one connection, then a large download and upload, all over HTTP/2.</summary>
    private static async Task AssertHttp2ExchangesAsync(HttpClient client)
    {
        client.DefaultRequestVersion = HttpVersion.Version20;
        client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;

        var small = await Task.WhenAll(Enumerable.Range(0, 50).Select(async i =>
        {
            using var response = await client.GetAsync(new Uri($"/bytes/{1000 + i}", UriKind.Relative));
            return (response.Version, Body: await response.Content.ReadAsByteArrayAsync());
        })).WithTimeout();
        for (int i = 0; i < small.Length; i++)
        {
            Assert.Equal(HttpVersion.Version20, small[i].Version);
            Assert.Equal(TestData.Pattern(1000 + i), small[i].Body);
        }

        const int Length = 4 * TestData.MiB;
        using (var download = await client.GetAsync(new Uri($"/bytes/{Length}", UriKind.Relative)).WithTimeout())
        {
            Assert.Equal(HttpVersion.Version20, download.Version);
            Assert.Equal(TestData.Pattern(Length), await download.Content.ReadAsByteArrayAsync().WithTimeout());
        }

        using var content = new ByteArrayContent(TestData.Pattern(Length));
        using var upload = await client.PostAsync(new Uri("/echo", UriKind.Relative), content).WithTimeout();
        Assert.Equal(HttpVersion.Version20, upload.Version);
        Assert.Equal(TestData.Pattern(Length), await upload.Content.ReadAsByteArrayAsync().WithTimeout());
    }

    private static void MapBodies(WebApplication app)
    {
        MapEcho(app);
        app.MapGet("/bytes/{count:int}", (RequestDelegate)(async ctx =>
        {
            int count = int.Parse((string)ctx.Request.RouteValues["count"]!, System.Globalization.CultureInfo.InvariantCulture);
            ctx.Response.ContentLength = count;
            await ctx.Response.Body.WriteAsync(TestData.Pattern(count), ctx.RequestAborted);
        }));
    }
}
