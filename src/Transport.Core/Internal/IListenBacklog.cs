using System.Buffers.Binary;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>A listening socket's accept queue, as seen by a listener that has stopped accepting.</summary>
internal interface IListenBacklog
{
    /// <summary>The queue's length and limit; false where the kernel does not say (a Unix socket, not Linux).</summary>
    bool TryRead(out int queued, out int limit);

    /// <summary>Accepts the oldest waiting connection and resets it at once; false when none is waiting.</summary>
    bool TryRefuseOne();
}

/// <summary>Reading a TCP listening socket's accept queue from Linux's <c>struct tcp_info</c>.</summary>
internal static class TcpListenQueue
{
    /// <summary>getsockopt level and name: IPPROTO_TCP, TCP_INFO.</summary>
    public const int OptionLevel = 6;
    public const int OptionName = 11;

    /// <summary>Bytes to ask for: up to and including the fields read here.</summary>
    public const int InfoLength = 32;

    // After eight one-byte fields come u32 rto, ato, snd_mss, rcv_mss, unacked, sacked. On a listening socket
    // the kernel reports the accept queue's length in tcpi_unacked and its limit in tcpi_sacked.
    private const int UnackedOffset = 24;
    private const int SackedOffset = 28;

    public static bool TryParse(ReadOnlySpan<byte> info, out int queued, out int limit)
    {
        if (info.Length < InfoLength)
        {
            queued = limit = 0;
            return false;
        }
        queued = (int)ReadNative(info[UnackedOffset..]);
        limit = (int)ReadNative(info[SackedOffset..]);
        return limit > 0;
    }

    private static uint ReadNative(ReadOnlySpan<byte> bytes) =>
        BitConverter.IsLittleEndian ? BinaryPrimitives.ReadUInt32LittleEndian(bytes) : BinaryPrimitives.ReadUInt32BigEndian(bytes);
}
