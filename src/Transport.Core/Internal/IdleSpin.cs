using System.Diagnostics;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>
/// Whether a reactor that ran out of work polls for more before it blocks, and until when. Reactor thread only.
/// </summary>
/// <remarks>
/// A reactor that blocks makes the next event pay a wake-up: a system call on the waking side and, when the
/// reactor's core went idle meanwhile, that core's wake-up latency. In a virtual machine the host must then run
/// the halted vCPU again, which costs more than the request itself: on this project's two-vCPU VM one connection
/// got a third fewer requests/s with the reactor woken across cores than with it polling (docs/request-path.md). Polling
/// costs CPU for as long as nothing comes, so it is bounded twice: at most <see cref="ReactorTransportOptions.ReactorSpinDuration"/>
/// per idle gap, and only while the last idle gap (from running out of work to the next work, spin and block
/// included) was at most twice that, so a reactor under sparse traffic blocks at once and one under steady traffic
/// rarely sleeps. The .NET thread pool's workers and Go's scheduler poll the same way before they park. Never with
/// one processor: polling there would only hold back the threads it waits for.
/// </remarks>
internal struct IdleSpin
{
    private readonly long _durationTicks;
    private long _lastGapTicks;

    public IdleSpin(TimeSpan duration)
    {
        _durationTicks = Environment.ProcessorCount > 1 ? duration.Ticks * Stopwatch.Frequency / TimeSpan.TicksPerSecond : 0;
    }

    /// <summary>Whether to poll before blocking this time.</summary>
    public readonly bool ShouldSpin => _durationTicks > 0 && _lastGapTicks <= 2 * _durationTicks;

    /// <summary>The timestamp after which a spin that began when the reactor went idle at <paramref name="idleSince"/> gives up.</summary>
    public readonly long Deadline(long idleSince) => idleSince + _durationTicks;

    /// <summary>Work came at <paramref name="now"/> after the reactor went idle at <paramref name="idleSince"/>.</summary>
    public void OnIdleEnded(long idleSince, long now) => _lastGapTicks = now - idleSince;
}
