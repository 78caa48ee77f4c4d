using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal.Interop;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Interop;

// The interop layer is the one place errno becomes a typed result; these pin its assumptions about the platform.
public class LinuxInteropTests
{
    [Fact]
    public void EpollTransport_OnLinux_IsSupported()
    {
        Assert.Equal(OperatingSystem.IsLinux(), EpollTransportFactory.IsSupported);
    }

    [LinuxFact]
    public void Close_InvalidFd_ReportsEbadfThroughErrno()
    {
        int result = Tmds.Linux.LibC.close(-1);
        int errno = LinuxError.Last;

        Assert.Equal(-1, result);
        Assert.Equal(LinuxError.EBADF, errno);
        Assert.Equal(SocketError.OperationAborted, LinuxError.ToSocketError(errno));
    }

    [LinuxFact]
    public void EpollEvent_Size_MatchesTheKernelLayoutOfThisArchitecture()
    {
        // Packed on x64 (12 bytes), naturally aligned elsewhere (16): a wrong stride would scramble every event.
        int expected = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
        Assert.Equal(expected, EpollApi.EventSize);
    }

    [Theory]
    [InlineData(LinuxError.EAGAIN, SocketError.WouldBlock)]
    [InlineData(LinuxError.ECONNRESET, SocketError.ConnectionReset)]
    [InlineData(LinuxError.EPIPE, SocketError.Shutdown)]
    [InlineData(LinuxError.EADDRINUSE, SocketError.AddressAlreadyInUse)]
    [InlineData(LinuxError.EMFILE, SocketError.TooManyOpenSockets)]
    [InlineData(LinuxError.ECONNABORTED, SocketError.ConnectionAborted)]
    [InlineData(LinuxError.EPROTO, SocketError.ConnectionAborted)]
    public void ToSocketError_KnownErrno_MapsLikeDotNet(int errno, SocketError expected)
    {
        Assert.Equal(expected, LinuxError.ToSocketError(errno));
    }

    [Theory]
    [InlineData("127.0.0.1", 8080)]
    [InlineData("::1", 443)]
    [InlineData("::ffff:127.0.0.1", 65535)]
    [InlineData("0.0.0.0", 0)]
    public void SocketAddressCodec_WriteThenRead_RoundTrips(string address, int port)
    {
        var endPoint = new IPEndPoint(IPAddress.Parse(address), port);
        Span<byte> buffer = stackalloc byte[SocketAddressCodec.MaxSize];

        int length = SocketAddressCodec.Write(endPoint, buffer);
        EndPoint? read = SocketAddressCodec.Read(buffer[..length]);

        Assert.Equal(endPoint, read);
    }

    [Fact]
    public void SocketAddressCodec_UnixPath_RoundTripsAndIsAFile()
    {
        var endPoint = new UnixDomainSocketEndPoint("/tmp/reactors-test.sock");
        Span<byte> buffer = stackalloc byte[SocketAddressCodec.MaxSize];

        int length = SocketAddressCodec.Write(endPoint, buffer);
        EndPoint? read = SocketAddressCodec.Read(buffer[..length]);

        Assert.Equal("/tmp/reactors-test.sock", Assert.IsType<UnixDomainSocketEndPoint>(read).ToString());
        Assert.Equal(endPoint.ToString(), UnixSocketFiles.PathOf(endPoint));
    }

    [Fact]
    public void SocketAddressCodec_UnnamedUnixPeer_ReadsAsEmptyPath()
    {
        // accept4 reports a client that never bound as a bare sa_family_t: AF_UNIX (1), no path.
        byte[] unnamed = [1, 0];

        EndPoint? read = SocketAddressCodec.Read(unnamed);

        Assert.Equal(string.Empty, Assert.IsType<UnixDomainSocketEndPoint>(read).ToString());
    }

    [Fact]
    public void SocketAddressCodec_AbstractUnixName_IsNotAFile()
    {
        Assert.Null(UnixSocketFiles.PathOf(new UnixDomainSocketEndPoint("\0reactors-abstract")));
    }

    [Fact]
    public void SocketAddressCodec_Write_MatchesDotNetsNativeLayout()
    {
        // .NET's SocketAddress holds the platform's sockaddr bytes; ours must be identical for bind to work.
        var endPoint = new IPEndPoint(IPAddress.Parse("192.168.1.20"), 5000);
        SocketAddress expected = endPoint.Serialize();
        Span<byte> buffer = stackalloc byte[SocketAddressCodec.MaxSize];

        int length = SocketAddressCodec.Write(endPoint, buffer);

        Assert.Equal(expected.Size, length);
        Assert.True(expected.Buffer.Span[..length].SequenceEqual(buffer[..length]));
    }
}
