using System.Runtime.InteropServices;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.IoUring.Internal.Interop;

// The kernel's io_uring ABI (include/uapi/linux/io_uring.h), declared here because Tmds.LibC stops at mid-2020:
// only what this transport uses, with the kernel's names so they can be looked up.

/// <summary>struct io_uring_sqe: one submission, 64 bytes.</summary>
[StructLayout(LayoutKind.Explicit, Size = 64)]
internal struct Sqe
{
    [FieldOffset(0)] public byte Opcode;
    [FieldOffset(1)] public byte Flags;
    [FieldOffset(2)] public ushort IoPriority;
    [FieldOffset(4)] public int Fd;
    [FieldOffset(8)] public ulong Offset;
    [FieldOffset(16)] public ulong Address;
    [FieldOffset(24)] public uint Length;
    // rw_flags, msg_flags, poll32_events, accept_flags, cancel_flags: one union.
    [FieldOffset(28)] public uint OpFlags;
    [FieldOffset(32)] public ulong UserData;
    // buf_index or buf_group.
    [FieldOffset(40)] public ushort BufferGroup;
    [FieldOffset(42)] public ushort Personality;
    [FieldOffset(44)] public int FileIndex;
    [FieldOffset(48)] public ulong Address3;
    [FieldOffset(56)] public ulong Pad;
}

/// <summary>struct io_uring_cqe: one completion, 16 bytes (rings are set up without CQE32).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct Cqe
{
    public ulong UserData;
    public int Result;
    public uint Flags;
}

/// <summary>struct io_sqring_offsets.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct SubmissionQueueOffsets
{
    public uint Head;
    public uint Tail;
    public uint RingMask;
    public uint RingEntries;
    public uint Flags;
    public uint Dropped;
    public uint Array;
    public uint Reserved1;
    public ulong UserAddress;
}

/// <summary>struct io_cqring_offsets.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct CompletionQueueOffsets
{
    public uint Head;
    public uint Tail;
    public uint RingMask;
    public uint RingEntries;
    public uint Overflow;
    public uint Cqes;
    public uint Flags;
    public uint Reserved1;
    public ulong UserAddress;
}

/// <summary>struct io_uring_params, 120 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct RingParameters
{
    public uint SqEntries;
    public uint CqEntries;
    public uint Flags;
    public uint SqThreadCpu;
    public uint SqThreadIdle;
    public uint Features;
    public uint WqFd;
    public uint Reserved0;
    public uint Reserved1;
    public uint Reserved2;
    public SubmissionQueueOffsets SqOffsets;
    public CompletionQueueOffsets CqOffsets;
}

/// <summary>struct io_uring_getevents_arg, for io_uring_enter with IORING_ENTER_EXT_ARG.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct GetEventsArgument
{
    public ulong SignalMask;
    public uint SignalMaskSize;
    public uint MinWaitMicroseconds;
    public ulong Timespec;
}

/// <summary>struct __kernel_timespec.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KernelTimespec
{
    public long Seconds;
    public long Nanoseconds;
}

/// <summary>struct io_uring_buf_reg, for IORING_REGISTER_PBUF_RING.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct BufferRingRegistration
{
    public ulong RingAddress;
    public uint RingEntries;
    public ushort GroupId;
    public ushort Flags;
    public ulong Reserved0;
    public ulong Reserved1;
    public ulong Reserved2;
}

/// <summary>struct io_uring_buf: one provided buffer; entry 0's last two bytes are the ring's tail.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct ProvidedBuffer
{
    public ulong Address;
    public uint Length;
    public ushort BufferId;
    public ushort Reserved;
}

internal static class IoUringAbi
{
    public const int SyscallSetup = 425;
    public const int SyscallEnter = 426;
    public const int SyscallRegister = 427;

    public const long OffsetSqRing = 0;
    public const long OffsetCqRing = 0x8000000;
    public const long OffsetSqes = 0x10000000;

    // Set-up flags.
    public const uint SetupCqSize = 1u << 3;
    public const uint SetupClamp = 1u << 4;
    public const uint SetupDisabled = 1u << 6;
    public const uint SetupSubmitAll = 1u << 7;
    public const uint SetupCoopTaskRun = 1u << 8;
    public const uint SetupTaskRunFlag = 1u << 9;
    public const uint SetupSingleIssuer = 1u << 12;
    public const uint SetupDeferTaskRun = 1u << 13;

    // Features the kernel reports.
    public const uint FeatureSingleMmap = 1u << 0;
    public const uint FeatureNoDrop = 1u << 1;
    public const uint FeatureFastPoll = 1u << 5;
    public const uint FeatureExtArg = 1u << 8;

    // io_uring_enter flags.
    public const uint EnterGetEvents = 1u << 0;
    public const uint EnterExtArg = 1u << 3;

    // Submission-queue ring flags.
    public const uint SqCqOverflow = 1u << 1;

    // Opcodes.
    public const byte OpPollAdd = 6;
    public const byte OpSendMessage = 9;
    public const byte OpAsyncCancel = 14;
    public const byte OpRead = 22;
    public const byte OpSend = 26;
    public const byte OpReceive = 27;

    // SQE flags.
    public const byte SqeBufferSelect = 1 << 5;

    // send/recv ioprio flags.
    public const ushort ReceiveMultishot = 1 << 1;

    // Poll: IORING_POLL_ADD_MULTI, in the sqe's len.
    public const uint PollAddMulti = 1u << 0;

    // CQE flags.
    public const uint CqeBuffer = 1u << 0;
    public const uint CqeMore = 1u << 1;
    public const int CqeBufferShift = 16;

    // io_uring_register opcodes.
    public const uint RegisterProbe = 8;
    public const uint RegisterEnableRings = 12;
    public const uint RegisterBufferRing = 22;
    public const uint UnregisterBufferRing = 23;

    public const int ProbeOpSupported = 1;
}
