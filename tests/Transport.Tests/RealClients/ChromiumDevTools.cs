using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.RealClients;

/// <summary>
/// Headless Chromium driven over the Chrome DevTools Protocol: JSON-RPC over one WebSocket to the browser
/// target, pages attached in flat mode (their commands carry a sessionId). Only commands are used; events are
/// read and ignored.
/// </summary>
internal sealed class ChromiumBrowser : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly BackgroundProcess _process;
    private readonly DevToolsConnection _connection;

    private ChromiumBrowser(BackgroundProcess process, DevToolsConnection connection)
    {
        _process = process;
        _connection = connection;
    }

    public static async Task<ChromiumBrowser> StartAsync(string profileDirectory)
    {
        var chromium = ProcessRunner.FindTool("chromium");
        Directory.CreateDirectory(profileDirectory);
        var process = BackgroundProcess.Start(chromium,
        [
            "--headless=new",
            // Root (CI containers) cannot use Chromium's sandbox.
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-port=0",
            $"--user-data-dir={profileDirectory}",
            "about:blank",
        ]);
        try
        {
            var (port, path) = await ReadActivePortAsync(process, Path.Combine(profileDirectory, "DevToolsActivePort"));
            var connection = await DevToolsConnection.ConnectAsync(new Uri($"ws://127.0.0.1:{port}{path}"));
            return new ChromiumBrowser(process, connection);
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    /// <summary>Opens <paramref name="url"/> in a new tab and attaches to it.</summary>
    public async Task<ChromiumPage> OpenPageAsync(Uri url)
    {
        var target = await _connection.SendAsync("Target.createTarget", new JsonObject { ["url"] = url.AbsoluteUri });
        var targetId = target.GetProperty("targetId").GetString()!;
        var attached = await _connection.SendAsync("Target.attachToTarget", new JsonObject { ["targetId"] = targetId, ["flatten"] = true });
        return new ChromiumPage(_connection, attached.GetProperty("sessionId").GetString()!, url);
    }

    /// <summary>The browser's command line and output, without its D-Bus complaints (a container has no bus).</summary>
    public string Describe()
    {
        var lines = _process.Describe().Split('\n');
        var kept = lines.Where(l => !l.Contains(":ERROR:dbus/", StringComparison.Ordinal)).ToList();
        return string.Join('\n', kept) + (kept.Count < lines.Length ? $"({lines.Length - kept.Count} D-Bus error lines left out)" : string.Empty);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _connection.DisposeAsync();
        }
        finally
        {
            // Kills the browser with its renderer, GPU and utility processes.
            await _process.DisposeAsync();
        }
    }

    /// <summary>
    /// Chromium writes DevToolsActivePort (line 1 the port, line 2 the browser target's WebSocket path) once its
    /// DevTools server listens. It announces that nowhere else reliably, so the file is polled.
    /// </summary>
    private static async Task<(int Port, string Path)> ReadActivePortAsync(BackgroundProcess process, string file)
    {
        var elapsed = Stopwatch.StartNew();
        while (elapsed.Elapsed < StartTimeout)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"Chromium exited before it opened its DevTools port.{Environment.NewLine}{process.Describe()}");
            }
            if (File.Exists(file))
            {
                var lines = File.ReadAllLines(file);
                // The file can be seen half written.
                if (lines.Length >= 2 && int.TryParse(lines[0], NumberStyles.None, CultureInfo.InvariantCulture, out var port)
                    && lines[1].StartsWith("/devtools/browser/", StringComparison.Ordinal))
                {
                    return (port, lines[1]);
                }
            }
            await Task.Delay(50);
        }
        throw new TimeoutException($"Chromium wrote no {file} within {StartTimeout.TotalSeconds} s.{Environment.NewLine}{process.Describe()}");
    }
}

/// <summary>One tab, reached through its flat-mode session.</summary>
internal sealed class ChromiumPage(DevToolsConnection connection, string sessionId, Uri url)
{
    public Uri Url { get; } = url;

    /// <summary>Evaluates <paramref name="expression"/> in the page (promises awaited) and returns its value.</summary>
    public async Task<JsonElement> EvaluateAsync(string expression)
    {
        var result = await connection.SendAsync("Runtime.evaluate", new JsonObject
        {
            ["expression"] = expression,
            ["returnByValue"] = true,
            ["awaitPromise"] = true,
        }, sessionId);
        if (result.TryGetProperty("exceptionDetails", out var exception))
        {
            throw new InvalidOperationException($"{expression} threw in {Url}: {exception}");
        }
        return result.GetProperty("result").TryGetProperty("value", out var value) ? value : default;
    }

