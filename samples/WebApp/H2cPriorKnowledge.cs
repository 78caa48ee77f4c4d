using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace WebApp;

/// <summary>
/// Connection middleware for the cleartext HTTP endpoints: a connection that opens with the HTTP/2 connection
/// preface (RFC 9113 §3.4) goes to <see cref="H2cHandOff"/>, any other one on to HTTP/1.1. Only the first bytes
/// of a connection are looked at, once; requests are not touched.
/// </summary>
internal static class H2cPriorKnowledge
{
    private static readonly TimeSpan s_silenceTimeout = TimeSpan.FromSeconds(10);

    private static ReadOnlySpan<byte> Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    public static ListenOptions UseH2cPriorKnowledge(this ListenOptions listen, H2cHandOff handOff)
    {
        listen.Use(next => connection => RouteAsync(connection, next, handOff));
        return listen;
    }

    private static async Task RouteAsync(ConnectionContext connection, ConnectionDelegate http1, H2cHandOff handOff)
    {
        // No protocol runs yet, so none of Kestrel's timeouts do: a silent client is passed on to HTTP/1.1 after
        // a while (whose keep-alive timeout then applies), and at once when the server asks connections to close.
        var closeRequested = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? default;
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(closeRequested);
        waiting.CancelAfter(s_silenceTimeout);

        bool isHttp2;
        try
        {
            isHttp2 = await StartsWithPrefaceAsync(connection.Transport.Input, waiting.Token);
        }
        catch (OperationCanceledException)
        {
            isHttp2 = false;
        }
        catch (Exception e) when (e is ConnectionResetException or ConnectionAbortedException)
        {
            // Gone before it said anything: there is nothing to serve, and nothing worth logging.
            return;
        }

        await (isHttp2 ? handOff.ServeAsync(connection) : http1(connection));
    }

    /// <summary>Reads until the first bytes decide, then leaves every byte unread for the protocol that follows.</summary>
    private static async ValueTask<bool> StartsWithPrefaceAsync(PipeReader input, CancellationToken cancellationToken)
    {
        // What the last wait marked as examined. A pipe forbids moving "examined" backwards, and marking all of
        // the buffer examined would make the protocol's first read wait for bytes that may never come; so the
        // final AdvanceTo repeats this position.
        long examined = 0;
        while (true)
        {
            // A token rather than CancelPendingRead: a late cancellation must not cancel the protocol's first read.
            var result = await input.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            var verdict = Compare(buffer);
            if (verdict is not null || result.IsCompleted || result.IsCanceled)
            {
                input.AdvanceTo(buffer.Start, buffer.GetPosition(examined));
                return verdict ?? false;
            }

            // A strict prefix of the preface so far: wait for more.
            examined = buffer.Length;
            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>True: the preface. False: something else. Null: too short to tell.</summary>
    private static bool? Compare(in ReadOnlySequence<byte> buffer)
    {
        var length = (int)Math.Min(buffer.Length, Preface.Length);
        Span<byte> start = stackalloc byte[Preface.Length];
        buffer.Slice(0, length).CopyTo(start);
        if (!start[..length].SequenceEqual(Preface[..length]))
        {
            return false;
        }

        return length == Preface.Length ? true : null;
    }
}
