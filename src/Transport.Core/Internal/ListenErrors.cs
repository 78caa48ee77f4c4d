using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>What both transports say when an endpoint cannot be listened on: the problem and the fix, in the same words.</summary>
internal static class ListenErrors
{
    public static AddressInUseException AddressInUse(EndPoint endPoint, Exception innerException) =>
        new(endPoint.AddressFamily == AddressFamily.Unix
            ? $"Failed to bind to {endPoint}: the file already exists. If no server uses it any more, delete it, or choose another path."
            : $"Failed to bind to {endPoint}: the address is already in use. Stop the process that uses it or choose another port.",
            innerException);

    public static string HandleNotASocket(ulong handle) =>
        $"File handle {handle} is not a socket. Pass the handle of a bound stream socket (ListenHandle, or a systemd socket unit with ListenStream=).";

    public static string HandleNotAStreamSocket(ulong handle) =>
        $"File handle {handle} is not a stream socket. Kestrel serves TCP and Unix stream sockets only.";
}
