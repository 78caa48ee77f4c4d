using System.Buffers;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Select.Internal;

/// <summary>
/// A reactor whose readiness backend is <c>Socket.Select</c> over all of its sockets. Level-triggered:
/// each iteration asks every handler what it waits for, so a wait costs O(sockets of this reactor), where epoll
/// costs O(ready sockets). On Linux .NET implements Select with poll(2), so FD_SETSIZE (1,024) does not apply.
/// </summary>
internal sealed class SelectReactor : ReactorLoop
{
    private readonly WakeSocketPair _wake;
    private readonly List<ISelectHandler> _handlers = [];
    private readonly Dictionary<Socket, ISelectHandler> _handlersBySocket = new(ReferenceEqualityComparer.Instance);
    private readonly List<Socket> _readable = [];
    private readonly List<Socket> _writable = [];

    private SelectReactor(string name, MemoryPool<byte> memoryPool, ILogger logger, WakeSocketPair wake)
        : base(name, memoryPool, logger)
    {
        _wake = wake;
    }

    public static SelectReactor Create(string name, MemoryPool<byte> memoryPool, ILogger logger)
    {
        WakeSocketPair wake;
        try
        {
            wake = WakeSocketPair.Create();
        }
        catch (SocketException ex)
        {
            throw new InvalidOperationException(
                $"Creating the loopback wake-up socket pair for {name} failed ({ex.SocketErrorCode}). The select transport needs a loopback interface (127.0.0.1 or ::1).", ex);
        }
        return new SelectReactor(name, memoryPool, logger, wake);
    }

    /// <summary>Adds a handler to the set scanned by each wait. Reactor thread only.</summary>
    public void Register(ISelectHandler handler)
    {
        _handlersBySocket.Add(handler.Socket, handler);
        _handlers.Add(handler);
    }

    /// <summary>Removes a handler before its socket is disposed. Reactor thread only.</summary>
    public void Unregister(ISelectHandler handler)
    {
        if (_handlersBySocket.Remove(handler.Socket))
        {
            int index = _handlers.IndexOf(handler);
            int last = _handlers.Count - 1;
            _handlers[index] = _handlers[last];
            _handlers.RemoveAt(last);
        }
    }

    protected override int WaitAndDispatch(int timeoutMilliseconds)
    {
        _readable.Clear();
        _writable.Clear();
        _readable.Add(_wake.Reader);

        long now = Environment.TickCount64;
        foreach (ISelectHandler handler in _handlers)
        {
            SelectInterest interest = handler.GetInterest(now, ref timeoutMilliseconds);
            if ((interest & SelectInterest.Read) != 0)
            {
                _readable.Add(handler.Socket);
            }
            if ((interest & SelectInterest.Write) != 0)
            {
                _writable.Add(handler.Socket);
            }
        }

        // Socket.Select keeps only the ready sockets in each list; -1 microseconds waits forever.
        try
        {
            Socket.Select(_readable, _writable, null, timeoutMilliseconds < 0 ? -1 : timeoutMilliseconds * 1000);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.Interrupted)
        {
            return 0; // a signal interrupted the wait; the next iteration waits again
        }

        int events = _readable.Count + _writable.Count;

        foreach (Socket socket in _readable)
        {
            if (ReferenceEquals(socket, _wake.Reader))
            {
                _wake.Drain();
            }
            else if (_handlersBySocket.TryGetValue(socket, out ISelectHandler? handler))
            {
                Dispatch(handler, writable: false);
            }
        }
        foreach (Socket socket in _writable)
        {
            // A handler closed earlier in this batch is no longer in the map.
            if (_handlersBySocket.TryGetValue(socket, out ISelectHandler? handler))
            {
                Dispatch(handler, writable: true);
            }
        }
        return events;
    }

    private void Dispatch(ISelectHandler handler, bool writable)
    {
        try
        {
            if (writable)
            {
                handler.OnSelectWritable();
            }
            else
            {
                handler.OnSelectReadable();
            }
        }
        catch (Exception ex)
        {
            OnHandlerError(handler as ReactorConnection, ex);
        }
    }

    protected override void Wake() => _wake.Signal();

    protected override void DisposeBackend() => _wake.Dispose();
}
