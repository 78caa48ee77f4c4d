using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;

internal sealed record RawHttpResponse(int StatusCode, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string BodyText => Encoding.UTF8.GetString(Body);
}

/// <summary>How the server ended a connection, as seen by the client.</summary>
internal enum ConnectionEnd
{
    /// <summary>An orderly FIN: a read returned 0.</summary>
    Fin,

    /// <summary>A reset: a read failed with ECONNRESET.</summary>
    Reset,
}

/// <summary>
/// A raw TCP client speaking just enough HTTP/1.1 to drive what <see cref="HttpClient"/> hides: pipelining,
/// half-close, reset, partial bodies and byte-exact flow control. Every read is bounded by a timeout.
/// </summary>
internal sealed class RawClient : IDisposable
{
    private byte[] _buffer = new byte[16 * 1024];
    private int _start;
    private int _end;

    private RawClient(Socket socket) => Socket = socket;

    public Socket Socket { get; }

    public static async Task<RawClient> ConnectAsync(EndPoint endPoint, TimeSpan? timeout = null, Action<Socket>? beforeConnect = null) =>
        new(await ClientConnections.ConnectSocketAsync(endPoint, timeout, beforeConnect: beforeConnect));

    public Task SendAsync(string ascii) => SendAsync(Encoding.ASCII.GetBytes(ascii));

    public async Task SendAsync(ReadOnlyMemory<byte> data)
    {
        while (!data.IsEmpty)
        {
            var sent = await Socket.SendAsync(data, SocketFlags.None).WithTimeout();
            data = data[sent..];
        }
    }

    /// <summary>Half-closes the connection: the server reads FIN, the client can still read.</summary>
    public void ShutdownSend() => Socket.Shutdown(SocketShutdown.Send);

    /// <summary>Closes with an RST instead of a FIN (SO_LINGER with a zero timeout).</summary>
    public void Reset()
    {
        Socket.LingerState = new LingerOption(true, 0);
        Socket.Dispose();
    }

    /// <summary>Reads and discards exactly <paramref name="count"/> bytes of whatever the server sends.</summary>
    public async Task DiscardAsync(long count)
    {
        while (count > 0)
        {
            if (_end == _start && await FillAsync() == 0)
            {
                throw new EndOfStreamException($"The connection ended with {count} byte(s) still expected.");
            }
            var take = (int)Math.Min(count, _end - _start);
            _start += take;
            count -= take;
        }
    }

