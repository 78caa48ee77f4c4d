using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Sample;

// Byte streams: GET /bytes/{count} (byte i is i % 251, Content-Length set, 0..1 GiB) and POST /echo (the body back).
public abstract partial class SampleTests
{
    private const long BytesLimit = 1024L * 1024 * 1024;
    private const int PatternPeriod = 251;

    [Fact]
    public async Task Bytes_Get16MiB_StreamsThePatternWithContentLength()
    {
        // Arrange
        const long Count = 16 * TestData.MiB;
        var server = await StartAsync();
        using var client = server.CreateHttpClient();

        // Act
        using var response = await client.GetAsync(BytesUri(Count), HttpCompletionOption.ResponseHeadersRead).WithTimeout();

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/octet-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(Count, response.Content.Headers.ContentLength);
        await AssertBytesPatternAsync(response, Count);
    }

    [Theory]
    [InlineData(-1L)]
    [InlineData(BytesLimit + 1)]
    public async Task Bytes_CountOutOfRange_Returns400NamingTheLimit(long count)
    {
        // Arrange
        var server = await StartAsync();
        using var client = server.CreateHttpClient();

        // Act
        using var response = await client.GetAsync(BytesUri(count)).WithTimeout();
        var message = await response.Content.ReadAsStringAsync().WithTimeout();

        // Assert
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.True(
            message.Contains("1073741824", StringComparison.Ordinal) || message.Contains("1 GiB", StringComparison.OrdinalIgnoreCase),
            $"The message does not name the limit (1073741824 bytes, 1 GiB): '{message}'.");
    }

    [Fact]
    public async Task Bytes_CountAtBothBounds_Accepted()
    {
        // Arrange
        var server = await StartAsync();
        using var client = server.CreateHttpClient();

        // Act
        using var empty = await client.GetAsync(BytesUri(0)).WithTimeout();
        using var limit = await client.GetAsync(BytesUri(BytesLimit), HttpCompletionOption.ResponseHeadersRead).WithTimeout();

        // Assert: the empty body is complete; of the 1 GiB the start is checked and the rest abandoned, which
        // ends the connection under the server's writes: the app and transport must take that quietly.
        Assert.Equal(HttpStatusCode.OK, empty.StatusCode);
        Assert.Equal(0, empty.Content.Headers.ContentLength);
        Assert.Empty(await empty.Content.ReadAsByteArrayAsync().WithTimeout());
        Assert.Equal(HttpStatusCode.OK, limit.StatusCode);
        Assert.Equal(BytesLimit, limit.Content.Headers.ContentLength);
        await using var stream = await limit.Content.ReadAsStreamAsync().WithTimeout();
        var start = new byte[TestData.MiB];
        await stream.ReadExactlyAsync(start).WithTimeout();
        AssertPatternAt(0, start);
    }

    [Fact]
    public async Task Echo_Post16MiBOverHttp11_ReturnsIdenticalBytes()
    {
        // Arrange: HttpClient cannot do this over HTTP/1.1, as it sends the whole request before it reads any of
        // a response that started early, and a streaming echo starts early. A raw client sends and reads at once.
        var body = TestData.RandomBytes(16 * TestData.MiB, seed: 11);
        var server = await StartAsync();
        using var client = await RawClient.ConnectAsync(new IPEndPoint(IPAddress.Parse(server.HttpAddress.Host), server.HttpAddress.Port));

        // Act
        await client.SendAsync(string.Create(CultureInfo.InvariantCulture,
            $"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: {body.Length}\r\n\r\n"));
        var send = client.SendAsync(body);
        var response = await client.ReadResponseAsync();
        await send.WithTimeout();

        // Assert
        Assert.Equal(200, response.StatusCode);
        Assert.StartsWith("application/octet-stream", response.Headers["Content-Type"], StringComparison.Ordinal);
        Assert.Equal(body.Length, response.Body.Length);
        Assert.Equal(TestData.Sha256Hex(body), TestData.Sha256Hex(response.Body));
    }

    [Fact]
    public async Task Echo_Post16MiBOverH2c_ReturnsIdenticalBytes()
    {
        // Arrange
        var body = TestData.RandomBytes(16 * TestData.MiB, seed: 2);
        var server = await StartAsync("--h2c-port", "0");
        using var client = CreateH2cClient(server);
        using var request = EchoRequest(client, new DuplexContent(body, body.Length, stall: false));

        // Act: over HTTP/2 HttpClient is full duplex (with content of its own type: it sends ByteArrayContent
        // whole before it returns the response, which a streaming echo of 16 MiB would deadlock on), so the
        // echo is read while the body is still being sent.
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WithTimeout();

        // Assert
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/octet-stream", response.Content.Headers.ContentType?.MediaType);
        var (length, sha256) = await HashAsync(response);
        Assert.Equal(body.Length, length);
        Assert.Equal(TestData.Sha256Hex(body), sha256);
    }

