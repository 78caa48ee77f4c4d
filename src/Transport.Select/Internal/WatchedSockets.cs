using System.Net.Sockets;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Select.Internal;

/// <summary>
/// The sockets a select reactor watches for one direction, kept up to date as interest changes, so that a wait
/// copies one array instead of asking every handler what it waits for. Reactor thread only.
/// </summary>
/// <remarks>
/// Removal swaps the last socket into the freed slot, so the order is arbitrary and both operations are O(1);
/// each <see cref="SelectRegistration"/> remembers its slot.
/// </remarks>
internal sealed class WatchedSockets(SelectInterest direction)
{
    private Socket[] _sockets = new Socket[16];
    private SelectRegistration[] _registrations = new SelectRegistration[16];
    private int _count;

    public int Count => _count;

    /// <summary>The watched sockets, valid until the next change.</summary>
    public ReadOnlySpan<Socket> Sockets => _sockets.AsSpan(0, _count);

    public void Add(SelectRegistration registration)
    {
        if (_count == _sockets.Length)
        {
            // Both allocated before either is replaced: running out of memory here leaves the two in step.
            Socket[] sockets = new Socket[_count * 2];
            SelectRegistration[] registrations = new SelectRegistration[_count * 2];
            _sockets.CopyTo(sockets, 0);
            _registrations.CopyTo(registrations, 0);
            _sockets = sockets;
            _registrations = registrations;
        }
        _sockets[_count] = registration.Socket;
        _registrations[_count] = registration;
        registration.SetSlot(direction, _count);
        _count++;
    }

    public void Remove(SelectRegistration registration)
    {
        int slot = registration.GetSlot(direction);
        int last = --_count;
        if (slot != last)
        {
            SelectRegistration moved = _registrations[last];
            _sockets[slot] = _sockets[last];
            _registrations[slot] = moved;
            moved.SetSlot(direction, slot);
        }
        // Cleared so that a closed connection is not kept alive by a stale slot.
        _sockets[last] = null!;
        _registrations[last] = null!;
        registration.SetSlot(direction, SelectRegistration.NotWatched);
    }
}