    /// <summary>
    /// Reads until the server ends the connection and tells how it ended. Bytes still arriving are counted,
    /// not parsed.
    /// </summary>
    public async Task<(ConnectionEnd End, long BytesRead)> ReadUntilEndAsync(TimeSpan? timeout = null)
    {
        long bytesRead = _end - _start;
        _start = _end = 0;
        var deadline = Stopwatch.StartNew();
        var budget = timeout ?? TimeoutExtensions.DefaultTimeout;
        while (true)
        {
            int read;
            try
            {
                read = await Socket.ReceiveAsync(_buffer.AsMemory(), SocketFlags.None).WithTimeout(Remaining(budget, deadline));
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
            {
                return (ConnectionEnd.Reset, bytesRead);
            }
            if (read == 0)
            {
                return (ConnectionEnd.Fin, bytesRead);
            }
            bytesRead += read;
        }
    }

    /// <summary>
    /// Sends <paramref name="total"/> bytes, repeating <paramref name="chunk"/>, until everything is sent or the
    /// peer stops taking bytes. A stall is "no byte could be sent for <paramref name="stallWindow"/>": the socket
    /// stayed unwritable for that long, which only happens once both kernels' buffers are full, i.e. once the
    /// server has stopped reading.
    /// </summary>
    /// <remarks>
    /// The loop blocks in <see cref="Socket.Poll(TimeSpan, SelectMode)"/>, so it runs on a thread of its own: on a
    /// 2-core machine a blocked pool thread would starve the server's I/O callbacks and fake a stall.
    /// </remarks>
    public Task<(long Sent, bool Stalled)> SendUntilStalledAsync(ReadOnlyMemory<byte> chunk, long total, TimeSpan stallWindow) =>
        Task.Factory.StartNew(() =>
        {
            var socket = Socket;
            socket.Blocking = false;
            try
            {
                long sent = 0;
                var elapsed = Stopwatch.StartNew();
                while (sent < total && elapsed.Elapsed < TimeoutExtensions.DefaultTimeout)
                {
                    var offset = (int)(sent % chunk.Length);
                    var length = (int)Math.Min(chunk.Length - offset, total - sent);
                    var written = socket.Send(chunk.Span.Slice(offset, length), SocketFlags.None, out var error);
                    if (error == SocketError.Success)
                    {
                        sent += written;
                    }
                    else if (error != SocketError.WouldBlock)
                    {
                        throw new SocketException((int)error);
                    }
                    else if (!socket.Poll(stallWindow, SelectMode.SelectWrite))
                    {
                        return (sent, true);
                    }
                }
                return (sent, false);
            }
            finally
            {
                socket.Blocking = true;
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).WithTimeout(TimeoutExtensions.DefaultTimeout + TimeSpan.FromSeconds(5));

    /// <summary>Sends <paramref name="count"/> bytes taken cyclically from <paramref name="chunk"/>, starting at <paramref name="position"/>.</summary>
    public async Task SendRepeatingAsync(ReadOnlyMemory<byte> chunk, long position, long count)
    {
        var end = position + count;
        while (position < end)
        {
            var offset = (int)(position % chunk.Length);
            var length = (int)Math.Min(chunk.Length - offset, end - position);
            await SendAsync(chunk.Slice(offset, length));
            position += length;
        }
    }

    /// <summary>
    /// Connects and reads until the server ends the connection, for a server that ends it on its own. A server
    /// that resets at once can do so before the connect has even reported success; that counts as a reset.
    /// </summary>
    public static async Task<(ConnectionEnd End, long BytesRead)> ConnectAndReadUntilEndAsync(EndPoint endPoint, TimeSpan timeout)
    {
        RawClient client;
        try
        {
            client = await ConnectAsync(endPoint, timeout);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            return (ConnectionEnd.Reset, 0);
        }
        using (client)
        {
            return await client.ReadUntilEndAsync(timeout);
        }
    }

    /// <summary>Reads one response; understands Content-Length, chunked, and close-delimited bodies.</summary>
    public async Task<RawHttpResponse> ReadResponseAsync()
    {
        var headerEnd = await FindHeaderEndAsync();
        var head = Encoding.ASCII.GetString(_buffer, _start, headerEnd - _start);
        _start = headerEnd + 4;

        var lines = head.Split("\r\n");
        var statusParts = lines[0].Split(' ', 3);
        if (statusParts.Length < 2 || !statusParts[0].StartsWith("HTTP/1.", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"Not an HTTP/1.x status line: '{lines[0]}'.");
        }
        var statusCode = int.Parse(statusParts[1], CultureInfo.InvariantCulture);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }

        byte[] body;
        if (headers.TryGetValue("Content-Length", out var contentLength))
        {
            body = await ReadExactlyAsync(int.Parse(contentLength, CultureInfo.InvariantCulture));
        }
        else if (headers.TryGetValue("Transfer-Encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            body = await ReadChunkedAsync();
        }
        else if (statusCode is 204 or 304 or < 200)
        {
            body = [];
        }
        else
        {
            body = await ReadToEndAsync();
        }
        return new RawHttpResponse(statusCode, headers, body);
    }

    public void Dispose() => Socket.Dispose();

    private static TimeSpan Remaining(TimeSpan budget, Stopwatch elapsed)
    {
        var remaining = budget - elapsed.Elapsed;
        return remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero;
    }

    private async Task<int> FillAsync()
    {
        if (_start == _end)
        {
            _start = _end = 0;
        }
        else if (_end == _buffer.Length)
        {
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            else
            {
                Array.Resize(ref _buffer, _buffer.Length * 2);
            }
        }
        var read = await Socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None).WithTimeout();
        _end += read;
        return read;
    }

    private async Task<int> FindHeaderEndAsync()
    {
        var searchFrom = _start;
        while (true)
        {
            var index = _buffer.AsSpan(searchFrom, _end - searchFrom).IndexOf("\r\n\r\n"u8);
            if (index >= 0)
            {
                return searchFrom + index;
            }
            var scanned = Math.Max(0, _end - _start - 3);
            if (await FillAsync() == 0)
            {
                throw new EndOfStreamException("The connection ended before the response headers were complete.");
            }
            // FillAsync may have compacted the buffer; resume where the previous scan stopped.
            searchFrom = _start + scanned;
        }
    }

    private async Task<byte[]> ReadExactlyAsync(int count)
    {
        var result = new byte[count];
        var copied = 0;
        while (copied < count)
        {
            if (_end == _start && await FillAsync() == 0)
            {
                throw new EndOfStreamException($"The connection ended after {copied} of {count} body bytes.");
            }
            var take = Math.Min(count - copied, _end - _start);
            Buffer.BlockCopy(_buffer, _start, result, copied, take);
            _start += take;
            copied += take;
        }
        return result;
    }

    private async Task<string> ReadLineAsync()
    {
        while (true)
        {
            var index = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n"u8);
            if (index >= 0)
            {
                var line = Encoding.ASCII.GetString(_buffer, _start, index);
                _start += index + 2;
                return line;
            }
            if (await FillAsync() == 0)
            {
                throw new EndOfStreamException("The connection ended inside a chunked body.");
            }
        }
    }

    private async Task<byte[]> ReadChunkedAsync()
    {
        using var body = new MemoryStream();
        while (true)
        {
            var sizeLine = await ReadLineAsync();
            var size = int.Parse(sizeLine.Split(';')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (size == 0)
            {
                // Trailers, if any, end with an empty line.
                while ((await ReadLineAsync()).Length != 0)
                {
                }
                return body.ToArray();
            }
            body.Write(await ReadExactlyAsync(size));
            if ((await ReadLineAsync()).Length != 0)
            {
                throw new InvalidDataException("A chunk was not followed by CRLF.");
            }
        }
    }

    private async Task<byte[]> ReadToEndAsync()
    {
        while (await FillAsync() != 0)
        {
        }
        var body = _buffer.AsSpan(_start, _end - _start).ToArray();
        _start = _end;
        return body;
    }
}
