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
/// A connection served by a reactor: the Kestrel-facing <see cref="ConnectionContext"/> and the state machine
/// that moves bytes between the socket and the two pipes. Backends supply only the socket primitives.
/// </summary>
/// <remarks>
/// Threading: everything below "Reactor thread only" runs on the owning reactor (the transport ends of both
/// pipes are scheduled there), so that state needs no locks. Application threads only call
/// <see cref="Abort(ConnectionAbortedException)"/>, <see cref="DisposeAsync"/> and the pipe ends they own; both
/// methods post to the reactor instead of touching the socket.
///
/// Behaviour (mirrors Kestrel's Sockets transport, see notes/kestrel-contract.md §5):
/// 1. Receive: read until the socket would block, straight into input-pipe memory, then flush. A flush that
///    does not complete means the application is behind (MaxReadBufferSize): stop reading until it completes.
/// 2. FIN completes the input with no error; a reset completes it with <see cref="ConnectionResetException"/>.
/// 3. Send: output read by the reactor is sent at the end of the iteration (gathered); what the socket does not
///    take is left in the pipe until the socket is writable again.
/// 4. Close: the first reason wins. Abort with a reason sends RST (unless the FinOnError switch is on), otherwise
///    FIN after everything written has been sent. Closing ends both directions and completes the input with the
///    close reason, then <see cref="ConnectionClosed"/> fires on the thread pool.
/// </remarks>
internal abstract class ReactorConnection : ConnectionContext,
    IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature, IMemoryPoolFeature, IConnectionLifetimeFeature
{
    // Same switch as Kestrel's: when set, aborts with a reason end with FIN instead of RST.
    private static readonly bool s_finOnError =
        AppContext.TryGetSwitch("Microsoft.AspNetCore.Server.Kestrel.FinOnError", out bool finOnError) && finOnError;

    // Kestrel's Sockets transport asks for 2 KiB: smaller tails of a block are not worth a recv.
    private const int MinimumReceiveSize = 2048;

    private static readonly Action<object?> s_start = static s => ((ReactorConnection)s!).StartOnReactor();
    private static readonly Action<object?> s_abort = static s => ((ReactorConnection)s!).AbortOnReactor();

    private readonly ReactorLoop _reactor;
    private readonly ILogger _logger;
    private readonly PipeWriter _inputWriter;
    private readonly PipeReader _outputReader;
    private readonly DuplexPipe _originalTransport;
    private readonly CancellationTokenSource _connectionClosedSource = new();
    private readonly TaskCompletionSource _processingCompleted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Action _onFlushCompleted;
    private readonly Action _onReadCompleted;
    private readonly Lock _disposeLock = new();
    private IDictionary<object, object?>? _items;
    private Task? _disposeTask;

    // Written by any thread once (CAS), read by the reactor after the posted abort runs.
    private int _abortRequested;
    private ConnectionAbortedException? _abortReason;

    // Reactor thread only.
    private bool _started;
    private bool _socketClosed;
    private bool _receiveCompleted;
    private bool _sendCompleted;
    private bool _readable;
    private bool _peerClosedHint;
    private bool _flushPending;
    private bool _outputReadPending;
    private bool _waitingForWritable;
    private bool _sendQueued;
    private bool _receiveQueued;
    private bool _hasPendingSend;
    private bool _resetLogged;
    private ReadResult _pendingSend;
    private ValueTaskAwaiter<FlushResult> _flushAwaiter;
    private ValueTaskAwaiter<ReadResult> _readAwaiter;
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

        // The transport ends (input writer, output reader) are scheduled on the reactor; the application ends
        // on the thread pool, so application code never runs on a reactor unless the user opted in.
        var input = new Pipe(new PipeOptions(pool, applicationScheduler, reactor,
            settings.MaxReadBufferSize, settings.MaxReadBufferSize / 2, minimumSegmentSize, useSynchronizationContext: false));
        var output = new Pipe(new PipeOptions(pool, reactor, applicationScheduler,
            settings.MaxWriteBufferSize, settings.MaxWriteBufferSize / 2, minimumSegmentSize, useSynchronizationContext: false));

        _inputWriter = input.Writer;
        _outputReader = output.Reader;
        _originalTransport = new DuplexPipe(input.Reader, output.Writer);
        Transport = _originalTransport;
        _onFlushCompleted = OnFlushCompleted;
        _onReadCompleted = OnOutputReadCompleted;

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
        // the reactor send what is left and then FIN; completing the input stops receiving.
        await _originalTransport.Input.CompleteAsync().ConfigureAwait(false);
        await _originalTransport.Output.CompleteAsync().ConfigureAwait(false);
        await _processingCompleted.Task.ConfigureAwait(false);
    }

    // -------------------------------------------------------------------------------------------------------
    // Backend primitives
    // -------------------------------------------------------------------------------------------------------

    /// <summary>Registers the socket with the reactor's poller; any error but Success fails the connection.</summary>
    protected abstract SocketError RegisterWithReactor();

    /// <summary>Receives into <paramref name="buffer"/> without blocking.</summary>
    protected abstract IoResult Receive(Span<byte> buffer);

    /// <summary>Sends as much of <paramref name="buffer"/> as the socket takes without blocking.</summary>
    /// <returns>The bytes sent; <see cref="SocketError.WouldBlock"/> when the socket did not take everything.</returns>
    protected abstract IoResult Send(in ReadOnlySequence<byte> buffer);

    /// <summary>Unregisters and closes the socket: abortively (RST) or after shutting down both directions (FIN).</summary>
    protected abstract void CloseSocket(bool reset);

    // -------------------------------------------------------------------------------------------------------
    // Reactor thread only
    // -------------------------------------------------------------------------------------------------------

    /// <summary>
    /// Whether the receive side wants to hear about readability: level-triggered backends (select) ask each
    /// iteration, so a paused or finished receive side must not be reported ready again and again.
    /// </summary>
    internal bool IsWaitingForReadable => _started && !_socketClosed && !_receiveCompleted && !_flushPending && !_receiveQueued;

    /// <summary>Whether unsent output waits for the socket to become writable.</summary>
    internal bool IsWaitingForWritable => _waitingForWritable && !_socketClosed;

    /// <summary>Readiness for reading. <paramref name="peerClosed"/>: the poller saw hang-up or error.</summary>
    protected void OnReadable(bool peerClosed)
    {
        _readable = true;
        _peerClosedHint |= peerClosed;
        if (!_flushPending && !_receiveQueued)
        {
            ReceiveUntilBlocked();
        }
    }

    protected void OnWritable()
    {
        if (_waitingForWritable)
        {
            _waitingForWritable = false;
            ReadOutput();
        }
    }

    internal void ContinueReceive()
    {
        _receiveQueued = false;
        if (_readable && !_flushPending)
        {
            ReceiveUntilBlocked();
        }
    }

    /// <summary>Fails the connection after an unexpected exception in one of its handlers.</summary>
    internal void Fail(Exception ex)
    {
        if (!_started)
        {
            return;
        }
        TransportLog.ConnectionError(_logger, this, ex);
        Shutdown(ex as IOException ?? new IOException(ex.Message, ex), reset: true);
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

    private void ReceiveUntilBlocked()
    {
        if (_receiveCompleted || _socketClosed)
        {
            return;
        }

        int receives = 0;
        bool advanced = false;
        while (true)
        {
            Memory<byte> memory = _inputWriter.GetMemory(MinimumReceiveSize);
            IoResult result = Receive(memory.Span);

            if (result.IsSuccess)
            {
                if (result.Bytes == 0)
                {
                    _readable = false;
                    TransportLog.ConnectionReadFin(_logger, this);
                    // Complete commits what was advanced but not flushed, so no byte before the FIN is lost.
                    CompleteReceive(null);
                    return;
                }

                _inputWriter.Advance((int)result.Bytes);
                advanced = true;

                // A short read drained the socket; any later data raises a new readiness event. A hang-up seen by
                // the poller raises none, so then keep reading until the FIN (0) shows up.
                if (result.Bytes < memory.Length && !_peerClosedHint)
                {
                    _readable = false;
                    break;
                }
                if (++receives == ReactorLoop.MaxReceivesPerTurn)
                {
                    _receiveQueued = true;
                    _reactor.QueueReceive(this);
                    break;
                }
                continue;
            }

            if (result.Error == SocketError.WouldBlock)
            {
                _readable = false;
                break;
            }
            if (result.Error == SocketError.Interrupted)
            {
                continue;
            }

            FailReceive(result.Error);
            return;
        }

        if (advanced)
        {
            FlushInput();
        }
    }

    private void FlushInput()
    {
        // The awaiter is consumed exactly once (GetResult, inline or in the continuation); keeping it in a field
        // instead of awaiting avoids an async state machine per flush on the reactor.
#pragma warning disable CA2012
        _flushAwaiter = _inputWriter.FlushAsync().GetAwaiter();
#pragma warning restore CA2012
        if (_flushAwaiter.IsCompleted)
        {
            HandleFlushResult(_flushAwaiter.GetResult());
            return;
        }

        // The application is MaxReadBufferSize behind: stop reading (readiness is remembered in _readable)
        // until the pipe drains to the resume threshold.
        _flushPending = true;
        TransportLog.ConnectionPause(_logger, this);
        _flushAwaiter.UnsafeOnCompleted(_onFlushCompleted);
    }

    private void OnFlushCompleted()
    {
        _flushPending = false;
        TransportLog.ConnectionResume(_logger, this);
        FlushResult result;
        try
        {
            result = _flushAwaiter.GetResult();
        }
        catch (Exception ex)
        {
            CompleteReceive(ex);
            return;
        }
        HandleFlushResult(result);
        if (!_receiveCompleted && _readable && !_receiveQueued)
        {
            ReceiveUntilBlocked();
        }
    }

    private void HandleFlushResult(FlushResult result)
    {
        // Completed: the application is done with the input. Canceled: the socket closed while paused.
        if (result.IsCompleted || result.IsCanceled || _socketClosed)
        {
            CompleteReceive(_shutdownReason);
        }
    }

    private void FailReceive(SocketError error)
    {
        _readable = false;
        CompleteReceive(CreateSocketError(error));
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

    private void CompleteReceive(Exception? error)
    {
        if (_receiveCompleted)
        {
            return;
        }
        _receiveCompleted = true;
        _inputWriter.Complete(_shutdownReason ?? error);

        // Kestrel reacts to this token by aborting or disposing; running that inline on the reactor (or under
        // a lock) would re-enter the transport, so it always goes through the thread pool.
        ThreadPool.UnsafeQueueUserWorkItem(static c => c.CancelConnectionClosed(), this, preferLocal: false);
        CheckProcessingCompleted();
    }

    private void CancelConnectionClosed()
    {
        try
        {
            _connectionClosedSource.Cancel();
        }
        catch (Exception ex)
        {
            // An application callback threw; the connection is already closing, so only report it.
            TransportLog.ConnectionError(_logger, this, ex);
        }
    }

    private void ReadOutput()
    {
        if (_sendCompleted || _socketClosed)
        {
            return;
        }
#pragma warning disable CA2012 // consumed exactly once, as the flush awaiter above
        _readAwaiter = _outputReader.ReadAsync().GetAwaiter();
#pragma warning restore CA2012
        if (_readAwaiter.IsCompleted)
        {
            HandleOutputRead();
            return;
        }
        _outputReadPending = true;
        _readAwaiter.UnsafeOnCompleted(_onReadCompleted);
    }

    private void OnOutputReadCompleted()
    {
        _outputReadPending = false;
        HandleOutputRead();
    }

    private void HandleOutputRead()
    {
        ReadResult result;
        try
        {
            result = _readAwaiter.GetResult();
        }
        catch (Exception ex)
        {
            // The application completed its output with an error: close abortively, as Sockets does.
            Shutdown(ex, reset: !s_finOnError);
            return;
        }

        if (_socketClosed)
        {
            // The read was cancelled by a close that already happened: drop unsent output.
            _outputReader.AdvanceTo(result.Buffer.End);
            CompleteSend(null);
            return;
        }

        if (result.IsCanceled || (result.IsCompleted && result.Buffer.IsEmpty))
        {
            _outputReader.AdvanceTo(result.Buffer.End);
            Shutdown(null, reset: false);
            return;
        }

        _pendingSend = result;
        _hasPendingSend = true;
        if (!_sendQueued)
        {
            _sendQueued = true;
            _reactor.QueueSend(this);
        }
    }

    internal void FlushPendingSend()
    {
        _sendQueued = false;
        if (!_hasPendingSend || _socketClosed)
        {
            return;
        }

        ReadOnlySequence<byte> buffer = _pendingSend.Buffer;
        bool outputCompleted = _pendingSend.IsCompleted;
        _hasPendingSend = false;
        _pendingSend = default;

        IoResult result = Send(buffer);
        if (result.IsSuccess)
        {
            _outputReader.AdvanceTo(buffer.End);
            if (outputCompleted)
            {
                Shutdown(null, reset: false);
            }
            else
            {
                ReadOutput();
            }
            return;
        }

        if (result.Error == SocketError.WouldBlock)
        {
            // Keep the unsent tail in the pipe (consumed = examined = what was sent) and wait for writability;
            // the output pipe's pause threshold now holds the application back.
            _outputReader.AdvanceTo(buffer.GetPosition(result.Bytes));
            _waitingForWritable = true;
            return;
        }

        _outputReader.AdvanceTo(buffer.End);
        FailSend(result.Error);
    }

    private void FailSend(SocketError error)
    {
        // The peer is gone: this also ends a receive side that was paused and would never see it otherwise.
        Shutdown(CreateSocketError(error), reset: !s_finOnError);
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

    private void EndSend()
    {
        if (_sendCompleted)
        {
            return;
        }
        if (_outputReadPending)
        {
            // The pending read's continuation completes the send side once it runs.
            _outputReader.CancelPendingRead();
            return;
        }
        if (_hasPendingSend)
        {
            // Unsent output is dropped on close, as with Sockets.
            _outputReader.AdvanceTo(_pendingSend.Buffer.End);
            _hasPendingSend = false;
            _pendingSend = default;
        }
        CompleteSend(null);
    }

    private void CompleteSend(Exception? error)
    {
        if (_sendCompleted)
        {
            return;
        }
        _sendCompleted = true;
        _waitingForWritable = false;
        _outputReader.Complete(error);
        CheckProcessingCompleted();
    }

    private void EndReceive()
    {
        if (_receiveCompleted)
        {
            return;
        }
        if (_flushPending)
        {
            // The paused flush's continuation sees the cancellation and completes the input.
            _inputWriter.CancelPendingFlush();
            return;
        }
        CompleteReceive(_shutdownReason);
    }

    private void CheckProcessingCompleted()
    {
        if (_receiveCompleted && _sendCompleted)
        {
            _reactor.ConnectionCompleted();
            _processingCompleted.TrySetResult();
        }
    }
}
