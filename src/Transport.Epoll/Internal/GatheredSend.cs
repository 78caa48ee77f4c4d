using System.Buffers;
using System.Net.Sockets;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal.Interop;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;
using Tmds.Linux;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal;

/// <summary>
/// A non-blocking gathered send of an output pipe's segments (sendmsg with up to <see cref="MaxIoVectors"/> iovecs
/// per call), until the socket is full. Any thread: the reactor and thread-pool threads send.
/// </summary>
internal static unsafe class GatheredSend
{
    // iovecs per sendmsg. 64 blocks of 4 KiB exceed a typical socket send buffer, so more would rarely be taken.
    public const int MaxIoVectors = 64;

    // Scratch for pinning the segments of one gathered send, per thread.
    [ThreadStatic]
    private static MemoryHandle[]? t_sendPins;

    public static IoResult Send(int fd, in ReadOnlySequence<byte> buffer)
    {
        iovec* vectors = stackalloc iovec[MaxIoVectors];
        MemoryHandle[] pins = t_sendPins ??= new MemoryHandle[MaxIoVectors];
        SequencePosition position = buffer.Start;
        long total = 0;

        while (true)
        {
            int count = 0;
            long batchLength = 0;
            while (count < MaxIoVectors && buffer.TryGet(ref position, out ReadOnlyMemory<byte> segment))
            {
                if (segment.IsEmpty)
                {
                    continue;
                }
                pins[count] = segment.Pin();
                vectors[count].iov_base = pins[count].Pointer;
                vectors[count].iov_len = (size_t)segment.Length;
                batchLength += segment.Length;
                count++;
            }
            if (count == 0)
            {
                return IoResult.Done(total);
            }

            SocketError error;
            long sent;
            do
            {
                error = SocketApi.SendMessage(fd, vectors, count, out sent);
            }
            while (error == SocketError.Interrupted);

            for (int i = 0; i < count; i++)
            {
                pins[i].Dispose();
                pins[i] = default;
            }

            if (error != SocketError.Success)
            {
                return new IoResult(total, error);
            }
            total += sent;
            if (sent < batchLength)
            {
                // The socket buffer is full; another call now would only return EAGAIN.
                return new IoResult(total, SocketError.WouldBlock);
            }
        }
    }
}
