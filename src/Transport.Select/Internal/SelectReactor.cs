using System.Buffers;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Select.Internal;

/// <summary>
/// A reactor whose readiness backend is <c>Socket.Select</c> over all of its sockets. Level-triggered, so a wait
/// costs O(sockets of this reactor) where epoll's costs O(ready sockets); on Linux .NET implements Select with
/// poll(2), so FD_SETSIZE (1,024) does not apply. What each socket waits for is kept in <see cref="WatchedSockets"/>
/// as it changes: a wait copies two arrays into the lists Socket.Select takes, and asks no handler anything (what
/// Socket.Select itself does per socket, reading each handle and allocating its poll array, is the portable API's).
/// </summary>
internal sealed class SelectReactor : ReactorLoop
{
    private readonly WakeSocketPair _wake;
    private readonly Dictionary<Socket, SelectRegistration> _registrations = new(ReferenceEqualityComparer.Instance);
    private readonly WatchedSockets _watchedForRead = new(SelectInterest.Read);
    private readonly WatchedSockets _watchedForWrite = new(SelectInterest.Write);
    // What each wait hands to Socket.Select, which keeps only the ready sockets in them.
    private readonly List<Socket> _readable = [];
    private readonly List<Socket> _writable = [];

    private SelectReactor(string name, MemoryPool<byte> memoryPool, ILogger logger, TimeSpan spinDuration, WakeSocketPair wake)
        : base(name, memoryPool, logger, spinDuration)
    {
        _wake = wake;
    }

    public static SelectReactor Create(string name, MemoryPool<byte> memoryPool, ILogger logger, TimeSpan spinDuration)
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
        return new SelectReactor(name, memoryPool, logger, spinDuration, wake);
    }

    /// <summary>Adds a handler, watched for <paramref name="interest"/>. Reactor thread only.</summary>
    public void Register(SelectRegistration registration, SelectInterest interest)
    {
        _registrations.Add(registration.Socket, registration);
        registration.IsRegistered = true;
        Watch(registration, interest);
    }

    /// <summary>
    /// Sets what a registered handler waits for. Select is level-triggered: a handler that is not interested (a
    /// paused receive side, a backing-off listener) must say so, or every wait would return at once. Reactor
    /// thread only.
    /// </summary>
    public void Watch(SelectRegistration registration, SelectInterest interest)
    {
        SelectInterest changed = registration.Interest ^ interest;
        if (changed == SelectInterest.None)
        {
            return;
        }
        if (interest != SelectInterest.None && !registration.IsRegistered)
        {
            // A bug in the caller: watched but unregistered, the socket would reach Socket.Select after its
            // disposal and stop the reactor. Failing here fails only the handler.
            throw new InvalidOperationException("A select handler asked to be watched while not registered with its reactor.");
        }
        registration.Interest = interest;
        if ((changed & SelectInterest.Read) != 0)
        {
            Update(_watchedForRead, registration, (interest & SelectInterest.Read) != 0);
        }
        if ((changed & SelectInterest.Write) != 0)
        {
            Update(_watchedForWrite, registration, (interest & SelectInterest.Write) != 0);
        }
    }

    private static void Update(WatchedSockets watched, SelectRegistration registration, bool add)
    {
        if (add)
        {
            watched.Add(registration);
        }
        else
        {
            watched.Remove(registration);
        }
    }

    /// <summary>Removes a handler before its socket is disposed. Reactor thread only.</summary>
    public void Unregister(SelectRegistration registration)
    {
        if (_registrations.Remove(registration.Socket))
        {
            Watch(registration, SelectInterest.None);
            registration.IsRegistered = false;
        }
    }

    protected override int WaitAndDispatch(int timeoutMilliseconds)
    {
        _readable.Clear();
        _readable.Add(_wake.Reader);
        _readable.AddRange(_watchedForRead.Sockets);
        _writable.Clear();
        _writable.AddRange(_watchedForWrite.Sockets);

        // -1 microseconds waits forever.
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
            else if (_registrations.TryGetValue(socket, out SelectRegistration? registration))
            {
                Dispatch(registration.Handler, writable: false);
            }
        }
        foreach (Socket socket in _writable)
        {
            // A handler closed earlier in this batch is no longer registered.
            if (_registrations.TryGetValue(socket, out SelectRegistration? registration))
            {
                Dispatch(registration.Handler, writable: true);
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
