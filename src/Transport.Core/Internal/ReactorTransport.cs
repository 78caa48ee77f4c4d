using System.Buffers;
using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>
/// What a transport factory owns whatever its backend: its logger, the per-connection settings resolved from the
/// options, and the reactors shared by all of its listeners.
/// </summary>
internal sealed class ReactorTransport
{
    public ReactorTransport(string name, ReactorTransportOptions options, ILogger logger, string meterName, IMeterFactory? meterFactory,
        IMemoryPoolFactory<byte>? memoryPoolFactory, Func<string, MemoryPool<byte>, ILogger, TimeSpan, ReactorLoop> createReactor)
    {
        // Through the host's IMeterFactory, as ASP.NET Core's own meters are, so that the host owns its lifetime.
        Meter meter = meterFactory?.Create(meterName) ?? new Meter(meterName);
        // The meter keeps its instruments, and they the metrics object their callbacks read.
        var metrics = new ReactorMetrics(meter, ListenerCounters);
        Logger = logger;
        Listen = new ListenSettings(options);
        FileDescriptorReserve = options.FileDescriptorReserve;
        Settings = new ConnectionSettings(options);
        int reactorCount = options.ReactorCount;
        TimeSpan spinDuration = options.ReactorSpinDuration;
        Reactors = new SharedReactorGroup(() =>
        {
            var reactors = new ReactorLoop[reactorCount];
            for (int i = 0; i < reactors.Length; i++)
            {
                reactors[i] = createReactor($"{name} reactor {i}", ReactorMemoryPool.Create(memoryPoolFactory), logger, spinDuration);
                metrics.Add(reactors[i]);
            }
            TransportLog.ReactorsStarted(logger, reactors.Length, name);
            return new ReactorGroup(reactors);
        });
    }

    public ILogger Logger { get; }

    public ListenSettings Listen { get; }

    public int FileDescriptorReserve { get; }

    /// <summary>The process's descriptors, shared by the listeners of every transport.</summary>
    public FileDescriptorBudget FileDescriptors => Settings.FileDescriptors;

    public ConnectionSettings Settings { get; }

    public SharedReactorGroup Reactors { get; }

    /// <summary>What the listeners count: accept back-offs and pauses at the fd reserve.</summary>
    public ListenerCounters ListenerCounters { get; } = new();
}
