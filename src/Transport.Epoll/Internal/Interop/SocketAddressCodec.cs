using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal.Interop;

/// <summary>Converts between <see cref="IPEndPoint"/> and Linux's sockaddr_in / sockaddr_in6 bytes.</summary>
internal static class SocketAddressCodec
{
    public const int MaxSize = 28; // sizeof(sockaddr_in6)
    private const ushort AfInet = 2;
    private const ushort AfInet6 = 10;

    public static int Write(IPEndPoint endPoint, Span<byte> buffer)
    {
        buffer[..MaxSize].Clear();
        BinaryPrimitives.WriteUInt16BigEndian(buffer[2..], (ushort)endPoint.Port);
        if (endPoint.AddressFamily == AddressFamily.InterNetwork)
        {
            BitConverter.TryWriteBytes(buffer, AfInet); // sa_family is host order
            endPoint.Address.TryWriteBytes(buffer.Slice(4, 4), out _);
            return 16;
        }
        BitConverter.TryWriteBytes(buffer, AfInet6);
        endPoint.Address.TryWriteBytes(buffer.Slice(8, 16), out _);
        BitConverter.TryWriteBytes(buffer[24..], (uint)endPoint.Address.ScopeId);
        return MaxSize;
    }

    public static IPEndPoint? Read(ReadOnlySpan<byte> buffer)
    {
        if (buffer.Length < 16)
        {
            return null;
        }
        ushort family = BitConverter.ToUInt16(buffer);
        int port = BinaryPrimitives.ReadUInt16BigEndian(buffer[2..]);
        if (family == AfInet)
        {
            return new IPEndPoint(new IPAddress(buffer.Slice(4, 4)), port);
        }
        if (family == AfInet6 && buffer.Length >= MaxSize)
        {
            uint scopeId = BitConverter.ToUInt32(buffer[24..]);
            return new IPEndPoint(new IPAddress(buffer.Slice(8, 16), scopeId), port);
        }
        return null;
    }
}
