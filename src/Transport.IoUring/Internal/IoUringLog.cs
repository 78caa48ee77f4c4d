using Microsoft.Extensions.Logging;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.IoUring.Internal;

/// <summary>What the io_uring transport logs about itself at start (the core logs the rest, TransportLog).</summary>
internal static partial class IoUringLog
{
    [LoggerMessage(113, LogLevel.Warning, "io_uring is unavailable ({Reason}; Linux {Kernel}); the io_uring transport serves through epoll instead.", EventName = "IoUringUnavailable")]
    public static partial void Unavailable(ILogger logger, string reason, string kernel);

    [LoggerMessage(114, LogLevel.Information, "Serving through io_uring on Linux {Kernel}: ring set-up {SetupFlags}; multishot receives into {ReceiveBufferCount} provided buffers of {ReceiveBufferSize} bytes per reactor; multishot poll for accept; {SubmissionQueueSize} submission entries per ring.", EventName = "IoUringInUse")]
    public static partial void InUse(ILogger logger, string kernel, string setupFlags, int receiveBufferCount, int receiveBufferSize, int submissionQueueSize);

    [LoggerMessage(115, LogLevel.Error, "io_uring could not be set up ({Reason}; Linux {Kernel}); binding an endpoint will fail.", EventName = "IoUringFailed")]
    public static partial void Failed(ILogger logger, string reason, string kernel);
}
