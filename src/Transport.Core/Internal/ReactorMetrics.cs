using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>
/// The transport's <see cref="Meter"/>, named like its log category. Every instrument is observable: the reactors
/// only count (<see cref="ReactorCounters"/>), and the values are read when a listener (dotnet-counters,
/// OpenTelemetry) collects, so a meter nobody listens to costs nothing and one that is listened to costs no lock
/// or allocation on the reactor's path. Per-reactor instruments carry a <c>reactor</c> tag (the reactor's name).
/// </summary>
internal sealed class ReactorMetrics
{
    private const string ReactorTag = "reactor";

    private readonly Lock _lock = new();
    private readonly List<ReactorLoop> _reactors = [];
    private readonly ListenerCounters _listeners;

    public ReactorMetrics(Meter meter, ListenerCounters listeners)
    {
        _listeners = listeners;

        meter.CreateObservableCounter("reactor.loop.iterations", () => PerReactor(static r => r.Counters.Iterations), "{iteration}",
            "Iterations of the reactor loop: each is one wait for readiness (epoll_wait, select), blocking or not, and the work that followed it.");
        meter.CreateObservableCounter("reactor.wait.events", () => PerReactor(static r => r.Counters.ReadyEvents), "{event}",
            "Readiness events the waits returned; divided by reactor.loop.iterations, the events per wait.");
        meter.CreateObservableCounter("reactor.wait.spins", () => PerReactor(static r => r.Counters.Spins), "{spin}",
            "Times the reactor ran out of work and polled for more before blocking (ReactorSpinDuration), because its last idle gap was short.");
        meter.CreateObservableCounter("reactor.wait.spins.found_work", () => PerReactor(static r => r.Counters.SpinsThatFoundWork), "{spin}",
            "Spins that found readiness or posted work in time, so that the reactor did not block (and no one had to wake it).");
        meter.CreateObservableCounter("reactor.wakeups", () => PerReactor(static r => r.Counters.Wakeups), "{wakeup}",
            "Wake-ups written to a reactor blocked in its wait (eventfd, or the select transport's socket pair).");
        meter.CreateObservableCounter("reactor.work_items", () => PerReactor(static r => r.Counters.WorkItems), "{item}",
            "Work items posted to the reactor and run on its thread.");
        meter.CreateObservableCounter("reactor.sends", () => PerReactor(static r => r.Counters.Sends), "{send}",
            "Gathered send calls (sendmsg or Socket.Send), by the reactor or by the thread-pool thread that flushed.");
        meter.CreateObservableCounter("reactor.sent", () => PerReactor(static r => r.Counters.BytesSent), "By",
            "Bytes sent to clients.");
        meter.CreateObservableCounter("reactor.sends.would_block", () => PerReactor(static r => r.Counters.SendsWouldBlock), "{send}",
            "Sends that found the socket's buffer full (EAGAIN, or a ring send that completed short); the rest waits for the socket to become writable.");
        meter.CreateObservableCounter("reactor.receive.pauses", () => PerReactor(static r => r.Counters.ReceivePauses), "{pause}",
            "Times a connection stopped reading because the application had MaxReadBufferSize unread.");
        meter.CreateObservableCounter("reactor.receive.resumes", () => PerReactor(static r => r.Counters.ReceiveResumes), "{resume}",
            "Times a paused connection started reading again.");
        meter.CreateObservableUpDownCounter("reactor.connections", () => PerReactor(static r => r.ActiveConnections), "{connection}",
            "Connections open on the reactor.");
        meter.CreateObservableCounter("reactor.accept.backoffs", () => _listeners.AcceptBackoffs, "{backoff}",
            "Accepts that failed for want of a resource (EMFILE, ENFILE, ENOBUFS, ENOMEM) or unexpectedly, each followed by a back-off.");
        meter.CreateObservableCounter("reactor.accept.pauses", () => _listeners.AcceptPauses, "{pause}",
            "Times a listener stopped accepting at the FileDescriptorReserve.");
    }

    /// <summary>A reactor the transport started; its counts stay in the totals after it stops.</summary>
    public void Add(ReactorLoop reactor)
    {
        lock (_lock)
        {
            _reactors.Add(reactor);
        }
    }

    // Collection time only, on the collector's thread: allocation is fine here, not on the reactors' path.
    private List<Measurement<long>> PerReactor(Func<ReactorLoop, long> read)
    {
        var totals = new Dictionary<string, long>(StringComparer.Ordinal);
        lock (_lock)
        {
            foreach (ReactorLoop reactor in _reactors)
            {
                // A reactor started again later has the same name: its counts continue the old one's.
                totals[reactor.Name] = totals.GetValueOrDefault(reactor.Name) + read(reactor);
            }
        }
        var measurements = new List<Measurement<long>>(totals.Count);
        foreach (var (name, value) in totals)
        {
            measurements.Add(new Measurement<long>(value, new KeyValuePair<string, object?>(ReactorTag, name)));
        }
        return measurements;
    }
}
