using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal.Interop;

/// <summary>
/// Converts between endpoints and Linux's sockaddr bytes: sockaddr_in / sockaddr_in6 for
/// <see cref="IPEndPoint"/>, sockaddr_un for <see cref="UnixDomainSocketEndPoint"/>.
/// </summary>
internal static class SocketAddressCodec
{
    public const int MaxSize = 110; // sizeof(sockaddr_un), the largest of the three
    private const int InetSize = 16;
    private const int Inet6Size = 28;
    private const ushort AfUnix = 1;
    private const ushort AfInet = 2;
    private const ushort AfInet6 = 10;

    // EndPoint.Create is an instance method; this one only serves as the factory of Unix endpoints.
    private static readonly UnixDomainSocketEndPoint s_unixFactory = new("/");

    /// <returns>The number of bytes written, the address length to pass to the kernel.</returns>
    public static int Write(EndPoint endPoint, Span<byte> buffer)
    {
        switch (endPoint)
        {
            case IPEndPoint ip:
                return Write(ip, buffer);
            case UnixDomainSocketEndPoint unix:
                // .NET's SocketAddress holds the native layout on Linux; for sockaddr_un it is the only
                // encoder of the path rules (abstract names, length limit), so it is reused rather than redone.
                SocketAddress address = unix.Serialize();
                address.Buffer.Span[..address.Size].CopyTo(buffer);
                return address.Size;
            default:
                throw new NotSupportedException($"{endPoint.GetType().Name} has no sockaddr encoding here.");
        }
    }

    private static int Write(IPEndPoint endPoint, Span<byte> buffer)
    {
        buffer[..Inet6Size].Clear();
        BinaryPrimitives.WriteUInt16BigEndian(buffer[2..], (ushort)endPoint.Port);
        if (endPoint.AddressFamily == AddressFamily.InterNetwork)
        {
            BitConverter.TryWriteBytes(buffer, AfInet); // sa_family is host order
            endPoint.Address.TryWriteBytes(buffer.Slice(4, 4), out _);
            return InetSize;
        }
        BitConverter.TryWriteBytes(buffer, AfInet6);
        endPoint.Address.TryWriteBytes(buffer.Slice(8, 16), out _);
        BitConverter.TryWriteBytes(buffer[24..], (uint)endPoint.Address.ScopeId);
        return Inet6Size;
    }

    /// <summary>Reads a sockaddr of <paramref name="buffer"/>'s length; null for a family it does not know.</summary>
    public static EndPoint? Read(ReadOnlySpan<byte> buffer)
    {
        if (buffer.Length < sizeof(ushort))
        {
            return null;
        }
        ushort family = BitConverter.ToUInt16(buffer);
        if (family == AfUnix)
        {
            // An unnamed peer (every connecting client that did not bind) has no path: the endpoint's path is
            // empty, exactly as .NET reports it for Kestrel's Sockets transport.
            var address = new SocketAddress(AddressFamily.Unix, buffer.Length);
            buffer.CopyTo(address.Buffer.Span);
            return s_unixFactory.Create(address);
        }
        if (buffer.Length < InetSize)
        {
            return null;
        }
        int port = BinaryPrimitives.ReadUInt16BigEndian(buffer[2..]);
        if (family == AfInet)
        {
            return new IPEndPoint(new IPAddress(buffer.Slice(4, 4)), port);
        }
        if (family == AfInet6 && buffer.Length >= Inet6Size)
        {
            uint scopeId = BitConverter.ToUInt32(buffer[24..]);
            return new IPEndPoint(new IPAddress(buffer.Slice(8, 16), scopeId), port);
        }
        return null;
    }
}
