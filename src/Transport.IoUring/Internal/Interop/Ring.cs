using System.Runtime.CompilerServices;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.IoUring.Internal.Interop;

/// <summary>
/// One io_uring instance: the submission and completion queues mapped from the kernel, with the ordering the kernel
/// expects (it reads the submission tail and writes the completion tail; acquire on what it writes, release on
/// what we write). One thread uses a ring; nothing here is thread-safe.
/// </summary>
internal sealed unsafe class Ring : IDisposable
{
    private readonly int _fd;
    private readonly void* _rings;
    private readonly nuint _ringsLength;
    private readonly Sqe* _sqes;
    private readonly nuint _sqesLength;
    private readonly uint* _sqHead;
    private readonly uint* _sqTail;
    private readonly uint* _sqFlags;
    private readonly uint _sqMask;
    private readonly uint _sqEntries;
    private readonly uint* _cqHead;
    private readonly uint* _cqTail;
    private readonly uint _cqMask;
    private readonly Cqe* _cqes;
    // Submissions prepared and not yet published to the kernel end at this tail.
    private uint _sqLocalTail;
    private bool _disposed;

    private Ring(int fd, in RingParameters p, void* rings, nuint ringsLength, Sqe* sqes, nuint sqesLength)
    {
        _fd = fd;
        Flags = p.Flags;
        Features = p.Features;
        _rings = rings;
        _ringsLength = ringsLength;
        _sqes = sqes;
        _sqesLength = sqesLength;
        byte* b = (byte*)rings;
        _sqHead = (uint*)(b + p.SqOffsets.Head);
        _sqTail = (uint*)(b + p.SqOffsets.Tail);
        _sqFlags = (uint*)(b + p.SqOffsets.Flags);
        _sqMask = *(uint*)(b + p.SqOffsets.RingMask);
        _sqEntries = *(uint*)(b + p.SqOffsets.RingEntries);
        _cqHead = (uint*)(b + p.CqOffsets.Head);
        _cqTail = (uint*)(b + p.CqOffsets.Tail);
        _cqMask = *(uint*)(b + p.CqOffsets.RingMask);
        _cqes = (Cqe*)(b + p.CqOffsets.Cqes);
        CompletionQueueEntries = p.CqEntries;

        // The submission array maps ring positions to SQE indexes; identity, once, so only the tail moves later.
        uint* array = (uint*)(b + p.SqOffsets.Array);
        for (uint i = 0; i < _sqEntries; i++)
        {
            array[i] = i;
        }
        _sqLocalTail = *_sqTail;
    }

    public int FileDescriptor => _fd;

    /// <summary>The set-up flags the kernel accepted.</summary>
    public uint Flags { get; }

    /// <summary>IORING_FEAT_* the kernel reported.</summary>
    public uint Features { get; }

    public uint SubmissionQueueEntries => _sqEntries;

    public uint CompletionQueueEntries { get; }

    /// <summary>Submissions prepared and not yet taken by the kernel.</summary>
    public uint Unsubmitted => _sqLocalTail - Volatile.Read(ref *_sqHead);

    /// <summary>The kernel holds completions that did not fit in the completion queue (FEAT_NODROP keeps them).</summary>
    public bool CompletionsOverflowed => (Volatile.Read(ref *_sqFlags) & IoUringAbi.SqCqOverflow) != 0;

    /// <summary>Sets up a ring; the single-mapping layout (Linux 5.4) is required.</summary>
    /// <returns>0, or the errno of the first step that failed.</returns>
    public static int Create(uint entries, uint completionEntries, uint flags, out Ring? ring)
    {
        ring = null;
        RingParameters p = default;
        p.Flags = flags | IoUringAbi.SetupCqSize | IoUringAbi.SetupClamp;
        p.CqEntries = completionEntries;
        int error = IoUringApi.Setup(entries, &p, out int fd);
        if (error != 0)
        {
            return error;
        }
        if ((p.Features & IoUringAbi.FeatureSingleMmap) == 0)
        {
            IoUringApi.Close(fd);
            return Errno.ENOSYS; // a kernel older than 5.4, older than anything this transport runs on
        }
        nuint sqLength = p.SqOffsets.Array + p.SqEntries * sizeof(uint);
        nuint cqLength = p.CqOffsets.Cqes + p.CqEntries * (nuint)sizeof(Cqe);
        nuint ringsLength = Math.Max(sqLength, cqLength);
        nuint sqesLength = p.SqEntries * (nuint)sizeof(Sqe);
        error = IoUringApi.MapRing(fd, IoUringAbi.OffsetSqRing, ringsLength, out void* rings);
        if (error != 0)
        {
            IoUringApi.Close(fd);
            return error;
        }
        error = IoUringApi.MapRing(fd, IoUringAbi.OffsetSqes, sqesLength, out void* sqes);
        if (error != 0)
        {
            IoUringApi.Unmap(rings, ringsLength);
            IoUringApi.Close(fd);
            return error;
        }
        ring = new Ring(fd, p, rings, ringsLength, (Sqe*)sqes, sqesLength);
        return 0;
    }

    /// <summary>A zeroed submission to fill in, or null when the queue is full (submit first).</summary>
    public Sqe* TryGetSqe()
    {
        if (_sqLocalTail - Volatile.Read(ref *_sqHead) >= _sqEntries)
        {
            return null;
        }
        Sqe* sqe = &_sqes[_sqLocalTail & _sqMask];
        Unsafe.InitBlockUnaligned(sqe, 0, (uint)sizeof(Sqe));
        _sqLocalTail++;
        return sqe;
    }

    /// <summary>
    /// Publishes what was prepared and enters the kernel: submits it, and with IORING_ENTER_GETEVENTS runs the
    /// ring's pending work and waits for <paramref name="minComplete"/> completions.
    /// </summary>
    /// <returns>0 or errno (EINTR, ETIME for a timeout, EBUSY or EAGAIN while completions are backed up).</returns>
    public int Enter(uint minComplete, uint flags, GetEventsArgument* argument)
    {
        Volatile.Write(ref *_sqTail, _sqLocalTail);
        return IoUringApi.Enter(_fd, Unsubmitted, minComplete, flags, argument, out _);
    }

    /// <summary>The oldest completion not yet consumed, copied; false when there is none.</summary>
    public bool TryTakeCompletion(out Cqe completion)
    {
        uint head = *_cqHead;
        if (head == Volatile.Read(ref *_cqTail))
        {
            completion = default;
            return false;
        }
        completion = _cqes[head & _cqMask];
        // Given back before it is handled: handlers may enter the kernel, which may post into the freed entry.
        Volatile.Write(ref *_cqHead, head + 1);
        return true;
    }

    /// <returns>0 or errno.</returns>
    public int Register(uint opcode, void* argument, uint count) => IoUringApi.Register(_fd, opcode, argument, count);

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        IoUringApi.Unmap(_sqes, _sqesLength);
        IoUringApi.Unmap(_rings, _ringsLength);
        IoUringApi.Close(_fd);
    }
}
