using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.RealClients;

/// <summary>What a finished command left behind.</summary>
internal sealed record ProcessResult(string CommandLine, int ExitCode, string StandardOutput, string StandardError)
{
    /// <summary>The whole story of the run, for an assertion message.</summary>
    public override string ToString() =>
        $"{CommandLine}{Environment.NewLine}exit code {ExitCode}{Environment.NewLine}" +
        $"--- stdout ---{Environment.NewLine}{StandardOutput}{Environment.NewLine}--- stderr ---{Environment.NewLine}{StandardError}";
}

/// <summary>
/// Runs the real clients (curl, h2load) to completion: an argument list (no shell, no quoting), a bounded run
/// time after which the whole process tree is killed, and both output streams captured.
/// </summary>
internal static class ProcessRunner
{
    private static readonly string[] ExtraToolDirectories = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

    /// <summary>
    /// The full path of <paramref name="tool"/>, from PATH or the sbin folders (nginx is in /usr/sbin, which an
    /// unprivileged user's PATH often lacks). A missing tool fails the test: it is a broken CI set-up, not a
    /// reason to skip.
    /// </summary>
    public static string FindTool(string tool)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        foreach (var directory in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Concat(ExtraToolDirectories))
        {
            var candidate = Path.Combine(directory, tool);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new InvalidOperationException(
            $"{tool} not found: run .ci/install-clients (searched PATH and {string.Join(", ", ExtraToolDirectories)}).");
    }

    public static async Task<ProcessResult> RunAsync(string fileName, IReadOnlyList<string> arguments, TimeSpan timeout, string? workingDirectory = null)
    {
        using var process = new Process { StartInfo = CreateStartInfo(fileName, arguments) };
        if (workingDirectory is not null)
        {
            process.StartInfo.WorkingDirectory = workingDirectory;
        }
        var commandLine = FormatCommandLine(fileName, arguments);
        process.Start();
        // A client that reads standard input sees its end at once instead of waiting on the test.
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().WithTimeout();
            throw new TimeoutException(
                $"{commandLine} did not finish within {timeout.TotalSeconds} s and was killed.{Environment.NewLine}" +
                $"--- stdout ---{Environment.NewLine}{await stdout.WithTimeout()}{Environment.NewLine}" +
                $"--- stderr ---{Environment.NewLine}{await stderr.WithTimeout()}");
        }
        return new ProcessResult(commandLine, process.ExitCode, await stdout.WithTimeout(), await stderr.WithTimeout());
    }

    public static ProcessStartInfo CreateStartInfo(string fileName, IEnumerable<string> arguments)
    {
        var startInfo = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }
        return startInfo;
    }

    public static string FormatCommandLine(string fileName, IEnumerable<string> arguments) =>
        string.Join(' ', arguments.Prepend(fileName).Select(a => a.Contains(' ', StringComparison.Ordinal) || a.Length == 0 ? $"'{a}'" : a));
}

/// <summary>
/// A long-running process (the sample, nginx, Chromium): output captured line by line, a line can be awaited,
/// and it is stopped with SIGTERM (to check a clean shutdown) or killed with its whole tree on dispose.
/// </summary>
internal sealed partial class BackgroundProcess : IAsyncDisposable
{
    private const int SigTerm = 15;

    private readonly Process _process;
    private readonly Lock _lock = new();
    private readonly StringBuilder _output = new();
    private readonly List<string> _lines = [];
    private readonly List<(Func<string, bool> Predicate, TaskCompletionSource<string> Tcs)> _waiters = [];
    private readonly TaskCompletionSource _outputClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _openStreams = 2;

    private BackgroundProcess(Process process, string commandLine)
    {
        _process = process;
        CommandLine = commandLine;
    }

    public string CommandLine { get; }

    public bool HasExited => _process.HasExited;

    /// <summary>The process id (for a command started through <c>prlimit</c>, the program's own: prlimit execs it).</summary>
    public int Id => _process.Id;

