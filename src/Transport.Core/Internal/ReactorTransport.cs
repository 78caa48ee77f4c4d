using System.Buffers;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>
/// What a transport factory owns whatever its backend: its logger, the per-connection settings resolved from the
/// options, and the reactors shared by all of its listeners.
/// </summary>
internal sealed class ReactorTransport
{
    public ReactorTransport(string name, ReactorTransportOptions options, ILogger logger,
        IMemoryPoolFactory<byte>? memoryPoolFactory, Func<string, MemoryPool<byte>, ILogger, ReactorLoop> createReactor)
    {
        Logger = logger;
        Listen = new ListenSettings(options);
        FileDescriptorReserve = options.FileDescriptorReserve;
        Settings = new ConnectionSettings(options);
        int reactorCount = options.ReactorCount;
        Reactors = new SharedReactorGroup(() =>
        {
            var reactors = new ReactorLoop[reactorCount];
            for (int i = 0; i < reactors.Length; i++)
            {
                reactors[i] = createReactor($"{name} reactor {i}", ReactorMemoryPool.Create(memoryPoolFactory), logger);
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
}
