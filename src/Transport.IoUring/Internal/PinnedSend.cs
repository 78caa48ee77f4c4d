using System.Buffers;
using System.Runtime.InteropServices;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal;
using Reactors.AspNetCore.Server.Kestrel.Transport.IoUring.Internal.Interop;
using Tmds.Linux;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.IoUring.Internal;

/// <summary>
/// What one submitted send needs to outlive its submission: the output segments pinned, and the iovecs and msghdr
/// the kernel reads until the completion. Pooled by the reactor (<see cref="IoUringReactor.RentSend"/>), so an idle
/// connection holds none.
/// </summary>
internal sealed unsafe class PinnedSend
{
    private static readonly uint s_noSignal = (uint)LibC.MSG_NOSIGNAL;

    private readonly MemoryHandle[] _pins = new MemoryHandle[GatheredSend.MaxIoVectors];
    private readonly msghdr* _message;
    private readonly iovec* _vectors;
    private int _count;

    public PinnedSend()
    {
        _message = (msghdr*)NativeMemory.AllocZeroed((nuint)sizeof(msghdr));
        _vectors = (iovec*)NativeMemory.AllocZeroed(GatheredSend.MaxIoVectors, (nuint)sizeof(iovec));
        _message->msg_iov = _vectors;
    }

    /// <summary>Bytes of the segments pinned.</summary>
    public long Length { get; private set; }

    /// <summary>Pins the first segments of <paramref name="buffer"/>, at most <see cref="GatheredSend.MaxIoVectors"/>.</summary>
    public void Pin(in ReadOnlySequence<byte> buffer)
    {
        SequencePosition position = buffer.Start;
        long length = 0;
        int count = 0;
        while (count < GatheredSend.MaxIoVectors && buffer.TryGet(ref position, out ReadOnlyMemory<byte> segment))
        {
            if (segment.IsEmpty)
            {
                continue;
            }
            _pins[count] = segment.Pin();
            _vectors[count].iov_base = _pins[count].Pointer;
            _vectors[count].iov_len = (size_t)segment.Length;
            length += segment.Length;
            count++;
        }
        _count = count;
        Length = length;
    }

    /// <summary>A send of one segment, or a sendmsg of several; MSG_NOSIGNAL, so a dead peer is an error.</summary>
    public void Describe(Sqe* sqe, int fd, ulong userData)
    {
        sqe->Fd = fd;
        sqe->UserData = userData;
        sqe->OpFlags = s_noSignal;
        if (_count == 1)
        {
            sqe->Opcode = IoUringAbi.OpSend;
            sqe->Address = (ulong)_vectors[0].iov_base;
            sqe->Length = (uint)(ulong)_vectors[0].iov_len;
        }
        else
        {
            _message->msg_iovlen = _count;
            sqe->Opcode = IoUringAbi.OpSendMessage;
            sqe->Address = (ulong)_message;
            sqe->Length = 1;
        }
    }

    public void Unpin()
    {
        for (int i = 0; i < _count; i++)
        {
            _pins[i].Dispose();
            _pins[i] = default;
        }
        _count = 0;
        Length = 0;
    }

    public void Free()
    {
        Unpin();
        NativeMemory.Free(_vectors);
        NativeMemory.Free(_message);
    }
}