    /// <summary>
    /// Polls the boolean <paramref name="condition"/> until it holds, with a short pause between evaluations and
    /// a deadline. While the page is still loading an evaluation can fail: that counts as "not yet". On timeout
    /// the message shows <paramref name="diagnostic"/>'s value, e.g. the page's visible text.
    /// </summary>
    public async Task WaitUntilAsync(string condition, string diagnostic, TimeSpan timeout)
    {
        var elapsed = Stopwatch.StartNew();
        string? lastError = null;
        while (elapsed.Elapsed < timeout)
        {
            try
            {
                if (await EvaluateAsync(condition) is { ValueKind: JsonValueKind.True })
                {
                    return;
                }
                lastError = null;
            }
            catch (InvalidOperationException ex)
            {
                lastError = ex.Message;
            }
            await Task.Delay(100);
        }
        string state;
        try
        {
            state = (await EvaluateAsync(diagnostic)).ToString();
        }
        catch (InvalidOperationException ex)
        {
            state = "(not readable: " + ex.Message + ")";
        }
        throw new TimeoutException(
            $"{Url}: {condition} did not become true within {timeout.TotalSeconds} s. {diagnostic} = {state}" +
            (lastError is null ? string.Empty : $"; last evaluation error: {lastError}"));
    }
}

/// <summary>
/// A Chrome DevTools Protocol client: commands get increasing ids, a receive loop completes the command
/// whose id a response carries, and anything without an id (an event) is dropped. Every command is bounded.
/// </summary>
internal sealed class DevToolsConnection : IAsyncDisposable
{
    private readonly ClientWebSocket _socket;
    private readonly ConcurrentDictionary<int, (string Method, TaskCompletionSource<JsonElement> Tcs)> _pending = new();
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _receiveLoop;
    private int _nextId;

    private DevToolsConnection(ClientWebSocket socket)
    {
        _socket = socket;
        _receiveLoop = Task.Run(ReceiveLoopAsync);
    }

    public static async Task<DevToolsConnection> ConnectAsync(Uri browserWebSocket)
    {
        var socket = new ClientWebSocket();
        try
        {
            await socket.ConnectAsync(browserWebSocket, CancellationToken.None).WithTimeout();
            return new DevToolsConnection(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends a command and returns its "result"; a protocol "error" throws.</summary>
    public async Task<JsonElement> SendAsync(string method, JsonObject parameters, string? sessionId = null)
    {
        var id = Interlocked.Increment(ref _nextId);
        var tcs = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = (method, tcs);
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters };
        if (sessionId is not null)
        {
            message["sessionId"] = sessionId;
        }
        try
        {
            if (!await _sendLock.WaitAsync(TimeoutExtensions.DefaultTimeout))
            {
                throw new TimeoutException($"{method} could not be sent: another send did not finish.");
            }
            try
            {
                await _socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None).WithTimeout();
            }
            finally
            {
                _sendLock.Release();
            }
            return await tcs.Task.WithTimeout();
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _receiveLoop.WithTimeout();
        }
        finally
        {
            _socket.Dispose();
            _sendLock.Dispose();
            _stop.Dispose();
        }
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        Exception failure = new InvalidOperationException("The DevTools connection closed.");
        try
        {
            while (_socket.State == WebSocketState.Open)
            {
                var received = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }
                message.Write(buffer, 0, received.Count);
                if (received.EndOfMessage)
                {
                    Dispatch(message.GetBuffer().AsSpan(0, (int)message.Length));
                    message.SetLength(0);
                }
            }
        }
        catch (OperationCanceledException)
        {
            failure = new ObjectDisposedException(nameof(DevToolsConnection));
        }
        catch (Exception ex) when (ex is WebSocketException or JsonException)
        {
            failure = new InvalidOperationException("The DevTools connection failed.", ex);
        }
        foreach (var pending in _pending.Values)
        {
            pending.Tcs.TrySetException(failure);
        }
    }

    private void Dispatch(ReadOnlySpan<byte> json)
    {
        using var document = JsonDocument.Parse(json.ToArray());
        var root = document.RootElement;
        if (!root.TryGetProperty("id", out var idElement) || !_pending.TryGetValue(idElement.GetInt32(), out var pending))
        {
            return;
        }
        if (root.TryGetProperty("error", out var error))
        {
            pending.Tcs.TrySetException(new InvalidOperationException($"{pending.Method} failed: {error}"));
        }
        else
        {
            pending.Tcs.TrySetResult(root.GetProperty("result").Clone());
        }
    }
}
