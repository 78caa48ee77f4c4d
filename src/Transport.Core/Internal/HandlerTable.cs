namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>
/// What a reactor's poller or ring reports back to: each registration gets a token (slot and generation) that the
/// kernel hands back with every event or completion. A slot is reused only with the next generation, so an event
/// still queued for a handle that has gone can never reach the one that took its slot (or its reused fd). Reactor
/// thread only.
/// </summary>
/// <remarks>
/// Token layout: slot in bits 0-31, generation in bits 32-55; bits 56-63 are always zero, free for a backend to
/// tag what kind of operation a token came back from.
/// </remarks>
internal sealed class HandlerTable<THandler>
    where THandler : class
{
    private const uint GenerationMask = 0xFF_FFFF;

    private THandler?[] _handlers = new THandler?[64];
    private uint[] _generations = new uint[64];
    private int[] _freeSlots = new int[64];
    private int _freeSlotCount;
    private int _slotsInUse;

    /// <summary>Takes a slot for <paramref name="handler"/>; the token is never 0.</summary>
    public ulong Add(THandler handler)
    {
        int slot = _freeSlotCount > 0 ? _freeSlots[--_freeSlotCount] : _slotsInUse++;
        if (slot == _handlers.Length)
        {
            Array.Resize(ref _handlers, slot * 2);
            Array.Resize(ref _generations, slot * 2);
            Array.Resize(ref _freeSlots, slot * 2);
        }
        uint generation = (_generations[slot] + 1) & GenerationMask;
        if (generation == 0)
        {
            generation = 1; // keeps every token non-zero
        }
        _generations[slot] = generation;
        _handlers[slot] = handler;
        return ((ulong)generation << 32) | (uint)slot;
    }

    /// <summary>The handler a token was given to, or null when it has gone (closed earlier in the same batch, say).</summary>
    public THandler? Find(ulong token)
    {
        int slot = (int)(uint)token;
        return (uint)slot < (uint)_handlers.Length && _generations[slot] == ((uint)(token >> 32) & GenerationMask)
            ? _handlers[slot]
            : null;
    }

    /// <summary>Frees the token's slot; false when it was freed already.</summary>
    public bool Remove(ulong token)
    {
        int slot = (int)(uint)token;
        if (token == 0 || Find(token) is null)
        {
            return false;
        }
        _handlers[slot] = null;
        _generations[slot] = (_generations[slot] + 1) & GenerationMask;
        _freeSlots[_freeSlotCount++] = slot;
        return true;
    }
}
