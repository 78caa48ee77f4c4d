using System.Net;
using Microsoft.Extensions.Logging;
using Reactors.AspNetCore.Server.Kestrel.Transport.Internal;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;
using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.ReactorCore;

/// <summary>
/// The fd headroom logic on a scripted fd table: when a listener stops, what it counts, when it goes on, and what it
/// logs. The real table (prlimit and 900 clients against the sample) is the stress suite's job.
/// </summary>
public sealed class FileDescriptorBudgetTests : IDisposable
{
    private const int Reserve = 8;
    private static readonly EndPoint Listener = new IPEndPoint(IPAddress.Loopback, 5000);

    private readonly ScriptedTable _table = new() { Limit = 100, Others = 20 };
    private readonly ScriptedBacklog _backlog = new();
    private readonly CapturingLoggerProvider _logs = new();
    private readonly ListenerCounters _counters = new();
    private long _now = 1_000;
    private int _roomSignals;

    public void Dispose() => _logs.Dispose();

    [Fact]
    public void HasRoom_UntilOneMoreWouldEatIntoTheReserve()
    {
        var budget = CreateBudget();

        Open(budget, 71); // 20 + 71 = 91 open: one more leaves 8 free
        Assert.True(budget.HasRoom(Reserve));
        Open(budget, 1);
        Assert.False(budget.HasRoom(Reserve));
        Assert.True(budget.HasRoom(0)); // 0 disables the reserve
    }

    [Fact]
    public void OnOpened_HighFdNumber_RaisesTheEstimateOfOthers()
    {
        var budget = CreateBudget();

        budget.OnOpened(fd: 91); // 0..91 are all open, whatever the last count said

        Assert.Equal(92, budget.OpenEstimate);
        Assert.False(budget.HasRoom(Reserve));
    }

    [Fact]
    public void Recount_OthersClosedDescriptors_GivesRoomBack()
    {
        var budget = CreateBudget();
        Open(budget, 72);
        Assert.False(budget.HasRoom(Reserve));

        _table.Others = 5; // the others closed 15 of their 20
        _now += FileDescriptorBudget.MinRecountIntervalMilliseconds;
        Assert.True(budget.Recount());

        Assert.Equal(77, budget.OpenEstimate);
        Assert.True(budget.HasRoom(Reserve));
    }

    [Fact]
    public void Recount_TooSoon_KeepsTheEstimate()
    {
        var budget = CreateBudget();
        _now += FileDescriptorBudget.MinRecountIntervalMilliseconds;
        Assert.True(budget.Recount());
        _table.Others = 5;

        Assert.False(budget.Recount());
        Assert.Equal(20, budget.OpenEstimate);
    }

    [Fact]
    public void Recount_CannotReadAnything_TreatsTheTableAsFullAgainstTheLastLimit()
    {
        var budget = CreateBudget();
        _table.Others = null; // EMFILE on opening /proc/self/fd ...
        _table.Limit = null; // ... and /proc/self/limits
        _now += FileDescriptorBudget.MinRecountIntervalMilliseconds;

        Assert.True(budget.Recount());
        Assert.Equal(100, budget.Limit);
        Assert.Equal(100, budget.OpenEstimate);
        Assert.False(budget.HasRoom(Reserve));
    }

    [Fact]
    public void TryAdmit_AtTheReserve_PausesWithOneWarningAndResumesOnceConnectionsClose()
    {
        var budget = CreateBudget();
        var throttle = CreateThrottle(budget);
        Open(budget, 72);

        Assert.False(throttle.TryAdmit());
        Assert.False(throttle.TryAdmit()); // still paused: no second warning, no second room registration
        Assert.True(throttle.IsPaused);
        LogEntry warning = Assert.Single(_logs.Entries, e => e.Level >= LogLevel.Warning);
        Assert.Equal("AcceptPaused", warning.EventId.Name);
        Assert.Contains("92 of the process's 100 file descriptors are open (72 for connections)", warning.Message, StringComparison.Ordinal);
        Assert.Equal(0, _roomSignals);

        budget.OnClosed();
        Assert.Equal(1, _roomSignals);
        // Room for one is not enough to resume: the next accept would pause again at once.
        Assert.False(throttle.TryAdmit());

        budget.OnClosed();
        Assert.Equal(2, _roomSignals);
        Assert.True(throttle.TryAdmit());
        Assert.False(throttle.IsPaused);
        Assert.Single(_logs.Entries, e => e.EventId.Name == "AcceptResumed");
    }

    [Fact]
    public void TryAdmit_PausedAgainSoonAfterResuming_SameEpisodeWithoutASecondWarning()
    {
        var budget = CreateBudget();
        var throttle = CreateThrottle(budget);
        Open(budget, 72);
        PauseThenResume(budget, throttle);

        Open(budget, 2);
        PauseThenResume(budget, throttle);

        Assert.Single(_logs.Entries, e => e.EventId.Name == "AcceptPaused");
        Assert.Single(_logs.Entries, e => e.EventId.Name == "AcceptPausedAgain");
        Assert.Single(_logs.Entries, e => e.EventId.Name == "AcceptResumed");
    }

    [Fact]
    public void TryAdmit_PausedAgainLongAfterResuming_NewEpisodeWithANewWarning()
    {
        var budget = CreateBudget();
        var throttle = CreateThrottle(budget);
        Open(budget, 72);
        PauseThenResume(budget, throttle);

        _now += AcceptThrottle.EpisodeGapMilliseconds;
        Open(budget, 2);
        Assert.False(throttle.TryAdmit());

        Assert.Equal(2, _logs.Entries.Count(e => e.EventId.Name == "AcceptPaused"));
    }

