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
/// rarely sleeps. The .NET thread pool's workers and Go's scheduler poll the same way before they park. With one
/// processor too: a poll yields the core to the pool threads it waits for, and a reactor that has not blocked needs
/// no wake-up for what arrives or is posted meanwhile. On one core polling made 1.30-1.38x the responses at 16
/// connections and 1.13-1.18x at 64 (epoll and io_uring), with a quarter less CPU per request at 16, and was level
/// at 256 and pipelined (docs/request-path.md).
/// </remarks>
internal struct IdleSpin
{
    private readonly long _durationTicks;
    private long _lastGapTicks;

    public IdleSpin(TimeSpan duration)
    {
        _durationTicks = duration.Ticks * Stopwatch.Frequency / TimeSpan.TicksPerSecond;
    }

    /// <summary>Whether to poll before blocking this time.</summary>
    public readonly bool ShouldSpin => _durationTicks > 0 && _lastGapTicks <= 2 * _durationTicks;

    /// <summary>The timestamp after which a spin that began when the reactor went idle at <paramref name="idleSince"/> gives up.</summary>
    public readonly long Deadline(long idleSince) => idleSince + _durationTicks;

    /// <summary>Work came at <paramref name="now"/> after the reactor went idle at <paramref name="idleSince"/>.</summary>
    public void OnIdleEnded(long idleSince, long now) => _lastGapTicks = now - idleSince;
}
