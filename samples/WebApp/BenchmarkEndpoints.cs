using System.Text.Json.Serialization;

namespace WebApp;

/// <summary>
/// The TechEmpower-shaped endpoints the benchmarks measure; kept as small as the TechEmpower rules allow so the
/// numbers show the transport, not the app.
/// </summary>
internal static class BenchmarkEndpoints
{
    public static void Map(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/plaintext", static () => TypedResults.Text("Hello, World!", "text/plain"));
        endpoints.MapGet("/json", static () => TypedResults.Json(new JsonMessage("Hello, World!"), AppJsonContext.Default.JsonMessage));
    }
}

internal sealed record JsonMessage(string Message);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(JsonMessage))]
internal sealed partial class AppJsonContext : JsonSerializerContext;
