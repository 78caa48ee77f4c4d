using System.Net;
using System.Net.Sockets;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>What both transports do to a Unix socket file they created, between bind and listen.</summary>
internal static class UnixSocketFiles
{
    /// <summary>
    /// Gives <paramref name="path"/> the configured mode. Called before listen: until then a client's connect is
    /// refused, so no client ever reaches the socket through the umask's permissions.
    /// </summary>
    public static void ApplyMode(string path, UnixFileMode mode, EndPoint endPoint)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException(
                $"UnixSocketFileMode cannot be applied to {endPoint} on Windows, which has no Unix file modes: leave the option unset there.");
        }
        try
        {
            File.SetUnixFileMode(path, mode);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new SocketException((int)SocketError.AccessDenied,
                $"Setting UnixSocketFileMode {Octal(mode)} on the socket file of {endPoint} failed: {ex.Message}");
        }
    }

    /// <summary>
    /// The file a Unix socket endpoint names, or null for an abstract name (Linux: a leading zero byte, which has no
    /// file to set a mode on or to delete). Read from the sockaddr_un itself, as the kernel will see it.
    /// </summary>
    public static string? PathOf(UnixDomainSocketEndPoint endPoint)
    {
        SocketAddress address = endPoint.Serialize();
        return address.Size > 2 && address.Buffer.Span[2] != 0 ? endPoint.ToString() : null;
    }

    public static string Octal(UnixFileMode mode) => "0" + Convert.ToString((int)mode, 8).PadLeft(3, '0');
}
