namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>The per-connection values of <see cref="ReactorTransportOptions"/>, resolved once per transport.</summary>
internal sealed class ConnectionSettings
{
    public ConnectionSettings(ReactorTransportOptions options)
    {
        // null and 0 both mean "no limit", as in Kestrel; Pipe spells that 0.
        MaxReadBufferSize = options.MaxReadBufferSize ?? 0;
        MaxWriteBufferSize = options.MaxWriteBufferSize ?? 0;
        InlineApplicationScheduling = options.UnsafePreferInlineScheduling;
        NoDelay = options.NoDelay;
    }

    public long MaxReadBufferSize { get; }

    public long MaxWriteBufferSize { get; }

    public bool InlineApplicationScheduling { get; }

    public bool NoDelay { get; }

    /// <summary>The process's descriptors: a connection that closes its socket gives one back.</summary>
    public FileDescriptorBudget FileDescriptors { get; } = FileDescriptorBudget.Process;
}
