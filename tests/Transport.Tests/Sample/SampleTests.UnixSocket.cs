using System.Net;
using System.Text;
using Microsoft.Extensions.Logging;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Sample;

// HTTP on a Unix domain socket (--unix-socket PATH), served by the transport under test.
public abstract partial class SampleTests
{
    /// <summary>sun_path holds 108 bytes on Linux, the terminating NUL included.</summary>
    private const int MaxUnixSocketPathBytes = 107;

    // Kestrel's Sockets transport and the reactor transports log a client's FIN with this id (Debug).
    private const int ReadFinEventId = 6;

    [Fact]
    public async Task UnixSocket_PlaintextAndOneMiB_ServedByTheTransportAndFileRemovedAfterStop()
    {
        // Arrange
        var path = NewUnixSocketPath();
        var server = await StartAsync("--unix-socket", path);
        Assert.Equal(path, server.Endpoints.UnixSocketPath);
        Assert.True(File.Exists(path), $"No socket file at {path} while the app runs.");

        // Act
        using (var client = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = (_, cancellationToken) => ClientConnections.ConnectUnixAsync(path, cancellationToken),
        })
        {
            BaseAddress = new Uri("http://localhost/"),
            Timeout = TimeoutExtensions.DefaultTimeout,
        })
        {
            using var plaintext = await client.GetAsync(new Uri("/plaintext", UriKind.Relative)).WithTimeout();
            Assert.Equal(HttpStatusCode.OK, plaintext.StatusCode);
            Assert.Equal("Hello, World!", await plaintext.Content.ReadAsStringAsync().WithTimeout());

            using var bytes = await client.GetAsync(BytesUri(TestData.MiB), HttpCompletionOption.ResponseHeadersRead).WithTimeout();
            Assert.Equal(HttpStatusCode.OK, bytes.StatusCode);
            Assert.Equal(TestData.MiB, bytes.Content.Headers.ContentLength);
            await AssertBytesPatternAsync(bytes, TestData.MiB);
        }

        // Assert: the transport under test served the socket, not a fallback. The app says so, and the client's
        // FIN (the HttpClient is disposed) is seen by this transport, the only one with a connection in this test.
        Assert.Contains(server.Logs.Entries, e => e.Category == "WebApp" && e.Message == $"{Transport} transport serves http://unix:{path}");
        await server.Logs.WaitForAsync(e => e.Category == TransportLogCategory && e.EventId.Id == ReadFinEventId).WithTimeout();

        await server.DisposeAsync();
        Assert.False(File.Exists(path), $"The socket file {path} is still there after the app stopped.");
    }

    /// <summary>A fresh path in the temporary folder, short enough for sun_path, where nothing exists yet.</summary>
    private static string NewUnixSocketPath()
    {
        var path = Path.Combine(Path.GetTempPath(), $"webapp-{Guid.NewGuid().ToString("N")[..12]}.sock");
        Assert.True(Encoding.UTF8.GetByteCount(path) <= MaxUnixSocketPathBytes, $"The socket path is too long: {path}");
        return path;
    }
}
