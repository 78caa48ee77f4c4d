using System.Diagnostics;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;

/// <summary>For effects that have no event to wait for (a descriptor count, a child process exiting).</summary>
internal static class Eventually
{
    /// <summary>Waits (polling, bounded) until <paramref name="condition"/> holds; false when it never did.</summary>
    public static async Task<bool> HoldsAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > timeout)
            {
                return false;
            }
            await Task.Delay(50);
        }
        return true;
    }
}
