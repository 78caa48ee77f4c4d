namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>The running reactors of one transport, handed out round-robin to new connections and listeners.</summary>
internal sealed class ReactorGroup
{
    private readonly ReactorLoop[] _reactors;
    private uint _next;

    public ReactorGroup(ReactorLoop[] reactors)
    {
        _reactors = reactors;
        foreach (ReactorLoop reactor in reactors)
        {
            reactor.Start();
        }
    }

    public ReactorLoop Next() => _reactors[Interlocked.Increment(ref _next) % (uint)_reactors.Length];

    public void RequestStop()
    {
        foreach (ReactorLoop reactor in _reactors)
        {
            reactor.RequestStop();
        }
    }
}

/// <summary>
/// Shares one <see cref="ReactorGroup"/> among all listeners of a transport: started by the first bind, asked to
/// stop when the last listener is disposed (each reactor then exits once its remaining connections are done),
/// and started afresh by a later bind.
/// </summary>
internal sealed class SharedReactorGroup(Func<ReactorGroup> create)
{
    private readonly Lock _lock = new();
    private ReactorGroup? _group;
    private int _leases;

    public ReactorGroup Acquire()
    {
        lock (_lock)
        {
            _group ??= create();
            _leases++;
            return _group;
        }
    }

    public void Release(ReactorGroup group)
    {
        lock (_lock)
        {
            if (!ReferenceEquals(group, _group))
            {
                return;
            }
            if (--_leases == 0)
            {
                _group = null;
                group.RequestStop();
            }
        }
    }
}
