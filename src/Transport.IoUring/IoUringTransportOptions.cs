namespace Reactors.AspNetCore.Server.Kestrel.Transport.IoUring;

/// <summary>
/// Options of the io_uring transport: the options every reactor transport shares (see
/// <see cref="ReactorTransportOptions"/>), plus the sizes of each reactor's ring and receive buffers. Where io_uring
/// is unavailable and the transport serves through epoll, the shared options apply unchanged and the ring's are
/// unused.
/// </summary>
public sealed class IoUringTransportOptions : ReactorTransportOptions
{
    /// <summary>The default of <see cref="SubmissionQueueSize"/>.</summary>
    public const int DefaultSubmissionQueueSize = 1024;

    /// <summary>The default of <see cref="ReceiveBufferSize"/>.</summary>
    public const int DefaultReceiveBufferSize = 4096;

    /// <summary>The default of <see cref="ReceiveBufferCount"/>.</summary>
    public const int DefaultReceiveBufferCount = 512;

    private int _submissionQueueSize = DefaultSubmissionQueueSize;
    private int _receiveBufferSize = DefaultReceiveBufferSize;
    private int _receiveBufferCount = DefaultReceiveBufferCount;

    /// <summary>
    /// Entries of each reactor's submission queue; its completion queue gets four times as many. Default 1024.
    /// </summary>
    /// <remarks>
    /// A reactor submits everything an iteration prepared in one system call, and submits early when the queue
    /// fills, so this bounds the batch, not the connections. Completions that outrun the completion queue are kept
    /// by the kernel (IORING_FEAT_NODROP) and taken in the next iteration. A power of two from 64 to 32768.
    /// </remarks>
    public int SubmissionQueueSize
    {
        get => _submissionQueueSize;
        set => _submissionQueueSize = PowerOfTwo(value, 64, 32768, nameof(SubmissionQueueSize), DefaultSubmissionQueueSize);
    }

    /// <summary>The size in bytes of each provided receive buffer. Default 4096.</summary>
    /// <remarks>
    /// Multishot receives take a buffer from the reactor's ring for each chunk they deliver, which the transport
    /// copies into the connection's input pipe and gives back at once; a connection holds none while it waits. A
    /// request up to this size arrives in one completion. Between 512 bytes and 1 MiB.
    /// </remarks>
    public int ReceiveBufferSize
    {
        get => _receiveBufferSize;
        set
        {
            if (value is < 512 or > 1024 * 1024)
            {
                throw new ArgumentOutOfRangeException(nameof(ReceiveBufferSize), value,
                    $"{nameof(ReceiveBufferSize)} must be between 512 bytes and 1 MiB; the default is {DefaultReceiveBufferSize}.");
            }
            _receiveBufferSize = value;
        }
    }

    /// <summary>The number of provided receive buffers per reactor. Default 512 (2 MiB of 4 KiB buffers per reactor).</summary>
    /// <remarks>
    /// They are shared by all of a reactor's connections and are only in use between the kernel's receive and the
    /// copy, within one iteration. When more data arrives in one iteration than they hold, the receives that found
    /// none end (ENOBUFS) and are submitted again once the buffers are back, which costs a submission each. A power of
    /// two from 16 to 32768.
    /// </remarks>
    public int ReceiveBufferCount
    {
        get => _receiveBufferCount;
        set => _receiveBufferCount = PowerOfTwo(value, 16, 32768, nameof(ReceiveBufferCount), DefaultReceiveBufferCount);
    }

    private static int PowerOfTwo(int value, int min, int max, string name, int defaultValue)
    {
        if (value < min || value > max || (value & (value - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(name, value,
                $"{name} must be a power of two from {min} to {max}; the default is {defaultValue}.");
        }
        return value;
    }
}
