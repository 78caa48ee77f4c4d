using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>
/// A connection served by a reactor: the Kestrel-facing <see cref="ConnectionContext"/> and the two state machines
/// that move bytes between the socket and the pipes (receive side in ReactorConnection.Receive.cs, send side in
/// ReactorConnection.Send.cs). Backends plug in through the operations in ReactorConnection.Backend.cs.
/// </summary>
/// <remarks>
/// Threading: the receive side and closing run on the owning reactor (the input pipe's writer is scheduled
/// there), so that state needs no locks. The send side has one owner at a time, usually the reactor, sometimes a
/// thread-pool thread that flushed output (see <see cref="SendState"/>). Application threads otherwise only call
/// <see cref="Abort(ConnectionAbortedException)"/>, <see cref="DisposeAsync"/> and the pipe ends they own; both
/// methods post to the reactor instead of touching the socket.
///
/// Behaviour (mirrors Kestrel's Sockets transport, its SocketConnection's receive and send loops):
/// 1. Receive: read until the socket would block, straight into input-pipe memory, then flush. A flush that
///    does not complete means the application is behind (MaxReadBufferSize): stop reading until it completes.
/// 2. FIN completes the input with no error; a reset completes it with <see cref="ConnectionResetException"/>.
/// 3. Send: output flushed on the reactor is sent at the end of the iteration (gathered); output flushed on a
///    thread-pool thread is sent by that thread at the end of its work item; what the socket does not take is
///    left in the pipe until the reactor sees the socket writable again.
/// 4. Close: the first reason wins. Abort with a reason sends RST (unless the FinOnError switch is on), otherwise
///    FIN after everything written has been sent. Closing ends both directions and completes the input with the
///    close reason, then <see cref="ConnectionClosed"/> fires on the thread pool.
/// </remarks>
internal abstract partial class ReactorConnection : ConnectionContext,
    IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature, IMemoryPoolFeature, IConnectionLifetimeFeature
{
    // Same switch as Kestrel's: when set, aborts with a reason end with FIN instead of RST.
    private static readonly bool s_finOnError =
        AppContext.TryGetSwitch("Microsoft.AspNetCore.Server.Kestrel.FinOnError", out bool finOnError) && finOnError;

    private static readonly Action<object?> s_start = static s => ((ReactorConnection)s!).StartOnReactor();
    private static readonly Action<object?> s_abort = static s => ((ReactorConnection)s!).AbortOnReactor();

    private readonly ReactorLoop _reactor;
    private readonly ILogger _logger;
    private readonly PipeWriter _inputWriter;
    private readonly PipeReader _outputReader;
    private readonly DuplexPipe _originalTransport;
    private readonly CancellationTokenSource _connectionClosedSource = new();
    private readonly TaskCompletionSource _processingCompleted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _disposeLock = new();
    private IDictionary<object, object?>? _items;
    private Task? _disposeTask;

    // Written by any thread once (CAS), read by the reactor after the posted abort runs.
    private int _abortRequested;
    private ConnectionAbortedException? _abortReason;

    // Reactor thread only: the connection's life cycle, around the two directions' states.
    private bool _started;
    private bool _socketClosed;
    private bool _resetLogged;
    private Exception? _shutdownReason;

    protected ReactorConnection(ReactorLoop reactor, ConnectionSettings settings, EndPoint? localEndPoint, EndPoint? remoteEndPoint)
    {
        _reactor = reactor;
        _logger = reactor.Logger;
        ConnectionId = ConnectionIdGenerator.Next();
        LocalEndPoint = localEndPoint;
        RemoteEndPoint = remoteEndPoint;

        MemoryPool<byte> pool = reactor.MemoryPool;
        int minimumSegmentSize = ReactorMemoryPool.GetMinimumSegmentSize(pool);
        PipeScheduler applicationScheduler = settings.InlineApplicationScheduling ? PipeScheduler.Inline : PipeScheduler.ThreadPool;

        // The input's writer is scheduled on the reactor and its reader on the thread pool, so application code
        // never runs on a reactor unless the user opted in. The output's reader runs its continuation inline, on
        // whichever thread flushed: the send side decides there where the send happens (SendState).
        var input = new Pipe(new PipeOptions(pool, applicationScheduler, reactor,
            settings.MaxReadBufferSize, settings.MaxReadBufferSize / 2, minimumSegmentSize, useSynchronizationContext: false));
        var output = new Pipe(new PipeOptions(pool, PipeScheduler.Inline, applicationScheduler,
            settings.MaxWriteBufferSize, settings.MaxWriteBufferSize / 2, minimumSegmentSize, useSynchronizationContext: false));

        _inputWriter = input.Writer;
        _outputReader = output.Reader;
        _originalTransport = new DuplexPipe(input.Reader, output.Writer);
        Transport = _originalTransport;
        _onFlushCompleted = OnFlushCompleted;
        _onOutputReadCompleted = OnOutputReadCompleted;

        var features = new FeatureCollection();
        features.Set<IConnectionIdFeature>(this);
        features.Set<IConnectionTransportFeature>(this);
        features.Set<IConnectionItemsFeature>(this);
        features.Set<IMemoryPoolFeature>(this);
        features.Set<IConnectionLifetimeFeature>(this);
        Features = features;
    }

    public override string ConnectionId { get; set; }

    public override IFeatureCollection Features { get; }

    public override IDuplexPipe Transport { get; set; }

    public override IDictionary<object, object?> Items
    {
        get => _items ??= new Dictionary<object, object?>();
        set => _items = value;
    }

    public override CancellationToken ConnectionClosed
    {
        get => _connectionClosedSource.Token;
        set => throw new NotSupportedException("The transport owns the ConnectionClosed token.");
    }

    public MemoryPool<byte> MemoryPool => _reactor.MemoryPool;

    // -------------------------------------------------------------------------------------------------------
    // Application-facing API (any thread)
    // -------------------------------------------------------------------------------------------------------

    /// <summary>Starts both directions on the reactor. Called once, by the listener, before the context is handed out.</summary>
    public void Start() => _reactor.Schedule(s_start, this);

    public override void Abort() =>
        Abort(new ConnectionAbortedException("The connection was aborted by the application via ConnectionContext.Abort()."));

    void IConnectionLifetimeFeature.Abort() =>
        Abort(new ConnectionAbortedException("The connection was aborted by the application via IConnectionLifetimeFeature.Abort()."));

    // Kestrel passes null for "close without a reason" (FIN), so the parameter is treated as nullable.
    public override void Abort(ConnectionAbortedException abortReason)
    {
        if (Interlocked.Exchange(ref _abortRequested, 1) != 0)
        {
            return;
        }
        _abortReason = abortReason;
        // Never close the socket here: the caller may hold Kestrel's output lock, and the fd belongs to the
        // reactor (closing it from another thread races with fd reuse).
        _reactor.Schedule(s_abort, this);
    }

#pragma warning disable CA2215 // BaseConnectionContext.DisposeAsync is a no-op; this replaces it.
    public override ValueTask DisposeAsync()
#pragma warning restore CA2215
    {
        lock (_disposeLock)
        {
            _disposeTask ??= DisposeCoreAsync();
        }
        return new ValueTask(_disposeTask);
    }

    private async Task DisposeCoreAsync()
    {
        // Complete the pipes we created, not whatever middleware put into Transport: completing the output lets
        // the send side send what is left and then FIN; completing the input stops receiving.
        await _originalTransport.Input.CompleteAsync().ConfigureAwait(false);
        await _originalTransport.Output.CompleteAsync().ConfigureAwait(false);
        await _processingCompleted.Task.ConfigureAwait(false);
    }

    // -------------------------------------------------------------------------------------------------------
    // Life cycle (reactor thread only)
    // -------------------------------------------------------------------------------------------------------

    /// <summary>
    /// Fails the connection after an unexpected exception in one of its handlers: closes it if it is open, and ends
    /// both directions either way (a handler that threw after the close may have left a side unfinished).
    /// </summary>
    /// <returns>False when the connection was not started yet, so there was nothing to fail.</returns>
    internal bool Fail(Exception ex)
    {
        if (!_started)
        {
            return false;
        }
        TransportLog.ConnectionError(_logger, this, ex);
        Shutdown(ex as IOException ?? new IOException(ex.Message, ex), reset: true);
        return true;
    }

    private void StartOnReactor()
    {
        _started = true;
        _reactor.ConnectionStarted();
        if (_abortRequested != 0)
        {
            // Aborted before the reactor saw it: the posted abort runs next and closes it.
            return;
        }
        SocketError error = RegisterWithReactor();
        if (error != SocketError.Success)
        {
            var ex = new IOException($"Registering the connection with the reactor failed: {error}.", new SocketException((int)error));
            TransportLog.ConnectionError(_logger, this, ex);
            Shutdown(ex, reset: true);
            return;
        }
        if (SubmitsOperations)
        {
            // No readiness will come: the first receive is submitted now.
            ReceiveUntilBlocked();
        }
        ReadOutput();
    }

    private void AbortOnReactor()
    {
        if (!_started)
        {
            return;
        }
        ConnectionAbortedException? reason = _abortReason;
        Shutdown(reason, reset: reason is not null && !s_finOnError);
    }

    /// <summary>Builds the exception a socket error completes the pipes with, logging it once per connection.</summary>
    private Exception CreateSocketError(SocketError error)
    {
        var socketException = new SocketException((int)error);
        if (IoResult.IsConnectionReset(error))
        {
            // Receive and send can both see one reset; Sockets logs it once.
            if (!_resetLogged)
            {
                _resetLogged = true;
                TransportLog.ConnectionReset(_logger, this);
            }
            return new ConnectionResetException(socketException.Message, socketException);
        }
        var ioException = new IOException(socketException.Message, socketException);
        TransportLog.ConnectionError(_logger, this, ioException);
        return ioException;
    }

    /// <summary>Closes the socket once; the first reason wins. Then ends both directions.</summary>
    private void Shutdown(Exception? reason, bool reset)
    {
        if (!_socketClosed)
        {
            _socketClosed = true;
            _shutdownReason = reason ?? new ConnectionAbortedException("The reactor transport's send loop completed gracefully.");
            if (reset)
            {
                TransportLog.ConnectionWriteRst(_logger, this, _shutdownReason.Message);
            }
            else
            {
                TransportLog.ConnectionWriteFin(_logger, this, _shutdownReason.Message);
            }
            CloseSocket(reset);
        }

        EndSend();
        EndReceive();
    }

    // Both sides' MoveTo: a transition their state table does not allow is a transport bug; it fails the connection.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowIllegalMove<TState>(TState from, TState to) where TState : struct, Enum =>
        throw new InvalidOperationException($"Illegal {typeof(TState).Name} transition {from} -> {to}.");

    private void CheckProcessingCompleted()
    {
        // Once: with inline application scheduling, completing one side can run application code that completes
        // the other side inline, so both completions may get here, nested.
        if (_receiveState == ReceiveState.Completed && SendSide == SendState.Completed && _processingCompleted.TrySetResult())
        {
            _reactor.ConnectionCompleted();
        }
    }
}
