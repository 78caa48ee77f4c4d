using System.Text;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll.Internal.Interop;
using Reactors.AspNetCore.Server.Kestrel.Transport.IoUring.Internal.Interop;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.IoUring.Internal;

/// <summary>Whether this process can serve through io_uring.</summary>
internal enum IoUringStatus
{
    /// <summary>Every feature the transport needs works here.</summary>
    Supported,

    /// <summary>io_uring is missing, forbidden or too old here: the epoll transport serves instead.</summary>
    Unavailable,

    /// <summary>Setting up a ring failed for want of a resource (memory, descriptors): an error, never hidden by a fallback.</summary>
    Failed,
}

/// <summary>The outcome of the start-up probe: the status, why, and the ring set-up flags it settled on.</summary>
internal sealed record IoUringSupport(IoUringStatus Status, string? Reason, uint SetupFlags, string Kernel)
{
    /// <summary>The set-up flags in use, by their kernel names, for the start-up log.</summary>
    public string DescribeSetup()
    {
        var names = new StringBuilder();
        Append(names, IoUringAbi.SetupSingleIssuer, "SINGLE_ISSUER");
        Append(names, IoUringAbi.SetupDeferTaskRun, "DEFER_TASKRUN");
        Append(names, IoUringAbi.SetupCoopTaskRun, "COOP_TASKRUN");
        Append(names, IoUringAbi.SetupTaskRunFlag, "TASKRUN_FLAG");
        Append(names, IoUringAbi.SetupSubmitAll, "SUBMIT_ALL");
        return names.Length == 0 ? "none" : names.ToString();
    }

    private void Append(StringBuilder names, uint flag, string name)
    {
        if ((SetupFlags & flag) != 0)
        {
            names.Append(names.Length == 0 ? "" : ", ").Append(name);
        }
    }
}

/// <summary>
/// Probes io_uring once per process, the way the sources agree on (do not guess from the kernel version): set up a
/// ring with the wanted flags, dropping them one step at a time while the kernel says EINVAL; require the features
/// the transport relies on; ask IORING_REGISTER_PROBE for the opcodes; register a provided-buffer ring; and run
/// one multishot receive on a socket pair.
/// </summary>
internal static unsafe class IoUringAvailability
{
    /// <summary>Set to 0 (or false, off) to serve through epoll even where io_uring works.</summary>
    public const string EnvironmentSwitch = "REACTORS_IO_URING";

    // Tried in order; the first the kernel accepts is used. DEFER_TASKRUN (6.1) needs SINGLE_ISSUER (6.0);
    // COOP_TASKRUN and TASKRUN_FLAG (5.19) are the next best: no interrupting task work; SUBMIT_ALL (5.18) keeps
    // one bad submission from holding back the others.
    private static readonly uint[] s_flagSets =
    [
        IoUringAbi.SetupSingleIssuer | IoUringAbi.SetupDeferTaskRun | IoUringAbi.SetupSubmitAll,
        IoUringAbi.SetupSingleIssuer | IoUringAbi.SetupCoopTaskRun | IoUringAbi.SetupTaskRunFlag | IoUringAbi.SetupSubmitAll,
        IoUringAbi.SetupCoopTaskRun | IoUringAbi.SetupTaskRunFlag | IoUringAbi.SetupSubmitAll,
        IoUringAbi.SetupSubmitAll,
        0,
    ];

    private static readonly (byte Opcode, string Name)[] s_requiredOpcodes =
    [
        (IoUringAbi.OpReceive, "RECV"),
        (IoUringAbi.OpSend, "SEND"),
        (IoUringAbi.OpSendMessage, "SENDMSG"),
        (IoUringAbi.OpPollAdd, "POLL_ADD"),
        (IoUringAbi.OpAsyncCancel, "ASYNC_CANCEL"),
        (IoUringAbi.OpRead, "READ"),
    ];

    private static readonly Lazy<IoUringSupport> s_support = new(Probe);

    public static IoUringSupport Support => s_support.Value;

    private static IoUringSupport Probe()
    {
        if (!EpollTransportFactory.IsSupported)
        {
            return new(IoUringStatus.Unavailable, "io_uring needs Linux with glibc on x64, arm64 or arm", 0, Environment.OSVersion.VersionString);
        }
        string kernel = IoUringApi.KernelRelease();
        string? setting = Environment.GetEnvironmentVariable(EnvironmentSwitch);
        if (setting is not null && setting.Trim().ToLowerInvariant() is "0" or "false" or "off" or "no")
        {
            return new(IoUringStatus.Unavailable, $"io_uring is turned off by {EnvironmentSwitch}={setting}", 0, kernel);
        }
        try
        {
            return ProbeRing(kernel);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return new(IoUringStatus.Unavailable, $"the C library has no syscall(2) entry point ({ex.Message})", 0, kernel);
        }
    }

