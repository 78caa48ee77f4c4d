namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;

/// <summary>
/// Bounds every await of the suite, so that a transport that hangs fails its test with a
/// <see cref="TimeoutException"/> instead of stalling the whole CI run.
/// </summary>
internal static class TimeoutExtensions
{
    /// <summary>Generous enough for a loaded 2-core CI machine; a healthy test step takes milliseconds.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    public static Task WithTimeout(this Task task, TimeSpan? timeout = null) =>
        task.WaitAsync(timeout ?? DefaultTimeout);

    public static Task<T> WithTimeout<T>(this Task<T> task, TimeSpan? timeout = null) =>
        task.WaitAsync(timeout ?? DefaultTimeout);

    public static Task WithTimeout(this ValueTask task, TimeSpan? timeout = null) =>
        task.AsTask().WaitAsync(timeout ?? DefaultTimeout);

    public static Task<T> WithTimeout<T>(this ValueTask<T> task, TimeSpan? timeout = null) =>
        task.AsTask().WaitAsync(timeout ?? DefaultTimeout);

    /// <summary>
    /// Waits for <paramref name="task"/> for at most the default timeout and never throws: for server-side code
    /// that must stay in flight until the test has observed something, without outliving the test.
    /// </summary>
    public static async Task WaitQuietlyAsync(this Task task)
    {
        try
        {
            await task.WaitAsync(DefaultTimeout);
        }
        catch (TimeoutException)
        {
        }
    }
}
