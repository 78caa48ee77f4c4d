using System.Buffers;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal.Interop;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;
using Reactors.AspNetCore.Server.Kestrel.Transport.IoUring.Internal.Interop;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.IoUring.Internal;

/// <summary>What a completion came back from; kept in the top byte of its user data, beside the handler's token.</summary>
internal enum OperationKind : byte
{
    /// <summary>Nobody waits for it (a cancellation's own completion).</summary>
    Ignored,
    Receive,
    Send,
    Poll,
    Wake,
}

/// <summary>Something with operations on an <see cref="IoUringReactor"/>'s ring: a connection or a listening socket.</summary>
internal interface IIoUringHandler
{
    /// <summary>One completion of an operation this handler submitted; reactor thread.</summary>
    void OnCompletion(OperationKind kind, int result, uint flags);
}

/// <summary>
/// A reactor whose backend is one io_uring ring, owned by the reactor's thread (set up for a single issuer, with its
/// completions' work deferred to the one <c>io_uring_enter</c> of each iteration where the kernel allows). Operations
/// prepared during an iteration are submitted together by the next wait; the wait's timeout is the reactor's first
/// timer. Receives are multishot into one provided-buffer ring per reactor; other threads wake the reactor by
/// writing an eventfd that a read on the ring waits for.
/// </summary>
internal sealed unsafe class IoUringReactor : ReactorLoop
{
    private const int KindShift = 56;
    private const ulong TokenMask = (1UL << KindShift) - 1;
    private const ulong WakeUserData = (ulong)OperationKind.Wake << KindShift;
    private const uint PollIn = 1;

    private readonly Ring _ring;
    private readonly BufferRing _buffers;
    private readonly int _eventFd;
    private readonly ulong* _wakeValue;
    private readonly HandlerTable<IIoUringHandler> _handlers = new();
    private readonly Stack<PinnedSend> _sends = new();
    private bool _wakeArmed;

    private IoUringReactor(string name, MemoryPool<byte> memoryPool, ILogger logger, TimeSpan spinDuration, Ring ring, BufferRing buffers,
        int eventFd)
        : base(name, memoryPool, logger, spinDuration)
    {
        _ring = ring;
        _buffers = buffers;
        _eventFd = eventFd;
        _wakeValue = (ulong*)NativeMemory.AllocZeroed(sizeof(ulong));
    }

    /// <summary>The reactor's provided buffers, which multishot receives fill.</summary>
    public BufferRing Buffers => _buffers;

    public static IoUringReactor Create(string name, MemoryPool<byte> memoryPool, ILogger logger, TimeSpan spinDuration, RingSettings settings)
    {
        // A single-issuer ring belongs to the thread that sets it up, unless it starts disabled: then to the thread
        // that enables it, the reactor's (OnThreadStarted).
        uint flags = settings.SetupFlags;
        if ((flags & IoUringAbi.SetupSingleIssuer) != 0)
        {
            flags |= IoUringAbi.SetupDisabled;
        }
        int error = Ring.Create(settings.Entries, settings.CompletionEntries, flags, out Ring? ring);
        if (error != 0)
        {
            throw Failure($"Setting up the io_uring of {name}", error);
        }
        error = BufferRing.Create(ring!, 0, settings.ReceiveBufferCount, settings.ReceiveBufferSize, out BufferRing? buffers);
        if (error == 0)
        {
            error = IoUringApi.CreateEventFd(out int eventFd);
            if (error == 0)
            {
                return new IoUringReactor(name, memoryPool, logger, spinDuration, ring!, buffers!, eventFd);
            }
            buffers!.Dispose();
        }
        ring!.Dispose();
        throw Failure($"Setting up the receive buffers and wake-up of {name}", error);
    }

    private static InvalidOperationException Failure(string what, int errno) =>
        new($"{what} failed: {IoUringApi.Name(errno)}.", new SocketException(errno));

    /// <summary>A token for <paramref name="handler"/>'s operations. Reactor thread only.</summary>
    public ulong Register(IIoUringHandler handler) => _handlers.Add(handler);

    /// <summary>
    /// Forgets a token; completions that still come for it are dropped (a receive's buffer goes back to the ring).
    /// Reactor thread only.
    /// </summary>
    public void Unregister(ulong token) => _handlers.Remove(token);

    public static ulong UserData(ulong token, OperationKind kind) => token | ((ulong)kind << KindShift);

    /// <summary>A multishot receive on <paramref name="fd"/> into the reactor's provided buffers.</summary>
    public void SubmitReceive(int fd, ulong token)
    {
        Sqe* sqe = GetSqe();
        sqe->Opcode = IoUringAbi.OpReceive;
        sqe->Fd = fd;
        sqe->IoPriority = IoUringAbi.ReceiveMultishot;
        sqe->Flags = IoUringAbi.SqeBufferSelect;
        sqe->BufferGroup = _buffers.GroupId;
        sqe->UserData = UserData(token, OperationKind.Receive);
    }

    /// <summary>A send of what <paramref name="send"/> pinned.</summary>
    public void SubmitSend(int fd, ulong token, PinnedSend send) => send.Describe(GetSqe(), fd, UserData(token, OperationKind.Send));

    /// <summary>A multishot poll for readability (a listening socket's clients).</summary>
    public void SubmitPoll(int fd, ulong token)
    {
        Sqe* sqe = GetSqe();
        sqe->Opcode = IoUringAbi.OpPollAdd;
        sqe->Fd = fd;
        sqe->OpFlags = PollIn;
        sqe->Length = IoUringAbi.PollAddMulti;
        sqe->UserData = UserData(token, OperationKind.Poll);
    }

