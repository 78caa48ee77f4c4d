using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;

/// <summary>
/// A TCP client for protocols without HTTP (echo servers, the sample's line chat room): exact-length reads,
/// strict line reads and the two ways to leave (FIN and RST). Every read is bounded by a timeout, every loop by a
/// size.
/// </summary>
internal sealed class TcpTestClient : IDisposable
{
    /// <summary>Far above the chat room's 4096-byte line limit; a longer line is a framing bug, not a long line.</summary>
    private const int MaxLineBytes = 64 * 1024;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly byte[] _buffer = new byte[MaxLineBytes + 1];
    private int _start;
    private int _end;

    private TcpTestClient(Socket socket) => Socket = socket;

    public Socket Socket { get; }

    public static async Task<TcpTestClient> ConnectAsync(EndPoint endPoint) =>
        new(await ClientConnections.ConnectSocketAsync(endPoint));

    public Task SendAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text));

    public async Task SendAsync(ReadOnlyMemory<byte> data)
    {
        while (!data.IsEmpty)
        {
            var sent = await Socket.SendAsync(data, SocketFlags.None).WithTimeout();
            data = data[sent..];
        }
    }

    /// <summary>Receives what is there (at least one byte), or 0 once the server has closed its side.</summary>
    public async Task<int> ReceiveAsync(Memory<byte> destination)
    {
        if (_end == _start && await FillAsync() == 0)
        {
            return 0;
        }
        var take = Math.Min(destination.Length, _end - _start);
        _buffer.AsMemory(_start, take).CopyTo(destination);
        _start += take;
        return take;
    }

    /// <summary>Receives exactly <paramref name="count"/> bytes; the connection ending earlier fails.</summary>
    public async Task<byte[]> ReceiveExactlyAsync(int count)
    {
        var result = new byte[count];
        var received = 0;
        while (received < count)
        {
            var read = await ReceiveAsync(result.AsMemory(received));
            if (read == 0)
            {
                throw new EndOfStreamException($"The connection ended after {received} of {count} bytes.");
            }
            received += read;
        }
        return result;
    }

    /// <summary>
    /// Reads one line that ends with "\n" and returns it without the "\n". A "\r" is kept, so a server that ends
    /// lines with "\r\n" shows. The bytes must be valid UTF-8.
    /// </summary>
    public async Task<string> ReadLineAsync()
    {
        var searchFrom = _start;
        while (true)
        {
            var index = _buffer.AsSpan(searchFrom, _end - searchFrom).IndexOf((byte)'\n');
            if (index >= 0)
            {
                var end = searchFrom + index;
                var line = StrictUtf8.GetString(_buffer, _start, end - _start);
                _start = end + 1;
                return line;
            }
            if (_end - _start >= MaxLineBytes)
            {
                throw new InvalidDataException($"No end of line within {MaxLineBytes} bytes.");
            }
            searchFrom = _end;
            var compacted = _start;
            if (await FillAsync() == 0)
            {
                throw new EndOfStreamException("The connection ended inside a line, or before one.");
            }
            // FillAsync may have moved the unread bytes to the start of the buffer.
            searchFrom -= compacted - _start;
        }
    }

    /// <summary>Reads until the server closes its side with a FIN; returns how many bytes came before it.</summary>
    public async Task<long> ReceiveUntilFinAsync()
    {
        long total = _end - _start;
        _start = _end = 0;
        int read;
        while ((read = await FillAsync()) > 0)
        {
            total += read;
            _start = _end = 0;
        }
        return total;
    }

    /// <summary>Leaves politely: FIN, then close.</summary>
    public void Close()
    {
        Socket.Shutdown(SocketShutdown.Both);
        Socket.Dispose();
    }

    /// <summary>Leaves abruptly: SO_LINGER with a zero timeout turns the close into an RST.</summary>
    public void Reset()
    {
        Socket.LingerState = new LingerOption(true, 0);
        Socket.Dispose();
    }

    public void ShutdownSend() => Socket.Shutdown(SocketShutdown.Send);

    public void Dispose() => Socket.Dispose();

    private async Task<int> FillAsync()
    {
        if (_start == _end)
        {
            _start = _end = 0;
        }
        else if (_end == _buffer.Length)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        var read = await Socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None).WithTimeout();
        _end += read;
        return read;
    }
}
