namespace Reactors.AspNetCore.Server.Kestrel.Transport;

/// <summary>
/// Options shared by the reactor transports. Names and defaults mirror Kestrel's <c>SocketTransportOptions</c>
/// wherever the meaning is the same, so switching transport never silently changes a limit.
/// </summary>
public abstract class ReactorTransportOptions
{
    private int? _reactorCount;
    private int _backlog = 512;
    private long? _maxReadBufferSize = 1024 * 1024;
    private long? _maxWriteBufferSize = 64 * 1024;
    private int _fileDescriptorReserve = DefaultFileDescriptorReserve;
    private UnixFileMode? _unixSocketFileMode;
    private TimeSpan _reactorSpinDuration = DefaultReactorSpinDuration;

    /// <summary>The default of <see cref="FileDescriptorReserve"/>.</summary>
    public const int DefaultFileDescriptorReserve = 64;

    private const int MaxFileDescriptorReserve = 1 << 20;

    /// <summary>The default of <see cref="ReactorSpinDuration"/>: 50 microseconds.</summary>
    public static readonly TimeSpan DefaultReactorSpinDuration = TimeSpan.FromMicroseconds(50);

    private static readonly TimeSpan s_maxReactorSpinDuration = TimeSpan.FromMilliseconds(1);

    // UnixFileMode's flags: the nine permission bits, sticky, set-group-id and set-user-id.
    private const int AllPermissionBits = 0xFFF;

    /// <summary>
    /// The number of reactor threads. Each reactor owns a readiness poller, a memory pool and a share of the
    /// connections of every listener in the process.
    /// </summary>
    /// <remarks>
    /// Defaults to half of <see cref="Environment.ProcessorCount"/>, at least 1: the reactors make the socket calls
    /// and the application's thread-pool threads need the other cores (on two cores, one reactor served 16 and 256
    /// connections 1.12× and 1.41× as fast as Sockets, two reactors 0.91–0.99× and 1.09–1.25×). With
    /// <see cref="UnsafePreferInlineScheduling"/> the application runs on the reactors, and the default is then
    /// <see cref="Environment.ProcessorCount"/>. Must be between 1 and 1024.
    /// </remarks>
    public int ReactorCount
    {
        get => _reactorCount ?? (UnsafePreferInlineScheduling ? Environment.ProcessorCount : Math.Max(1, Environment.ProcessorCount / 2));
        set
        {
            if (value is < 1 or > 1024)
            {
                throw new ArgumentOutOfRangeException(nameof(ReactorCount), value,
                    $"{nameof(ReactorCount)} must be between 1 and 1024; leave it unset (half the processor count, {Math.Max(1, Environment.ProcessorCount / 2)} here) unless measurements say otherwise.");
            }
            _reactorCount = value;
        }
    }

    /// <summary>
    /// How long a reactor that has run out of work keeps polling for new readiness and posted work before it blocks
    /// in its wait. A blocked reactor costs the next request a wake-up (a system call, and on an idle core that
    /// core's wake-up latency, which in a virtual machine is the host scheduling the halted vCPU again); a polling one
    /// costs CPU while nothing comes.
    /// </summary>
    /// <remarks>
    /// Defaults to 50 microseconds (<see cref="DefaultReactorSpinDuration"/>), a little more than a request's round
    /// trip between a client and Kestrel on one machine. A reactor polls only while its last idle gap was at most
    /// twice this long, so under sparse traffic it blocks at once and an idle server uses no CPU; it yields its core
    /// between polls to any thread that is ready to run there, so with one processor it does not hold back the
    /// threads it waits for.
    /// <see cref="TimeSpan.Zero"/> turns polling off (a reactor then blocks as soon as it has nothing to do), for
    /// instance under a tight CPU quota. Must be between zero and one millisecond.
    /// </remarks>
    public TimeSpan ReactorSpinDuration
    {
        get => _reactorSpinDuration;
        set
        {
            if (value < TimeSpan.Zero || value > s_maxReactorSpinDuration)
            {
                throw new ArgumentOutOfRangeException(nameof(ReactorSpinDuration), value,
                    $"{nameof(ReactorSpinDuration)} must be between zero (no polling) and {s_maxReactorSpinDuration.TotalMilliseconds} ms (the default is {DefaultReactorSpinDuration.TotalMicroseconds} µs).");
            }
            _reactorSpinDuration = value;
        }
    }

    /// <summary>Whether Nagle's algorithm is disabled (TCP_NODELAY) on accepted TCP connections (Unix domain sockets have no such option).</summary>
    /// <remarks>
    /// Defaults to <see langword="true"/>. Where the platform lets accepted sockets copy it (Linux), the epoll
    /// transport sets it once on the listening socket it binds; an inherited listening socket (systemd,
    /// <c>ListenHandle</c>) is left as it is, and each connection gets the option set when the listener lacks it.
    /// </remarks>
    public bool NoDelay { get; set; } = true;

    /// <summary>The maximum length of the pending connection queue passed to <c>listen</c>.</summary>
    /// <remarks>Defaults to 512. Must be at least 1. The kernel caps it at <c>net.core.somaxconn</c>.</remarks>
    public int Backlog
    {
        get => _backlog;
        set
        {
            if (value < 1)
            {
                throw new ArgumentOutOfRangeException(nameof(Backlog), value,
                    $"{nameof(Backlog)} must be at least 1 (the default is 512).");
            }
            _backlog = value;
        }
    }

