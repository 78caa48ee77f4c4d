using System.Text;

namespace WebApp;

/// <summary>
/// The page at <c>/</c>: a self-contained chat client for <c>/ws</c> (inline CSS and script, nothing fetched from
/// elsewhere, so it works offline and over every transport). The element ids, the status texts and
/// <c>window.chatReady</c> are a contract that scripted browser checks rely on.
/// </summary>
internal static class ChatPage
{
    public const string ContentType = "text/html; charset=utf-8";

    public static void Map(IEndpointRouteBuilder endpoints) =>
        endpoints.MapGet("/", static () => TypedResults.Bytes(s_utf8, ContentType));

    private const string Html = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Chat room</title>
        <link rel="icon" href="data:,">
        <style>
          body { font-family: system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; }
          #log { border: 1px solid #bbb; border-radius: 4px; height: 22rem; overflow-y: auto; padding: .5rem; white-space: pre-wrap; }
          #log .me { color: #0550ae; }
          #log .notice { color: #666; font-style: italic; }
          form { display: flex; gap: .5rem; margin-top: .5rem; }
          #message { flex: 1; padding: .4rem; }
        </style>
        </head>
        <body>
        <h1>Chat room</h1>
        <p>Status: <strong id="status">connecting</strong></p>
        <div id="log" role="log" aria-live="polite"></div>
        <form id="form" autocomplete="off">
          <input id="message" placeholder="Say something" aria-label="Message">
          <button id="send" type="submit">Send</button>
        </form>
        <script>
        "use strict";
        window.chatReady = false;
        (() => {
          const status = document.getElementById("status");
          const log = document.getElementById("log");
          const form = document.getElementById("form");
          const input = document.getElementById("message");

          // ?name=Ann on this page becomes ?name=Ann on the socket; the server picks guest-N otherwise.
          const name = new URLSearchParams(location.search).get("name");
          const scheme = location.protocol === "https:" ? "wss:" : "ws:";
          const socket = new WebSocket(scheme + "//" + location.host + "/ws" + (name ? "?name=" + encodeURIComponent(name) : ""));

          function append(text, kind) {
            const line = document.createElement("div");
            line.textContent = text; // never innerHTML: the text comes from other users
            if (kind) line.className = kind;
            log.appendChild(line);
            log.scrollTop = log.scrollHeight;
          }

          socket.addEventListener("open", () => {
            status.textContent = "connected";
            window.chatReady = true;
            input.focus();
          });
          socket.addEventListener("close", () => {
            status.textContent = "disconnected";
            window.chatReady = false;
          });
          socket.addEventListener("message", event => {
            append(event.data, event.data.startsWith("* ") ? "notice" : "");
          });

          // A submit handler covers both the #send button and the Enter key.
          form.addEventListener("submit", event => {
            event.preventDefault();
            const text = input.value;
            if (text.length === 0 || socket.readyState !== WebSocket.OPEN) return;
            socket.send(text);
            append("me: " + text, "me");
            input.value = "";
          });
        })();
        </script>
        </body>
        </html>
        """;

    // Encoded once, after Html (static fields initialise in order): the page never changes while the app runs.
    private static readonly ReadOnlyMemory<byte> s_utf8 = Encoding.UTF8.GetBytes(Html);
}
