using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace WebApp;

/// <summary>
/// Where the running sample can be reached. A singleton in the application's services, filled once the server
/// has started (when <c>StartAsync</c> returns, or in <c>ApplicationStarted</c>), with the real ports when port 0
/// was asked for. Empty before that.
/// </summary>
public sealed class SampleEndpoints
{
    /// <summary>The cleartext HTTP/1.1 addresses bound on TCP (<c>--urls</c> or the default), as bound.</summary>
    public IReadOnlyList<Uri> HttpAddresses { get; private set; } = [];

    /// <summary>
    /// <c>http://127.0.0.1:PORT</c>, cleartext HTTP/2 only (prior knowledge, h2c), when <c>--h2c-port</c> was given.
    /// </summary>
    public Uri? H2cAddress { get; private set; }

    /// <summary><c>https://127.0.0.1:PORT</c> when <c>--https-port</c> was given.</summary>
    public Uri? HttpsAddress { get; private set; }

    /// <summary>The full path of the Unix domain socket when <c>--unix-socket</c> was given.</summary>
    public string? UnixSocketPath { get; private set; }

    /// <summary>The raw TCP echo server when <c>--echo-port</c> was given.</summary>
    public IPEndPoint? Echo { get; private set; }

    /// <summary>The raw TCP line chat room when <c>--chat-port</c> was given.</summary>
    public IPEndPoint? Chat { get; private set; }

    /// <summary>
    /// The certificate <c>--https-port</c> serves: the generated self-signed one, or the one configured under
    /// <c>Kestrel:Certificates:Default</c>. Null without <c>--https-port</c>.
    /// </summary>
    public X509Certificate2? Certificate { get; private set; }

    internal void Fill(
        IReadOnlyList<Uri> httpAddresses,
        Uri? h2cAddress,
        Uri? httpsAddress,
        string? unixSocketPath,
        IPEndPoint? echo,
        IPEndPoint? chat,
        X509Certificate2? certificate)
    {
        HttpAddresses = httpAddresses;
        H2cAddress = h2cAddress;
        HttpsAddress = httpsAddress;
        UnixSocketPath = unixSocketPath;
        Echo = echo;
        Chat = chat;
        Certificate = certificate;
    }
}
