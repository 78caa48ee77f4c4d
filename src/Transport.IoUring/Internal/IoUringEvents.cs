namespace Reactors.AspNetCore.Server.Kestrel.Transport.IoUring.Internal;

/// <summary>
/// Counts of the rare turns a ring takes, process-wide: the tests read them to show that a path they aim at was
/// taken, and they explain a profile. Each is an event the kernel causes now and then, never one per request.
/// </summary>
internal static class IoUringEvents
{
    private static long s_receivesOutOfBuffers;
    private static long s_receivesEndedEarly;
    private static long s_shortSends;
    private static long s_completionOverflows;
    private static long s_completionsAfterRelease;

    /// <summary>Multishot receives that found no provided buffer (ENOBUFS) and were submitted again.</summary>
    public static long ReceivesOutOfBuffers => Interlocked.Read(ref s_receivesOutOfBuffers);

    /// <summary>Multishot receives the kernel ended after delivering (no IORING_CQE_F_MORE), submitted again.</summary>
    public static long ReceivesEndedEarly => Interlocked.Read(ref s_receivesEndedEarly);

    /// <summary>Send completions that took less than was submitted; the rest was sent next.</summary>
    public static long ShortSends => Interlocked.Read(ref s_shortSends);

    /// <summary>Times the kernel held completions the completion queue had no room for (taken in a second pass).</summary>
    public static long CompletionOverflows => Interlocked.Read(ref s_completionOverflows);

    /// <summary>Completions that came for a handler already released (a cancelled listener's poll, say); dropped.</summary>
    public static long CompletionsAfterRelease => Interlocked.Read(ref s_completionsAfterRelease);

    public static void OnReceiveOutOfBuffers() => Interlocked.Increment(ref s_receivesOutOfBuffers);

    public static void OnReceiveEndedEarly() => Interlocked.Increment(ref s_receivesEndedEarly);

    public static void OnShortSend() => Interlocked.Increment(ref s_shortSends);

    public static void OnCompletionOverflow() => Interlocked.Increment(ref s_completionOverflows);

    public static void OnCompletionAfterRelease() => Interlocked.Increment(ref s_completionsAfterRelease);
}
