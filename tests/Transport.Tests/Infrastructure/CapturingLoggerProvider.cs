using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;

internal sealed record LogEntry(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception)
{
    public override string ToString() =>
        $"[{Level}] {Category} ({EventId.Id}:{EventId.Name}) {Message}{(Exception is null ? "" : " | " + Exception.GetType().Name + ": " + Exception.Message)}";
}

/// <summary>
/// Records every log entry of one test server so that tests can assert on levels and event ids, and wait
/// for an entry that is written asynchronously (a transport logs a FIN or a reset on its own thread, possibly
/// after the application has already seen the effect).
/// </summary>
internal sealed class CapturingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<LogEntry> _entries = new();
    private readonly List<(Func<LogEntry, bool> Predicate, TaskCompletionSource<LogEntry> Tcs)> _waiters = [];
    private readonly Lock _lock = new();

    public IReadOnlyList<LogEntry> Entries => [.. _entries];

    public ILogger CreateLogger(string categoryName) => new CapturingLogger(this, categoryName);

    /// <summary>Completes with the first entry, past or future, that matches <paramref name="predicate"/>.</summary>
    public Task<LogEntry> WaitForAsync(Func<LogEntry, bool> predicate)
    {
        lock (_lock)
        {
            foreach (var entry in _entries)
            {
                if (predicate(entry))
                {
                    return Task.FromResult(entry);
                }
            }
            var tcs = new TaskCompletionSource<LogEntry>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((predicate, tcs));
            return tcs.Task;
        }
    }

    public void Dispose()
    {
    }

    private void Add(LogEntry entry)
    {
        lock (_lock)
        {
            _entries.Enqueue(entry);
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Predicate(entry))
                {
                    _waiters[i].Tcs.TrySetResult(entry);
                    _waiters.RemoveAt(i);
                }
            }
        }
    }

    private sealed class CapturingLogger(CapturingLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter)
        {
            ArgumentNullException.ThrowIfNull(formatter);
            provider.Add(new LogEntry(category, logLevel, eventId, formatter(state, exception), exception));
        }
    }
}
