using System.Buffers;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests;

// Plain HTTP/1.1 traffic: the bytes must arrive complete, in order, and unchanged.
public abstract partial class ConformanceTests
{
    [Fact]
    public async Task Get_SimpleRequest_Returns200AndBody()
    {
        var server = await StartServerAsync(app =>
            app.MapGet("/hello", (RequestDelegate)(ctx => ctx.Response.WriteAsync("Hello, transport!"))));

        using var client = server.CreateHttpClient();
        using var response = await client.GetAsync(new Uri("/hello", UriKind.Relative)).WithTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Hello, transport!", await response.Content.ReadAsStringAsync().WithTimeout());
    }

    [Fact]
    public async Task Pipelining_SixteenRequestsInOneSend_AllResponsesArriveInOrder()
    {
        const int Count = 16;
        var server = await StartServerAsync(app =>
            app.MapGet("/item/{index:int}", (RequestDelegate)(ctx =>
            {
                // Sizes differ per request, so a response cut short or merged with its neighbour shows.
                var index = int.Parse((string)ctx.Request.RouteValues["index"]!, CultureInfo.InvariantCulture);
                return ctx.Response.WriteAsync(ExpectedItemBody(index));
            })));

        using var client = await server.ConnectAsync();
        var requests = new StringBuilder();
        for (var i = 0; i < Count; i++)
        {
            requests.Append(CultureInfo.InvariantCulture, $"GET /item/{i} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        }
        await client.SendAsync(requests.ToString());

        for (var i = 0; i < Count; i++)
        {
            var response = await client.ReadResponseAsync();
            Assert.Equal(200, response.StatusCode);
            Assert.Equal(ExpectedItemBody(i), response.BodyText);
        }
    }

    private static string ExpectedItemBody(int index) =>
        $"item {index}:" + new string((char)('a' + index), (index * 997) + 1);

    [Fact]
    public async Task RequestBody_16MiB_ServerSha256MatchesClient()
    {
        var server = await StartServerAsync(app =>
            app.MapPost("/sha256", (RequestDelegate)(async ctx =>
            {
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
                try
                {
                    long total = 0;
                    int read;
                    while ((read = await ctx.Request.Body.ReadAsync(buffer)) > 0)
                    {
                        hash.AppendData(buffer, 0, read);
                        total += read;
                    }
                    await ctx.Response.WriteAsync(
                        string.Create(CultureInfo.InvariantCulture, $"{total}:{Convert.ToHexString(hash.GetHashAndReset())}"));
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            })));
        var body = TestData.RandomBytes(16 * TestData.MiB, seed: 16);

        using var client = server.CreateHttpClient();
        using var content = new ByteArrayContent(body);
        using var response = await client.PostAsync(new Uri("/sha256", UriKind.Relative), content).WithTimeout();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal($"{body.Length}:{TestData.Sha256Hex(body)}", await response.Content.ReadAsStringAsync().WithTimeout());
    }

    [Fact]
    public async Task ResponseBody_16MiB_ClientSha256MatchesServer()
    {
        const int Length = 16 * TestData.MiB;
        var server = await StartServerAsync(app =>
            app.MapGet("/pattern", (RequestDelegate)(async ctx =>
            {
                ctx.Response.ContentLength = Length;
                // Odd-sized writes, so the transport sees writes that straddle its buffer boundaries.
                var chunk = new byte[65_537];
                for (long position = 0; position < Length; position += chunk.Length)
                {
                    var size = (int)Math.Min(chunk.Length, Length - position);
                    TestData.FillPattern(position, chunk.AsSpan(0, size));
                    await ctx.Response.Body.WriteAsync(chunk.AsMemory(0, size));
                }
            })));

        using var client = server.CreateHttpClient();
        using var response = await client.GetAsync(new Uri("/pattern", UriKind.Relative), HttpCompletionOption.ResponseHeadersRead).WithTimeout();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var stream = await response.Content.ReadAsStreamAsync().WithTimeout();
        var buffer = new byte[64 * 1024];
        long received = 0;
        int read;
        while ((read = await stream.ReadAsync(buffer).WithTimeout()) > 0)
        {
            hash.AppendData(buffer, 0, read);
            received += read;
        }

        Assert.Equal(Length, received);
        Assert.Equal(TestData.Sha256Hex(TestData.Pattern(Length)), Convert.ToHexString(hash.GetHashAndReset()));
    }
}
