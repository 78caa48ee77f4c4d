using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace WebApp;

/// <summary>
/// Once the server has bound everything: logs one line per endpoint with its real address and fills
/// <see cref="SampleEndpoints"/>, so people (and the benchmark script) see which transport serves what, and tests
/// find the ports.
/// </summary>
internal sealed class StartupReport(
    IServer server,
    SampleOptions options,
    SampleListeners listeners,
    H2cHandOff h2cHandOff,
    SampleEndpoints endpoints,
    ILoggerFactory loggerFactory)
{
    private readonly ILogger _logger = loggerFactory.CreateLogger(Log.Category);

    public void OnStarted()
    {
        var echo = listeners.Echo?.IPEndPoint;
        var chat = listeners.Chat?.IPEndPoint;

        // Kestrel lists every bound endpoint here: the raw TCP ones too (as http://; they get their own lines
        // below), the in-process h2c one (not reachable from outside, so not reported) and Kestrel:Endpoints.
        var reportedApart = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { h2cHandOff.Address };
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
        foreach (var address in server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [])
        {
            if (reportedApart.Contains(address))
            {
                continue;
            }

            if (transport.WhyNotServing(address) is { } reason)
            {
                Log.TransportFallback(_logger, transport.Name, reason, address);
            }
            else
            {
                Log.TransportServes(_logger, transport.Name, address);
            }

            if (address.StartsWith("http://", StringComparison.OrdinalIgnoreCase)
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
            https is null ? null : new Uri("https://" + https),
            options.UnixSocketPath,
            echo is null ? null : new IPEndPoint(echo.Address, echo.Port),
            chat is null ? null : new IPEndPoint(chat.Address, chat.Port),
            listeners.Certificate);
    }
}