    /// <summary>
    /// The number of received bytes buffered per connection before the transport stops reading from the
    /// socket until the application catches up (it resumes at half this value).
    /// </summary>
    /// <remarks>
    /// Defaults to 1 MiB (1,048,576 bytes). <see langword="null"/> or 0 disables input backpressure: a client
    /// can then make the server buffer an unbounded amount of memory, which is a denial-of-service risk.
    /// </remarks>
    public long? MaxReadBufferSize
    {
        get => _maxReadBufferSize;
        set => _maxReadBufferSize = ValidateBufferSize(value, nameof(MaxReadBufferSize));
    }

    /// <summary>
    /// The number of bytes written by the application and not yet sent per connection before the application's
    /// flushes wait for the socket (they resume at half this value).
    /// </summary>
    /// <remarks>
    /// Defaults to 64 KiB (65,536 bytes). <see langword="null"/> or 0 disables output backpressure: a slow
    /// client can then make the server buffer an unbounded amount of memory, which is a denial-of-service risk.
    /// </remarks>
    public long? MaxWriteBufferSize
    {
        get => _maxWriteBufferSize;
        set => _maxWriteBufferSize = ValidateBufferSize(value, nameof(MaxWriteBufferSize));
    }

    /// <summary>
    /// The number of file descriptors the listeners leave free for the rest of the process: they stop accepting
    /// while one more connection would leave fewer than this many of the process's <c>RLIMIT_NOFILE</c> free, leave
    /// new clients in the listen backlog (resetting the oldest when the backlog is full, so that clients fail fast
    /// instead of hanging), log one warning, and go on by themselves as connections close.
    /// </summary>
    /// <remarks>
    /// Defaults to 64 (<see cref="DefaultFileDescriptorReserve"/>). A .NET process with no descriptor left cannot
    /// start a thread or a timer and aborts; the runtime needs a few at a time for that, and the default also leaves
    /// room for the application's own files and outgoing connections at the moment the limit is reached. Raise it
    /// when the application opens many descriptors of its own under load (files, outgoing sockets). 0 disables the
    /// reserve: accepting then goes on until <c>accept</c> fails (EMFILE) and backs off. Must be between 0 and
    /// 1,048,576 (Linux's largest default limit). Only
    /// Linux reports the limit and the open count this needs; elsewhere the reserve has no effect.
    /// </remarks>
    public int FileDescriptorReserve
    {
        get => _fileDescriptorReserve;
        set
        {
            if (value is < 0 or > MaxFileDescriptorReserve)
            {
                throw new ArgumentOutOfRangeException(nameof(FileDescriptorReserve), value,
                    $"{nameof(FileDescriptorReserve)} must be between 0 (no reserve) and {MaxFileDescriptorReserve} file descriptors (the default is {DefaultFileDescriptorReserve}).");
            }
            _fileDescriptorReserve = value;
        }
    }

    /// <summary>
    /// The permissions of the Unix domain socket files the transport creates, set after bind and before listen,
    /// so that no client ever connects through a file with other permissions. A web server behind nginx, whose
    /// worker runs as another user (<c>www-data</c>, <c>nobody</c>), needs at least
    /// <c>UserRead | UserWrite | GroupRead | GroupWrite</c> (0660) with a shared group, or 0666.
    /// </summary>
    /// <remarks>
    /// Defaults to <see langword="null"/>: the file gets what the process's umask leaves (usually 0755, which
    /// other users cannot connect through: connecting needs write permission). Sockets inherited from systemd
    /// or passed with <c>ListenHandle</c> are never changed (their creator chose their mode). Only permission
    /// bits (0 to 07777) are allowed. Kestrel's Sockets transport has no such option (dotnet/aspnetcore#17706).
    /// </remarks>
    public UnixFileMode? UnixSocketFileMode
    {
        get => _unixSocketFileMode;
        set
        {
            if (value is { } mode && ((int)mode & ~AllPermissionBits) != 0)
            {
                throw new ArgumentOutOfRangeException(nameof(UnixSocketFileMode), value,
                    $"{nameof(UnixSocketFileMode)} takes permission bits only (0 to 07777, e.g. 0660); {(int)mode} is not one.");
            }
            _unixSocketFileMode = value;
        }
    }

    /// <summary>
    /// Sets <c>SO_REUSEPORT</c> on IP listeners, so that several processes of the same application can listen on
    /// one port and the kernel spreads new connections across them (nginx's <c>reuseport</c>).
    /// </summary>
    /// <remarks>
    /// Defaults to <see langword="false"/>: a second process binding the port fails with "address in use". On,
    /// any process of the same user may then bind the port too and receive a share of its connections. Linux
    /// balances connections across the sockets; macOS and the BSDs accept the option but hand new connections to
    /// one socket. Not supported on Windows (binding then fails naming the option).
    /// </remarks>
    public bool ReusePort { get; set; }

    /// <summary>
    /// Runs application code inline on the reactor thread instead of the thread pool when data arrives or
    /// output drains.
    /// </summary>
    /// <remarks>
    /// Defaults to <see langword="false"/>. Unsafe: any blocking or slow application code then stalls every
    /// connection of that reactor. Measure before enabling it.
    /// </remarks>
    public bool UnsafePreferInlineScheduling { get; set; }

    private static long? ValidateBufferSize(long? value, string name)
    {
        if (value < 0)
        {
            throw new ArgumentOutOfRangeException(name, value,
                $"{name} must be null or 0 (unlimited) or a positive number of bytes.");
        }
        return value;
    }
}
