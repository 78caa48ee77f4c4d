using System.Net;
using System.Net.Sockets;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Select.Internal;

/// <summary>
/// A connected loopback TCP pair: writing a byte to one end makes the other readable, which interrupts a
/// <c>Socket.Select</c> wait. The portable equivalent of an eventfd (Python's asyncio does the same);
/// TCP rather than a Unix socket pair because it exists on every platform .NET runs on.
/// </summary>
internal sealed class WakeSocketPair : IDisposable
{
    private static readonly byte[] s_signal = [1];
    private readonly byte[] _drainBuffer = new byte[64];

    private WakeSocketPair(Socket reader, Socket writer)
    {
        Reader = reader;
        Writer = writer;
    }

    public Socket Reader { get; }

    private Socket Writer { get; }

    public static WakeSocketPair Create()
    {
        IPAddress loopback = Socket.OSSupportsIPv4 ? IPAddress.Loopback : IPAddress.IPv6Loopback;
        using var listener = new Socket(loopback.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(loopback, 0));
        listener.Listen(1);

        var writer = new Socket(loopback.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            writer.Connect(listener.LocalEndPoint!);
            Socket reader = listener.Accept();
            reader.Blocking = false;
            writer.Blocking = false;
            writer.NoDelay = true;
            return new WakeSocketPair(reader, writer);
        }
        catch
        {
            writer.Dispose();
            throw;
        }
    }

    /// <summary>Thread-safe. A full buffer means a wake-up is already pending, so the result is ignored.</summary>
    public void Signal() => _ = Writer.Send(s_signal, SocketFlags.None, out _);

    /// <summary>Reactor thread only: consumes pending signals so the reader stops reporting readable.</summary>
    public void Drain()
    {
        while (Reader.Receive(_drainBuffer, SocketFlags.None, out SocketError error) > 0 && error == SocketError.Success)
        {
        }
    }

    public void Dispose()
    {
        Reader.Dispose();
        Writer.Dispose();
    }
}