    /// <summary>Both streams interleaved as they arrived; stderr lines are prefixed with "stderr: ".</summary>
    public string Output
    {
        get
        {
            lock (_lock)
            {
                return _output.ToString();
            }
        }
    }

    public static BackgroundProcess Start(string fileName, IReadOnlyList<string> arguments, IEnumerable<string>? removeEnvironment = null,
        IReadOnlyDictionary<string, string>? setEnvironment = null)
    {
        var startInfo = ProcessRunner.CreateStartInfo(fileName, arguments);
        foreach (var name in removeEnvironment ?? [])
        {
            startInfo.Environment.Remove(name);
        }
        foreach (var (name, value) in setEnvironment ?? new Dictionary<string, string>())
        {
            startInfo.Environment[name] = value;
        }
        var process = new Process { StartInfo = startInfo };
        var background = new BackgroundProcess(process, ProcessRunner.FormatCommandLine(fileName, arguments));
        process.OutputDataReceived += (_, e) => background.OnLine(e.Data, string.Empty);
        process.ErrorDataReceived += (_, e) => background.OnLine(e.Data, "stderr: ");
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return background;
    }

    /// <summary>
    /// Completes with the first output line, past or future, that matches <paramref name="predicate"/>; fails
    /// as soon as the process has closed its output without writing one, or after <paramref name="timeout"/>.
    /// </summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> predicate, TimeSpan timeout, string what)
    {
        Task<string> found;
        lock (_lock)
        {
            var tcs = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (_lines.FirstOrDefault(predicate) is { } seen)
            {
                tcs.SetResult(seen);
            }
            else
            {
                _waiters.Add((predicate, tcs));
            }
            found = tcs.Task;
        }
        try
        {
            await Task.WhenAny(found, _outputClosed.Task).WithTimeout(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"No {what} within {timeout.TotalSeconds} s.{Environment.NewLine}{Describe()}");
        }
        // Lines are matched as they are read, before the end of the output is signalled: no line can come later.
        if (found.IsCompleted)
        {
            return await found;
        }
        // The exit status makes the message; a process that closed its output is about to exit.
        await Task.WhenAny(_process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(5)));
        throw new InvalidOperationException($"The process ended its output before the {what}.{Environment.NewLine}{Describe()}");
    }

    /// <summary>Sends SIGTERM and waits for the exit; a process that ignores it is killed and the call fails.</summary>
    public async Task<int> StopAsync(TimeSpan timeout)
    {
        if (!_process.HasExited && Kill(_process.Id, SigTerm) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (!_process.HasExited)
            {
                throw new InvalidOperationException($"kill({_process.Id}, SIGTERM) failed with errno {errno}.");
            }
        }
        try
        {
            await _process.WaitForExitAsync().WithTimeout(timeout);
        }
        catch (TimeoutException)
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{CommandLine} did not exit within {timeout.TotalSeconds} s of SIGTERM; killed.{Environment.NewLine}{Describe()}");
        }
        // The exit can be observed before the last buffered lines were read.
        await _outputClosed.Task.WithTimeout();
        return _process.ExitCode;
    }

    /// <summary>The command line, the exit status if any, and everything it wrote: for failure messages.</summary>
    public string Describe() =>
        $"{CommandLine}{Environment.NewLine}" +
        (_process.HasExited ? $"exited with code {_process.ExitCode}{Environment.NewLine}" : "still running" + Environment.NewLine) +
        $"--- output ---{Environment.NewLine}{Output}";

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().WithTimeout();
            }
        }
        finally
        {
            _process.Dispose();
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    private void OnLine(string? line, string prefix)
    {
        lock (_lock)
        {
            if (line is null)
            {
                if (--_openStreams == 0)
                {
                    _outputClosed.TrySetResult();
                }
                return;
            }
            _output.Append(prefix).Append(line).Append('\n');
            _lines.Add(line);
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Predicate(line))
                {
                    _waiters[i].Tcs.TrySetResult(line);
                    _waiters.RemoveAt(i);
                }
            }
        }
    }
}