    [Fact]
    public async Task Echo_PostDeclaringOneGiB_EchoesTheFirstBytesBeforeTheBodyEnds()
    {
        // Arrange: the body declares the 1 GiB the endpoint allows (far above Kestrel's 30 MB default) and
        // sends 64 KiB of it; only a streaming echo with the raised limit answers before the rest comes.
        var server = await StartAsync("--h2c-port", "0");
        using var client = CreateH2cClient(server);
        var first = TestData.RandomBytes(64 * 1024, seed: 3);
        using var request = EchoRequest(client, new DuplexContent(first, BytesLimit, stall: true));
        using var cancel = new CancellationTokenSource();

        // Act
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token).WithTimeout();
        var echoed = new byte[first.Length];
        await using (var stream = await response.Content.ReadAsStreamAsync(cancel.Token).WithTimeout())
        {
            await stream.ReadExactlyAsync(echoed, cancel.Token).WithTimeout();
            // Gives up on the upload: the stream is reset, which the server must take quietly.
            await cancel.CancelAsync();
        }

        // Assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(first, echoed);
    }

    private static Uri BytesUri(long count) => new(string.Create(CultureInfo.InvariantCulture, $"/bytes/{count}"), UriKind.Relative);

    /// <summary>
    /// HTTP/2 with prior knowledge over cleartext (h2c) to the --h2c-port endpoint: no upgrade, no fallback to
    /// HTTP/1.1. (Kestrel speaks h2c only on an HTTP/2-only endpoint, so the sample has one of its own.)
    /// </summary>
    private static HttpClient CreateH2cClient(SampleServer server, SocketsHttpHandler? handler = null)
    {
        var client = server.CreateHttpClient(handler);
        client.BaseAddress = server.Endpoints.H2cAddress ?? throw new InvalidOperationException("The app has no h2c endpoint; start it with --h2c-port.");
        client.DefaultRequestVersion = HttpVersion.Version20;
        client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        return client;
    }

    /// <summary>A POST /echo in the client's default version (a request made by hand does not get it otherwise).</summary>
    private static HttpRequestMessage EchoRequest(HttpClient client, HttpContent content) =>
        new(HttpMethod.Post, new Uri("/echo", UriKind.Relative))
        {
            Content = content,
            Version = client.DefaultRequestVersion,
            VersionPolicy = client.DefaultVersionPolicy,
        };

    /// <summary>Reads the body while it streams and compares it with the /bytes pattern as it goes: nothing is buffered.</summary>
    private static async Task AssertBytesPatternAsync(HttpResponseMessage response, long count)
    {
        await using var stream = await response.Content.ReadAsStreamAsync().WithTimeout();
        var buffer = new byte[64 * 1024];
        long position = 0;
        int read;
        while ((read = await stream.ReadAsync(buffer).WithTimeout()) > 0)
        {
            Assert.True(position + read <= count, $"More than the {count} bytes asked for arrived.");
            AssertPatternAt(position, buffer.AsSpan(0, read));
            position += read;
        }
        Assert.Equal(count, position);
    }

    private static void AssertPatternAt(long position, ReadOnlySpan<byte> bytes)
    {
        for (var i = 0; i < bytes.Length; i++)
        {
            var expected = (byte)((position + i) % PatternPeriod);
            if (bytes[i] != expected)
            {
                Assert.Fail($"Byte {position + i} is {bytes[i]}, not {expected} (i % {PatternPeriod}).");
            }
        }
    }

    private static async Task<(long Length, string Sha256)> HashAsync(HttpResponseMessage response)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var stream = await response.Content.ReadAsStreamAsync().WithTimeout();
        var buffer = new byte[64 * 1024];
        long length = 0;
        int read;
        while ((read = await stream.ReadAsync(buffer).WithTimeout()) > 0)
        {
            hash.AppendData(buffer, 0, read);
            length += read;
        }
        return (length, Convert.ToHexString(hash.GetHashAndReset()));
    }

    /// <summary>
    /// A request body that HttpClient sends duplex over HTTP/2 (unlike its own content types): it declares
    /// <c>declaredLength</c>, sends <c>bytes</c> and then, when <c>stall</c>, waits to be cancelled.
    /// </summary>
    private sealed class DuplexContent(byte[] bytes, long declaredLength, bool stall) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            // Odd-sized writes, so frames and transport buffers do not line up with them.
            for (var offset = 0; offset < bytes.Length; offset += 65_537)
            {
                await stream.WriteAsync(bytes.AsMemory(offset, Math.Min(65_537, bytes.Length - offset)), cancellationToken);
            }
            await stream.FlushAsync(cancellationToken);
            if (stall)
            {
                await Task.Delay(TimeoutExtensions.DefaultTimeout, cancellationToken);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = declaredLength;
            return true;
        }
    }
}
