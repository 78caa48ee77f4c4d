using Microsoft.Extensions.Logging;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;

/// <summary>What every suite does with its servers after each test: stop them all, then read their logs.</summary>
internal static class ServerChecks
{
    private static readonly string[] CheckedLogCategoryPrefixes =
    [
        "Microsoft.AspNetCore.Server.Kestrel",
        "Reactors.AspNetCore.Server.Kestrel",
    ];

    /// <summary>Disposes every server, also after one of them failed to stop, and then reports all failures.</summary>
    public static async Task DisposeAllAsync(IEnumerable<IAsyncDisposable> servers)
    {
        var failures = new List<Exception>();
        foreach (var server in servers)
        {
            try
            {
                await server.DisposeAsync();
            }
            catch (Exception ex)
            {
                failures.Add(ex);
            }
        }
        if (failures.Count > 0)
        {
            throw new AggregateException("Stopping a test server failed.", failures);
        }
    }

    /// <summary>Neither Kestrel nor a transport may log a warning or worse during normal traffic.</summary>
    public static void AssertNoKestrelWarnings(CapturingLoggerProvider logs)
    {
        var warnings = logs.Entries
            .Where(e => e.Level >= LogLevel.Warning && CheckedLogCategoryPrefixes.Any(p => e.Category.StartsWith(p, StringComparison.Ordinal)))
            .ToList();
        Assert.True(warnings.Count == 0,
            "Kestrel or the transport logged at Warning or above:" + Environment.NewLine + string.Join(Environment.NewLine, warnings));
    }
}
