using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace WebApp;

/// <summary>
/// Binds every endpoint the options ask for, in code, and keeps the <see cref="ListenOptions"/> of the extra ones:
/// Kestrel writes the bound endpoint back into them, which is how the real port of a port-0 endpoint is found.
/// </summary>
/// <remarks>
/// The HTTP URLs are bound here too, not left to <c>--urls</c>: Kestrel ignores configured URLs (and warns
/// "Overriding address(es)") as soon as one endpoint is bound in code. Endpoints under <c>Kestrel:Endpoints</c>
/// are still bound by Kestrel itself, next to these.
/// </remarks>
internal sealed class SampleListeners(SampleOptions options, X509Certificate2? generatedCertificate)
{
    public ListenOptions? H2c { get; private set; }

    public ListenOptions? Https { get; private set; }

    public ListenOptions? Echo { get; private set; }

    public ListenOptions? Chat { get; private set; }

    /// <summary>The certificate the <c>--https-port</c> endpoint serves, once bound.</summary>
    public X509Certificate2? Certificate { get; private set; }

    public void Configure(KestrelServerOptions kestrel)
    {
        foreach (var address in options.HttpAddresses)
        {
            Bind(kestrel, address);
        }

        if (options.UnixSocketPath is { } path)
        {
            kestrel.ListenUnixSocket(path, UseHttp1);
        }

        if (options.ActivatedBySystemd)
        {
            // Socket activation: every listening socket systemd passed (fd 3 on), served by the chosen transport.
            kestrel.UseSystemd(UseHttp1);
        }

        if (options.H2cPort is { } h2cPort)
        {
            kestrel.Listen(IPAddress.Loopback, h2cPort, listen =>
            {
                H2c = listen;
                listen.Protocols = HttpProtocols.Http2;
            });
        }

        if (options.HttpsPort is { } httpsPort)
        {
            kestrel.Listen(IPAddress.Loopback, httpsPort, listen =>
            {
                Https = listen;
                Certificate = UseHttps(listen);
            });
        }

        if (options.EchoPort is { } echoPort)
        {
            kestrel.Listen(IPAddress.Loopback, echoPort, listen =>
            {
                Echo = listen;
                listen.UseConnectionHandler<EchoConnectionHandler>();
            });
        }

        if (options.ChatPort is { } chatPort)
        {
            kestrel.Listen(IPAddress.Loopback, chatPort, listen =>
            {
                Chat = listen;
                listen.UseConnectionHandler<LineChatConnectionHandler>();
            });
        }
    }

    /// <summary>Binds one URL the way Kestrel binds the same URL from <c>--urls</c>.</summary>
    private void Bind(KestrelServerOptions kestrel, BindingAddress address)
    {
        Action<ListenOptions> configure = SampleOptions.IsHttps(address) ? listen => UseHttps(listen) : UseHttp1;
        if (address.IsUnixPipe)
        {
            kestrel.ListenUnixSocket(address.UnixPipePath, configure);
        }
        else if (string.Equals(address.Host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            kestrel.ListenLocalhost(address.Port, configure);
        }
        else if (IPAddress.TryParse(address.Host, out var ip))
        {
            kestrel.Listen(ip, address.Port, configure);
        }
        else
        {
            // "*", "+" or a host name: every interface, IPv6 and IPv4, as Kestrel does for such URLs.
            kestrel.ListenAnyIP(address.Port, configure);
        }
    }

    /// <summary>
    /// Cleartext HTTP/1.1. Saying so explicitly, because allowing HTTP/2 as well would change nothing: without TLS
    /// Kestrel cannot negotiate the protocol, serves HTTP/1.1 only and warns at start-up. Cleartext HTTP/2 (h2c,
    /// prior knowledge) has an endpoint of its own, <c>--h2c-port</c>.
    /// </summary>
    private static void UseHttp1(ListenOptions listen) => listen.Protocols = HttpProtocols.Http1;

    private X509Certificate2? UseHttps(ListenOptions listen)
    {
        // Over TLS the client picks the protocol by ALPN.
        listen.Protocols = HttpProtocols.Http1AndHttp2;
        if (generatedCertificate is not null)
        {
            listen.UseHttps(generatedCertificate);
            return generatedCertificate;
        }

        // Kestrel:Certificates:Default is configured: UseHttps applies it (after this callback has run), so the
        // options object is kept to read the certificate Kestrel chose.
        HttpsConnectionAdapterOptions? https = null;
        listen.UseHttps(adapterOptions => https = adapterOptions);
        return https?.ServerCertificate;
    }
}