    [Fact]
    public void TryAdmit_PausedWithNoConnectionLeft_ResumesAsSoonAsTheOthersLeaveTheReserve()
    {
        _table.Others = 95; // the application itself holds the descriptors
        var budget = CreateBudget();
        var throttle = CreateThrottle(budget);
        Assert.False(throttle.TryAdmit());

        _table.Others = 91; // exactly the reserve left after one more: no connection could give the margin back
        _now += FileDescriptorBudget.MinRecountIntervalMilliseconds;

        Assert.True(throttle.TryAdmit());
    }

    [Fact]
    public void TryAdmit_PausedWithFullBacklog_RefusesTheOldestDownToSevenEighths()
    {
        var budget = CreateBudget();
        var throttle = CreateThrottle(budget);
        Open(budget, 72);
        _backlog.Queued = 65; // Linux takes one over its limit
        _backlog.Limit = 64;

        Assert.False(throttle.TryAdmit());

        Assert.Equal(56, _backlog.Queued);
        Assert.Equal(9, throttle.RefusedConnections);
    }

    [Fact]
    public void TryAdmit_PausedWithRoomInTheBacklog_RefusesNobody()
    {
        var budget = CreateBudget();
        var throttle = CreateThrottle(budget);
        Open(budget, 72);
        _backlog.Queued = 63;
        _backlog.Limit = 64;

        Assert.False(throttle.TryAdmit());

        Assert.Equal(63, _backlog.Queued);
        Assert.Equal(0, throttle.RefusedConnections);
    }

    [Fact]
    public void WaitForRoom_RoomAlready_CallsBackAtOnce()
    {
        var budget = CreateBudget();
        int calls = 0;

        budget.WaitForRoom(Reserve, _ => calls++, null);

        Assert.Equal(1, calls);
        budget.OnClosed();
        Assert.Equal(1, calls);
    }

    [Theory]
    [InlineData("            1024                 1048576              files", 1024)]
    [InlineData("            unlimited            unlimited            files", long.MaxValue)]
    public void ParseSoftLimit_ProcLimitsLine(string columns, long expected) =>
        Assert.Equal(expected, ProcessFileDescriptors.ParseSoftLimit(columns));

    [Fact]
    public void ProcessFileDescriptors_ThisProcess_CountsBelowItsLimit()
    {
        long? limit = ProcessFileDescriptors.Instance.ReadLimit();
        int? open = ProcessFileDescriptors.Instance.CountOpen();

        Assert.NotNull(open);
        Assert.NotNull(limit);
        Assert.InRange(open.Value, 3, limit.Value - 1); // stdin, stdout and stderr at least
    }

    [Fact]
    public void ProcessFileDescriptors_ThisProcess_CountFollowsAnOpenAndAClose()
    {
        // Other tests open and close descriptors meanwhile: look for the step in a few tries.
        for (int attempt = 0; ; attempt++)
        {
            int before = ProcessFileDescriptors.Instance.CountOpen()!.Value;
            int during;
            using (File.OpenRead("/proc/self/status"))
            {
                during = ProcessFileDescriptors.Instance.CountOpen()!.Value;
            }
            int after = ProcessFileDescriptors.Instance.CountOpen()!.Value;
            if ((during - before, during - after) == (1, 1) || attempt == 20)
            {
                Assert.Equal((1, 1), (during - before, during - after));
                return;
            }
        }
    }

    [Fact]
    public void TcpListenQueue_ReadsUnackedAndSacked()
    {
        var info = new byte[TcpListenQueue.InfoLength];
        BitConverter.TryWriteBytes(info.AsSpan(24), 17u);
        BitConverter.TryWriteBytes(info.AsSpan(28), 512u);

        Assert.True(TcpListenQueue.TryParse(info, out int queued, out int limit));
        Assert.Equal((17, 512), (queued, limit));
        Assert.False(TcpListenQueue.TryParse(info.AsSpan(0, 20), out _, out _));
    }

    private FileDescriptorBudget CreateBudget()
    {
        var budget = new FileDescriptorBudget(_table, () => _now);
        _table.Held = () => budget.Held;
        return budget;
    }

    private AcceptThrottle CreateThrottle(FileDescriptorBudget budget) =>
        new(budget, Reserve, _backlog, _logs.CreateLogger("test"), Listener, _ => _roomSignals++, null, _counters);

    /// <summary>At the reserve: pauses, then two closes give it the room to resume (the reserve plus its margin).</summary>
    private static void PauseThenResume(FileDescriptorBudget budget, AcceptThrottle throttle)
    {
        Assert.False(throttle.TryAdmit());
        budget.OnClosed();
        budget.OnClosed();
        Assert.True(throttle.TryAdmit());
    }

    private static void Open(FileDescriptorBudget budget, int count)
    {
        for (int i = 0; i < count; i++)
        {
            budget.OnOpened(fd: -1);
        }
    }

    private sealed class ScriptedTable : IFileDescriptorTable
    {
        /// <summary>null: the limit cannot be read.</summary>
        public long? Limit { get; set; }

        /// <summary>Descriptors open besides the transports' connections; null: they cannot be counted.</summary>
        public int? Others { get; set; }

        public Func<int> Held { get; set; } = () => 0;

        public long? ReadLimit() => Limit;

        public int? CountOpen() => Others + Held();
    }

    private sealed class ScriptedBacklog : IListenBacklog
    {
        public int Queued { get; set; }

        public int Limit { get; set; }

        public bool TryRead(out int queued, out int limit)
        {
            (queued, limit) = (Queued, Limit);
            return Limit > 0;
        }

        public bool TryRefuseOne()
        {
            if (Queued == 0)
            {
                return false;
            }
            Queued--;
            return true;
        }
    }
}