    private static IoUringSupport ProbeRing(string kernel)
    {
        int error = 0;
        foreach (uint flags in s_flagSets)
        {
            error = Ring.Create(8, 16, flags, out Ring? ring);
            if (error == LinuxError.EINVAL)
            {
                continue; // a flag this kernel does not know: try with fewer
            }
            if (error != 0)
            {
                break;
            }
            using (ring)
            {
                string? missing = MissingFeature(ring!);
                return missing is null
                    ? new(IoUringStatus.Supported, null, flags, kernel)
                    : new(IoUringStatus.Unavailable, missing, flags, kernel);
            }
        }
        return error switch
        {
            Errno.ENOSYS => new(IoUringStatus.Unavailable, "the kernel has no io_uring (io_uring_setup: ENOSYS; built without CONFIG_IO_URING, or a seccomp profile answers ENOSYS)", 0, kernel),
            LinuxError.EPERM or LinuxError.EACCES => new(IoUringStatus.Unavailable,
                $"io_uring is not permitted here (io_uring_setup: {IoUringApi.Name(error)}; {DisabledBy()})", 0, kernel),
            LinuxError.EINVAL => new(IoUringStatus.Unavailable, "the kernel rejects every ring set-up this transport can use (EINVAL)", 0, kernel),
            _ => new(IoUringStatus.Failed,
                $"setting up an io_uring failed with {IoUringApi.Name(error)} (out of memory, descriptors or locked memory: RLIMIT_MEMLOCK before Linux 5.12)", 0, kernel),
        };
    }

    private static string DisabledBy()
    {
        try
        {
            string value = File.ReadAllText("/proc/sys/kernel/io_uring_disabled").Trim();
            if (value != "0")
            {
                return $"kernel.io_uring_disabled = {value}";
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // No such sysctl before Linux 6.6.
        }
        return "a seccomp profile forbids it, as Docker's, containerd's and Kubernetes' RuntimeDefault profiles do";
    }

    /// <returns>What the kernel lacks, or null when it has everything.</returns>
    private static string? MissingFeature(Ring ring)
    {
        if ((ring.Features & IoUringAbi.FeatureNoDrop) == 0)
        {
            return "the kernel lacks IORING_FEAT_NODROP (Linux 5.5)";
        }
        if ((ring.Features & IoUringAbi.FeatureExtArg) == 0)
        {
            return "the kernel lacks IORING_FEAT_EXT_ARG (Linux 5.11)";
        }
        if ((ring.Features & IoUringAbi.FeatureFastPoll) == 0)
        {
            return "the kernel lacks IORING_FEAT_FAST_POLL (Linux 5.7)";
        }
        string? opcode = MissingOpcode(ring);
        if (opcode is not null)
        {
            return opcode;
        }
        int error = BufferRing.Create(ring, 0, 2, 64, out BufferRing? buffers);
        if (error != 0)
        {
            return $"registering a provided-buffer ring failed with {IoUringApi.Name(error)} (needs Linux 5.19)";
        }
        using (buffers)
        {
            return MultishotReceiveProblem(ring, buffers!);
        }
    }

    private static string? MissingOpcode(Ring ring)
    {
        const int probeOps = 256;
        int size = 16 + probeOps * 8;
        byte* probe = stackalloc byte[size];
        new Span<byte>(probe, size).Clear();
        int error = ring.Register(IoUringAbi.RegisterProbe, probe, probeOps);
        if (error != 0)
        {
            return $"IORING_REGISTER_PROBE failed with {IoUringApi.Name(error)} (needs Linux 5.6)";
        }
        byte lastOp = probe[0];
        foreach ((byte opcode, string name) in s_requiredOpcodes)
        {
            // struct io_uring_probe_op { u8 op; u8 resv; u16 flags; u32 resv2; } after a 16-byte header.
            ushort flags = *(ushort*)(probe + 16 + opcode * 8 + 2);
            if (opcode > lastOp || (flags & IoUringAbi.ProbeOpSupported) == 0)
            {
                return $"the kernel lacks IORING_OP_{name}";
            }
        }
        return null;
    }

    /// <summary>One multishot receive (Linux 6.0) on a socket pair: it must deliver a byte and stay armed.</summary>
    private static string? MultishotReceiveProblem(Ring ring, BufferRing buffers)
    {
        int error = IoUringApi.CreateSocketPair(out int reader, out int writer);
        if (error != 0)
        {
            return $"creating a socket pair for the probe failed with {IoUringApi.Name(error)}";
        }
        try
        {
            Sqe* sqe = ring.TryGetSqe();
            sqe->Opcode = IoUringAbi.OpReceive;
            sqe->Fd = reader;
            sqe->IoPriority = IoUringAbi.ReceiveMultishot;
            sqe->Flags = IoUringAbi.SqeBufferSelect;
            sqe->BufferGroup = buffers.GroupId;
            sqe->UserData = 1;
            IoUringApi.WriteByte(writer);

            KernelTimespec timeout = new() { Seconds = 1 };
            GetEventsArgument argument = new() { Timespec = (ulong)&timeout };
            error = ring.Enter(1, IoUringAbi.EnterGetEvents | IoUringAbi.EnterExtArg, &argument);
            if (!ring.TryTakeCompletion(out Cqe completion))
            {
                return $"a multishot receive did not complete within a second ({IoUringApi.Name(error)})";
            }
            if (completion.Result == -LinuxError.EINVAL)
            {
                return "the kernel lacks multishot receive (Linux 6.0)";
            }
            if (completion.Result != 1 || (completion.Flags & IoUringAbi.CqeMore) == 0)
            {
                return $"a multishot receive completed with {completion.Result} and flags {completion.Flags:x} instead of one byte, still armed";
            }
            return null;
        }
        finally
        {
            // Closing the ring (the caller's) ends the receive still armed on it.
            IoUringApi.Close(reader);
            IoUringApi.Close(writer);
        }
    }
}
