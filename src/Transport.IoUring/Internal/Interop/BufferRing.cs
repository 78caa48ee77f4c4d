using System.Runtime.InteropServices;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.IoUring.Internal.Interop;

/// <summary>
/// A provided-buffer ring (IORING_REGISTER_PBUF_RING, Linux 5.19): buffers of one size that the kernel picks from
/// for multishot receives, so a connection holds no receive buffer while it waits. A buffer comes back with a
/// completion (its id in the CQE's flags), is copied out at once and is given back to the ring right after.
/// One reactor thread uses it.
/// </summary>
internal sealed unsafe class BufferRing : IDisposable
{
    private readonly Ring _ring;
    private readonly ProvidedBuffer* _entries;
    private readonly nuint _entriesLength;
    private readonly byte* _memory;
    private readonly ushort* _tailPointer;
    private readonly ushort _mask;
    private ushort _tail;
    private bool _disposed;

    private BufferRing(Ring ring, ushort groupId, int count, int bufferSize, ProvidedBuffer* entries, nuint entriesLength, byte* memory)
    {
        _ring = ring;
        GroupId = groupId;
        Count = count;
        BufferSize = bufferSize;
        _entries = entries;
        _entriesLength = entriesLength;
        _memory = memory;
        _mask = (ushort)(count - 1);
        // The ring's tail overlays the reserved field of its first entry (struct io_uring_buf_ring).
        _tailPointer = (ushort*)((byte*)entries + 14);
        for (int id = 0; id < count; id++)
        {
            Fill(_tail++, (ushort)id);
        }
        Volatile.Write(ref *_tailPointer, _tail);
    }

    public ushort GroupId { get; }

    public int Count { get; }

    public int BufferSize { get; }

    /// <summary>Registers a ring of <paramref name="count"/> (a power of two) buffers of <paramref name="bufferSize"/> bytes.</summary>
    /// <returns>0 or errno (EINVAL: the kernel has no provided-buffer rings).</returns>
    public static int Create(Ring ring, ushort groupId, int count, int bufferSize, out BufferRing? bufferRing)
    {
        bufferRing = null;
        nuint entriesLength = (nuint)(count * sizeof(ProvidedBuffer));
        int error = IoUringApi.MapAnonymous(entriesLength, out void* entries);
        if (error != 0)
        {
            return error;
        }
        BufferRingRegistration registration = default;
        registration.RingAddress = (ulong)entries;
        registration.RingEntries = (uint)count;
        registration.GroupId = groupId;
        error = ring.Register(IoUringAbi.RegisterBufferRing, &registration, 1);
        if (error != 0)
        {
            IoUringApi.Unmap(entries, entriesLength);
            return error;
        }
        byte* memory = (byte*)NativeMemory.AlignedAlloc((nuint)count * (nuint)bufferSize, 4096);
        bufferRing = new BufferRing(ring, groupId, count, bufferSize, (ProvidedBuffer*)entries, entriesLength, memory);
        return 0;
    }

    /// <summary>The first <paramref name="length"/> bytes of buffer <paramref name="id"/>, which a completion handed back.</summary>
    public ReadOnlySpan<byte> Received(ushort id, int length) => new(_memory + (nuint)id * (nuint)BufferSize, length);

    /// <summary>Gives buffer <paramref name="id"/> back to the kernel.</summary>
    public void Return(ushort id)
    {
        Fill(_tail++, id);
        Volatile.Write(ref *_tailPointer, _tail);
    }

    private void Fill(ushort position, ushort id)
    {
        ProvidedBuffer* entry = &_entries[position & _mask];
        entry->Address = (ulong)(_memory + (nuint)id * (nuint)BufferSize);
        entry->Length = (uint)BufferSize;
        entry->BufferId = id;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        BufferRingRegistration registration = default;
        registration.GroupId = GroupId;
        _ = _ring.Register(IoUringAbi.UnregisterBufferRing, &registration, 1);
        IoUringApi.Unmap(_entries, _entriesLength);
        NativeMemory.AlignedFree(_memory);
    }
}
