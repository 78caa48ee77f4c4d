namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>
/// A reactor-thread-only list of connections with work left for the end of an iteration. Double-buffered:
/// connections added while a batch is being processed land in the next batch, so a connection that keeps
/// producing work cannot pin the reactor in one phase.
/// </summary>
internal sealed class PendingConnections
{
    private ReactorConnection[] _current = new ReactorConnection[64];
    private ReactorConnection[] _spare = new ReactorConnection[64];
    private int _count;

    public bool IsEmpty => _count == 0;

    public void Add(ReactorConnection connection)
    {
        if (_count == _current.Length)
        {
            Array.Resize(ref _current, _current.Length * 2);
        }
        _current[_count++] = connection;
    }

    /// <summary>Hands out the current batch and starts a new one. Clear the batch with <see cref="Return"/>.</summary>
    public ReadOnlySpan<ReactorConnection> TakeBatch(out ReactorConnection[] batch)
    {
        batch = _current;
        int count = _count;
        _current = _spare;
        _count = 0;
        return batch.AsSpan(0, count);
    }

    public void Return(ReactorConnection[] batch, int count)
    {
        // Drop references so completed connections can be collected.
        Array.Clear(batch, 0, count);
        _spare = batch;
    }
}
