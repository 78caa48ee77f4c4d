// A TechEmpower-shaped sample served by the reactor transports.
//
//   dotnet run --project samples/WebApp -c Release                      # epoll, http://127.0.0.1:5000
//   dotnet run --project samples/WebApp -c Release -- --transport sockets
//   TRANSPORT=sockets dotnet run --project samples/WebApp -c Release
//   dotnet run --project samples/WebApp -c Release -- --urls http://0.0.0.0:8080
//
//   GET /plaintext -> Hello, World!                  (text/plain)
//   GET /json      -> {"message":"Hello, World!"}    (application/json)

using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using WebApp;

var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
{
    Args = args,
    // The content root is the output folder, so appsettings.json (and its quiet log levels) is found however
    // the app is started: `dotnet run --project ...` from anywhere or `dotnet path/to/WebApp.dll`.
    ContentRootPath = AppContext.BaseDirectory,
});

var transportName = builder.Configuration[TransportChoice.ConfigurationKey];
if (!TransportChoice.TryFind(transportName, out var transport))
{
    Console.Error.WriteLine(TransportChoice.UnknownValueMessage(transportName!));
    return 2;
}

transport.Apply(builder.WebHost);

// Serve http://127.0.0.1:5000 unless --urls, ASPNETCORE_URLS, DOTNET_URLS, the urls/http_ports/https_ports keys
// or a Kestrel:Endpoints section say where to listen.
if (!HasConfiguredAddresses(builder.Configuration))
{
    builder.WebHost.UseUrls("http://127.0.0.1:5000");
}

builder.Services.ConfigureHttpJsonOptions(options =>
    options.SerializerOptions.TypeInfoResolverChain.Insert(0, AppJsonContext.Default));

var app = builder.Build();

app.MapGet("/plaintext", static () => TypedResults.Text("Hello, World!", "text/plain"));
app.MapGet("/json", static () => TypedResults.Json(new JsonMessage("Hello, World!"), AppJsonContext.Default.JsonMessage));

app.Lifetime.ApplicationStarted.Register(() =>
{
    var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("WebApp");
    var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
    foreach (var address in addresses)
    {
        if (transport.WhyNotServing(address) is { } reason)
        {
            Log.TransportFallback(logger, transport.Name, reason, address);
        }
        else
        {
            Log.TransportServes(logger, transport.Name, address);
        }
    }
});

await app.RunAsync();
return 0;

static bool HasConfiguredAddresses(IConfiguration configuration) =>
    !string.IsNullOrWhiteSpace(configuration[WebHostDefaults.ServerUrlsKey])
    || !string.IsNullOrWhiteSpace(configuration[WebHostDefaults.HttpPortsKey])
    || !string.IsNullOrWhiteSpace(configuration[WebHostDefaults.HttpsPortsKey])
    || configuration.GetSection("Kestrel:Endpoints").GetChildren().Any();

namespace WebApp
{
    internal sealed record JsonMessage(string Message);

    [JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
    [JsonSerializable(typeof(JsonMessage))]
    internal sealed partial class AppJsonContext : JsonSerializerContext;

    internal static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "{Transport} transport serves {Address}", EventName = "TransportServes")]
        public static partial void TransportServes(ILogger logger, string transport, string address);

        [LoggerMessage(2, LogLevel.Information,
            "{Transport} transport was requested but {Reason}; sockets transport serves {Address}",
            EventName = "TransportFallback")]
        public static partial void TransportFallback(ILogger logger, string transport, string reason, string address);
    }
}
