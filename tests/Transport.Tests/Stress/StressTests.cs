using System.Diagnostics;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Stress;

/// <summary>
/// The stress suite: the sample out of process (so that its memory, CPU time and descriptors can be read from
/// procfs) under load and faults, the same scenarios on every transport, each recording its figures
/// (<see cref="StressFigures"/>). Every loop is bounded in count and time; clients are loopback only.
/// </summary>
/// <remarks>
/// The suite runs alone (its collection disables parallelization), after the rest of the tests: its CPU and
/// memory figures must not include another test's load, and its thousands of connections must not starve
/// another test's timeouts on a two-core machine.
/// </remarks>
[Collection(nameof(StressTests))]
public abstract partial class StressTests(ITestOutputHelper output)
{
    private const string PlaintextRequest = "GET /plaintext HTTP/1.1\r\nHost: stress\r\n\r\n";

    /// <summary>The value of the sample's <c>--transport</c> option.</summary>
    protected abstract string Transport { get; }

    /// <summary>
    /// False for Kestrel's Sockets transport: it takes every descriptor and the process aborts (recorded, and
    /// asserted, so that the README's table is corrected the day it stops doing so).
    /// </summary>
    protected abstract bool SurvivesDescriptorExhaustion { get; }

    private ITestOutputHelper Output { get; } = output;

    private void Record(string scenario, string figure, double value, string unit) =>
        StressFigures.Record(Output, Transport, scenario, figure, value, unit);

    /// <summary>One request on a new connection, answered 200 within <paramref name="timeout"/>.</summary>
    internal static async Task<bool> TryRequestAsync(StressServer server, TimeSpan timeout) =>
        await TryRequestWithReasonAsync(server, timeout) is null;

    /// <summary>One request on a new connection: null when answered 200 within <paramref name="timeout"/>, else what went wrong, and at which step.</summary>
    internal static async Task<string?> TryRequestWithReasonAsync(StressServer server, TimeSpan timeout)
    {
        var elapsed = Stopwatch.StartNew();
        string step = "connect";
        try
        {
            using var client = await RawClient.ConnectAsync(server.EndPoint, timeout);
            step = "send";
            await client.SendAsync(PlaintextRequest).WaitAsync(timeout);
            step = "response";
            var response = await client.ReadResponseAsync().WaitAsync(timeout);
            return response.StatusCode == 200 ? null : $"status {response.StatusCode}";
        }
        catch (Exception ex) when (ex is TimeoutException or System.Net.Sockets.SocketException or IOException or InvalidDataException)
        {
            return $"{ex.GetType().Name} at {step} after {elapsed.ElapsedMilliseconds} ms: {ex.Message}";
        }
    }

    private static double Megabytes(long bytes) => bytes / (1024.0 * 1024.0);
}

[CollectionDefinition(nameof(StressTests), DisableParallelization = true)]
public sealed class StressTestsRunAlone;
