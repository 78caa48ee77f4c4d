using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace WebApp;

/// <summary>
/// Once the server has bound everything: logs one line per endpoint with its real address (preceded by one line
/// when inline scheduling is on) and fills <see cref="SampleEndpoints"/>, so people (and the benchmark script) see
/// which transport serves what, and how, and tests find the ports.
/// </summary>
internal sealed class StartupReport(
    IServer server,
    SampleOptions options,
    SampleListeners listeners,
    SampleEndpoints endpoints,
    ILoggerFactory loggerFactory)
{
    private readonly ILogger _logger = loggerFactory.CreateLogger(Log.Category);

    public void OnStarted()
    {
        var h2c = listeners.H2c?.IPEndPoint;
        var h2cAddress = h2c is null ? null : "http://" + h2c;
        var echo = listeners.Echo?.IPEndPoint;
        var chat = listeners.Chat?.IPEndPoint;

        // Kestrel lists every bound endpoint here, the raw TCP ones too (as http://; they get their own lines
        // below), and any from Kestrel:Endpoints.
        var reportedApart = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        if (echo is not null)
        {
            reportedApart.Add("http://" + echo);
        }

        if (chat is not null)
        {
            reportedApart.Add("http://" + chat);
        }

        var httpAddresses = new List<Uri>();
        var transport = options.Transport;
        if (options.UnsafePreferInlineScheduling)
        {
            Log.InlineSchedulingOn(_logger, transport.Name);
        }

        foreach (var address in server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [])
        {
            if (reportedApart.Contains(address))
            {
                continue;
            }

            // The h2c endpoint is http:// like the others but speaks HTTP/2 only, so its line says so, and it
            // is not among the HTTP/1.1 addresses.
            var isH2c = string.Equals(address, h2cAddress, StringComparison.OrdinalIgnoreCase);
            if (transport.WhyNotServing(address) is { } reason)
            {
                Log.TransportFallback(_logger, transport.Name, reason, isH2c ? "h2c " + address : address);
            }
            else if (isH2c)
            {
                Log.TransportServesH2c(_logger, transport.Name, address);
            }
            else
            {
                Log.TransportServes(_logger, transport.Name, address);
            }

            if (!isH2c
                && address.StartsWith("http://", StringComparison.OrdinalIgnoreCase)
                && !TransportChoice.IsUnixSocket(address)
                && Uri.TryCreate(address, UriKind.Absolute, out var uri))
            {
                httpAddresses.Add(uri);
            }
        }

        if (echo is not null)
        {
            Log.EchoServerListens(_logger, "tcp://" + echo);
        }

        if (chat is not null)
        {
            Log.ChatRoomListens(_logger, "tcp://" + chat);
        }

        var https = listeners.Https?.IPEndPoint;
        endpoints.Fill(
            httpAddresses,
            h2cAddress is null ? null : new Uri(h2cAddress),
            https is null ? null : new Uri("https://" + https),
            options.UnixSocketPath,
            echo is null ? null : new IPEndPoint(echo.Address, echo.Port),
            chat is null ? null : new IPEndPoint(chat.Address, chat.Port),
            listeners.Certificate);
    }
}
