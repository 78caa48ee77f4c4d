namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;

/// <summary>
/// Runs code on a dedicated thread that is neither a reactor nor a thread-pool thread: an application's own thread,
/// whose output the transport cannot hand to the pool and must get out through a reactor's wake-up.
/// </summary>
internal static class ForeignThread
{
    /// <summary>Starts <paramref name="action"/> on a new background thread; the task ends with it, or with its exception.</summary>
    public static Task RunAsync(Action action, string name = "foreign writer")
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                action();
                done.TrySetResult();
            }
            catch (Exception ex)
            {
                done.TrySetException(ex);
            }
        }) { IsBackground = true, Name = name };
        thread.Start();
        return done.Task;
    }
}
