using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Sample;

// HTTP/2: cleartext with prior knowledge (h2c) on the --h2c-port endpoint, and over TLS (ALPN) on --https-port with the
// sample's self-signed certificate, which the client pins by thumbprint instead of accepting anything.
public abstract partial class SampleTests
{
    [Fact]
    public async Task H2c_PriorKnowledge_PlaintextServedOverHttp2()
    {
        // Arrange
        var server = await StartAsync("--h2c-port", "0");
        using var client = server.CreateHttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(server.Endpoints.H2cAddress!, "/plaintext"))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };

        // Act
        using var response = await client.SendAsync(request).WithTimeout();

        // Assert
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("Hello, World!", await response.Content.ReadAsStringAsync().WithTimeout());
    }

    [Fact]
    public async Task H2c_HundredConcurrentRequests_AllSucceedOverOneConnection()
    {
        // Arrange: 100 is Kestrel's default limit of concurrent streams per connection.
        const int Count = 100;
        var server = await StartAsync("--h2c-port", "0");
        var connections = 0;
        using var client = CreateH2cClient(server, new SocketsHttpHandler
        {
            ConnectCallback = (context, cancellationToken) =>
                ClientConnections.ConnectTcpAsync(context.DnsEndPoint, _ => Interlocked.Increment(ref connections), cancellationToken),
        });

        // Act
        var responses = await Task.WhenAll(Enumerable.Range(0, Count).Select(async i =>
        {
            var path = i % 2 == 0 ? "/plaintext" : "/json";
            using var response = await client.GetAsync(new Uri(path, UriKind.Relative)).WithTimeout();
            return (Path: path, response.Version, response.StatusCode, Body: await response.Content.ReadAsStringAsync().WithTimeout());
        })).WithTimeout();

        // Assert
        Assert.All(responses, r =>
        {
            Assert.Equal(HttpVersion.Version20, r.Version);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.Equal(r.Path == "/plaintext" ? "Hello, World!" : """{"message":"Hello, World!"}""", r.Body);
        });
        Assert.Equal(1, Volatile.Read(ref connections));
    }

    [Fact]
    public async Task Https_SelfSignedCertificatePinned_AlpnNegotiatesH2AndOneMiBArrivesIntact()
    {
        // Arrange
        var server = await StartAsync("--https-port", "0");
        var httpsAddress = server.Endpoints.HttpsAddress;
        var certificate = server.Endpoints.Certificate;
        Assert.NotNull(httpsAddress);
        Assert.NotNull(certificate);
        Assert.Equal(Uri.UriSchemeHttps, httpsAddress.Scheme);
        Assert.Equal("127.0.0.1", httpsAddress.Host);
        Assert.NotEqual(0, httpsAddress.Port);
        AssertSelfSignedLocalhostCertificate(certificate);
        var validation = new PinnedCertificateValidation(certificate);
        using var client = CreateHttpsClient(httpsAddress, validation, HttpVersion.Version20);

        // Act
        using var plaintext = await client.GetAsync(new Uri("/plaintext", UriKind.Relative)).WithTimeout();
        using var bytes = await client.GetAsync(BytesUri(TestData.MiB), HttpCompletionOption.ResponseHeadersRead).WithTimeout();

        // Assert: the certificate was checked (and only a name-independent error, the unknown issuer, was found).
        Assert.True(validation.Calls > 0, "The server certificate was never validated.");
        Assert.Equal(SslPolicyErrors.None, validation.Errors & ~SslPolicyErrors.RemoteCertificateChainErrors);
        Assert.Equal(HttpVersion.Version20, plaintext.Version);
        Assert.Equal("Hello, World!", await plaintext.Content.ReadAsStringAsync().WithTimeout());
        Assert.Equal(HttpVersion.Version20, bytes.Version);
        Assert.Equal(TestData.MiB, bytes.Content.Headers.ContentLength);
        await AssertBytesPatternAsync(bytes, TestData.MiB);
    }

    [Fact]
    public async Task Https_Http11RequestedExactly_ServedOverHttp11()
    {
        // Arrange
        var server = await StartAsync("--https-port", "0");
        var validation = new PinnedCertificateValidation(server.Endpoints.Certificate!);
        using var client = CreateHttpsClient(server.Endpoints.HttpsAddress!, validation, HttpVersion.Version11);

        // Act
        using var response = await client.GetAsync(new Uri("/json", UriKind.Relative)).WithTimeout();

        // Assert
        Assert.True(validation.Calls > 0, "The server certificate was never validated.");
        Assert.Equal(HttpVersion.Version11, response.Version);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("""{"message":"Hello, World!"}""", await response.Content.ReadAsStringAsync().WithTimeout());
    }

    [Fact]
    public async Task Https_ClientPinsAnotherCertificate_HandshakeFails()
    {
        // Arrange: proves the pinning callback decides, so the tests above do not pass by accepting anything.
        var server = await StartAsync("--https-port", "0");
        // Same subject and names as the sample's, but another key: only the thumbprint tells them apart.
        var validation = new PinnedCertificateValidation(TestCertificate.Localhost);
        using var client = CreateHttpsClient(server.Endpoints.HttpsAddress!, validation, HttpVersion.Version20);

        // Act
        var error = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(new Uri("/plaintext", UriKind.Relative)).WithTimeout());

        // Assert
        Assert.IsType<AuthenticationException>(error.InnerException, exactMatch: false);
        Assert.True(validation.Calls > 0);
    }

    private static HttpClient CreateHttpsClient(Uri httpsAddress, PinnedCertificateValidation validation, Version version) =>
        new(new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = validation.Validate } })
        {
            BaseAddress = httpsAddress,
            DefaultRequestVersion = version,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeoutExtensions.DefaultTimeout,
        };

    /// <summary>What the contract promises of the generated certificate: CN=localhost, SAN localhost, 127.0.0.1 and ::1.</summary>
    private static void AssertSelfSignedLocalhostCertificate(X509Certificate2 certificate)
    {
        Assert.Equal("CN=localhost", certificate.Subject);
        var san = Assert.Single(certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>());
        Assert.Contains("localhost", san.EnumerateDnsNames());
        var addresses = san.EnumerateIPAddresses().ToList();
        Assert.Contains(IPAddress.Loopback, addresses);
        Assert.Contains(IPAddress.IPv6Loopback, addresses);
        Assert.True(certificate.NotBefore <= DateTime.Now && DateTime.Now <= certificate.NotAfter, "The certificate is not valid now.");
    }
}