    /// <summary>
    /// Asks the operation with <paramref name="userData"/> to end. By user data, never by fd: the fd may be closed
    /// and reused before the cancellation is submitted, the user data of a gone handler matches nothing.
    /// </summary>
    public void SubmitCancel(ulong userData)
    {
        Sqe* sqe = GetSqe();
        sqe->Opcode = IoUringAbi.OpAsyncCancel;
        sqe->Fd = -1;
        sqe->Address = userData;
        sqe->UserData = 0; // OperationKind.Ignored
    }

    public PinnedSend RentSend() => _sends.TryPop(out PinnedSend? send) ? send : new PinnedSend();

    public void ReturnSend(PinnedSend send)
    {
        send.Unpin();
        _sends.Push(send);
    }

    private Sqe* GetSqe()
    {
        Sqe* sqe = _ring.TryGetSqe();
        for (int attempt = 0; sqe is null; attempt++)
        {
            // Full: submit what is queued now. The kernel may refuse while completions are backed up (EBUSY); running
            // its pending work moves them into the completion queue, which the dispatch loop is emptying.
            int error = _ring.Enter(0, IoUringAbi.EnterGetEvents, null);
            if (error is not (0 or LinuxError.EINTR or Errno.EBUSY or LinuxError.EAGAIN) || attempt == 1000)
            {
                throw Failure($"Submitting to the io_uring of {Name}", error == 0 ? Errno.EBUSY : error);
            }
            sqe = _ring.TryGetSqe();
        }
        return sqe;
    }

    protected override void OnThreadStarted()
    {
        if ((_ring.Flags & IoUringAbi.SetupDisabled) != 0)
        {
            int error = _ring.Register(IoUringAbi.RegisterEnableRings, null, 0);
            if (error != 0)
            {
                throw Failure($"Enabling the io_uring of {Name} on its thread", error);
            }
        }
    }

    protected override int WaitAndDispatch(int timeoutMilliseconds)
    {
        if (!_wakeArmed)
        {
            ArmWake();
        }
        uint flags = IoUringAbi.EnterGetEvents;
        uint minComplete = 0;
        GetEventsArgument argument = default;
        KernelTimespec timeout = default;
        GetEventsArgument* argumentPointer = null;
        if (timeoutMilliseconds != 0)
        {
            minComplete = 1;
            if (timeoutMilliseconds > 0)
            {
                timeout.Seconds = timeoutMilliseconds / 1000;
                timeout.Nanoseconds = timeoutMilliseconds % 1000 * 1_000_000L;
                argument.Timespec = (ulong)&timeout;
                argumentPointer = &argument;
                flags |= IoUringAbi.EnterExtArg;
            }
        }

        int error = _ring.Enter(minComplete, flags, argumentPointer);
        if (error is not (0 or LinuxError.EINTR or Errno.ETIME or Errno.EBUSY or LinuxError.EAGAIN))
        {
            throw Failure("io_uring_enter", error);
        }
        int count = DispatchCompletions();
        // Completions the queue had no room for wait in the kernel (FEAT_NODROP); entering again brings them in.
        for (int round = 0; round < 16 && _ring.CompletionsOverflowed; round++)
        {
            IoUringEvents.OnCompletionOverflow();
            _ = _ring.Enter(0, IoUringAbi.EnterGetEvents, null);
            count += DispatchCompletions();
        }
        return count;
    }

    private void ArmWake()
    {
        Sqe* sqe = GetSqe();
        sqe->Opcode = IoUringAbi.OpRead;
        sqe->Fd = _eventFd;
        sqe->Address = (ulong)_wakeValue;
        sqe->Length = sizeof(ulong);
        sqe->UserData = WakeUserData;
        _wakeArmed = true;
    }

    private int DispatchCompletions()
    {
        int count = 0;
        while (_ring.TryTakeCompletion(out Cqe completion))
        {
            count++;
            var kind = (OperationKind)(completion.UserData >> KindShift);
            if (kind == OperationKind.Wake)
            {
                _wakeArmed = false;
                continue;
            }
            if (kind == OperationKind.Ignored)
            {
                continue;
            }
            IIoUringHandler? handler = _handlers.Find(completion.UserData & TokenMask);
            if (handler is null)
            {
                // Its handler has gone: only a buffer it carries still needs a home.
                IoUringEvents.OnCompletionAfterRelease();
                if ((completion.Flags & IoUringAbi.CqeBuffer) != 0)
                {
                    _buffers.Return((ushort)(completion.Flags >> IoUringAbi.CqeBufferShift));
                }
                continue;
            }
            try
            {
                handler.OnCompletion(kind, completion.Result, completion.Flags);
            }
            catch (Exception ex)
            {
                OnHandlerError(handler as ReactorConnection, ex);
            }
        }
        return count;
    }

    protected override void Wake() => _ = EpollApi.SignalEventFd(_eventFd);

    protected override void DisposeBackend()
    {
        while (_sends.TryPop(out PinnedSend? send))
        {
            send.Free();
        }
        _buffers.Dispose();
        _ring.Dispose();
        IoUringApi.Close(_eventFd);
        NativeMemory.Free(_wakeValue);
    }
}

/// <summary>How each reactor's ring is set up: the flags the start-up probe settled on, and the sizes from the options.</summary>
internal sealed record RingSettings(uint SetupFlags, uint Entries, uint CompletionEntries, int ReceiveBufferCount, int ReceiveBufferSize);
