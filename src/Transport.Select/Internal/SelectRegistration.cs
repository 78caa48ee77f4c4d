using System.Net.Sockets;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Select.Internal;

/// <summary>
/// A handler's place in its reactor's <see cref="WatchedSockets"/>: what it waits for, and where its socket sits in
/// each direction's array. One per handler, made with it. Reactor thread only.
/// </summary>
internal sealed class SelectRegistration(Socket socket, ISelectHandler handler)
{
    public const int NotWatched = -1;

    private int _readSlot = NotWatched;
    private int _writeSlot = NotWatched;

    public Socket Socket { get; } = socket;

    public ISelectHandler Handler { get; } = handler;

    public SelectInterest Interest { get; set; }

    /// <summary>Between <see cref="SelectReactor.Register"/> and <see cref="SelectReactor.Unregister"/>.</summary>
    public bool IsRegistered { get; set; }

    public int GetSlot(SelectInterest direction) => direction == SelectInterest.Read ? _readSlot : _writeSlot;

    public void SetSlot(SelectInterest direction, int slot)
    {
        if (direction == SelectInterest.Read)
        {
            _readSlot = slot;
        }
        else
        {
            _writeSlot = slot;
        }
    }
}
