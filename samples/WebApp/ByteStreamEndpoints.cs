using System.Globalization;
using Microsoft.AspNetCore.Http.Metadata;

namespace WebApp;

/// <summary>
/// Bulk-data endpoints that exercise a transport's flow control in both directions: <c>GET /bytes/{count}</c>
/// streams a known pattern the client can verify without a reference file, and <c>POST /echo</c> streams the
/// request body straight back.
/// </summary>
internal static class ByteStreamEndpoints
{
    /// <summary>1 GiB: the largest body either endpoint moves.</summary>
    public const long MaxBytes = 1L << 30;

    private const string OctetStream = "application/octet-stream";

    /// <summary>The byte at offset i of every /bytes response is (byte)(i % PatternPeriod).</summary>
    private const int PatternPeriod = 251;

    // 261 periods, just under 64 KiB: because every full chunk is a whole number of periods, each chunk starts at
    // phase 0 and the same buffer serves the whole response, so a 1 GiB response costs no allocation at all.
    private static readonly byte[] s_pattern = CreatePattern(PatternPeriod * 261);

    public static void Map(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/bytes/{count}", SendBytesAsync);
        endpoints.MapPost("/echo", EchoAsync)
            .WithMetadata(new RequestSizeLimit(MaxBytes));
    }

    private static async Task SendBytesAsync(HttpContext context)
    {
        // The route takes any segment so that a bad count gets a 400 that explains itself, not a bare 404.
        var text = context.Request.RouteValues["count"] as string;
        if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var count) || count is < 0 or > MaxBytes)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync(
                $"count must be a whole number from 0 to {MaxBytes} (1 GiB); got '{text}'.\n", context.RequestAborted);
            return;
        }

        var response = context.Response;
        response.ContentType = OctetStream;
        response.ContentLength = count;

        var writer = response.BodyWriter;
        var remaining = count;
        while (remaining > 0)
        {
            var chunk = (int)Math.Min(remaining, s_pattern.Length);

            // WriteAsync waits while the client is behind, so memory stays at one chunk whatever the count.
            var result = await writer.WriteAsync(s_pattern.AsMemory(0, chunk));
            if (result.IsCompleted || result.IsCanceled || context.RequestAborted.IsCancellationRequested)
            {
                return;
            }

            remaining -= chunk;
        }
    }

    private static async Task EchoAsync(HttpContext context)
    {
        var request = context.Request;
        var response = context.Response;
        response.ContentType = OctetStream;
        if (request.ContentLength is { } length)
        {
            response.ContentLength = length;
        }

        try
        {
            // Reads and writes overlap, so the body is never held whole, and a client that stops reading
            // eventually stops the copy through the response pipe's back-pressure.
            await request.BodyReader.CopyToAsync(response.BodyWriter, context.RequestAborted);
        }
        catch (BadHttpRequestException e)
        {
            // The client's fault (a body over the limit, or cut short), not the app's: answered here, Kestrel
            // would log it as an unhandled application error.
            if (response.HasStarted)
            {
                context.Abort();
                return;
            }

            response.Clear();
            response.StatusCode = e.StatusCode;
            response.ContentType = "text/plain; charset=utf-8";
            await response.WriteAsync($"{e.Message} (POST /echo takes at most {MaxBytes} bytes)\n", context.RequestAborted);
        }
        catch (Exception) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away, whichever way that surfaced; there is nobody left to answer.
        }
    }

    private static byte[] CreatePattern(int length)
    {
        var pattern = new byte[length];
        for (var i = 0; i < pattern.Length; i++)
        {
            pattern[i] = (byte)(i % PatternPeriod);
        }

        return pattern;
    }

    /// <summary>
    /// Endpoint metadata that routing applies to the request body limit (Kestrel's is 30 MB by default), so only
    /// /echo accepts large bodies. MVC's RequestSizeLimitAttribute does the same but would pull MVC into the app.
    /// </summary>
    private sealed class RequestSizeLimit(long maxRequestBodySize) : IRequestSizeLimitMetadata
    {
        public long? MaxRequestBodySize { get; } = maxRequestBodySize;
    }
}
