// The reactor transports' sample: a TechEmpower-shaped minimal API plus endpoints that exercise a transport in
// other ways (bulk data, WebSockets, h2c, TLS, a Unix domain socket, raw TCP). Switches and one client for each:
//
//   dotnet run --project samples/WebApp -c Release                      # epoll on http://127.0.0.1:5000
//   --transport epoll|iouring|select|default|sockets                    # TRANSPORT=sockets works too
//   --unsafe-prefer-inline-scheduling true                              # handlers on the I/O threads (default false)
//   --urls http://127.0.0.1:8080      curl http://127.0.0.1:8080/plaintext                  (HTTP/1.1)
//   --unix-socket /tmp/webapp.sock    curl --unix-socket /tmp/webapp.sock http://localhost/plaintext
//   --unix-socket-mode 660                                              # its file's mode (reactor transports; default: umask)
//   --reuse-port true                                                   # SO_REUSEPORT: several processes on one port (reactor transports)
//   --reactor-count 4                                                   # reactor threads (reactor transports; default: half the cores)
//   --h2c-port 5002                   curl --http2-prior-knowledge http://127.0.0.1:5002/plaintext
//   --https-port 5001                 curl -k --http2 https://127.0.0.1:5001/plaintext      (self-signed)
//   --echo-port 7000                  nc 127.0.0.1 7000          (type a line: it comes back upper-cased)
//   --chat-port 7001                  nc 127.0.0.1 7001          (in two terminals: lines go to the others)
//
//   GET  /plaintext      Hello, World!                    curl http://127.0.0.1:5000/plaintext
//   GET  /json           {"message":"Hello, World!"}      curl http://127.0.0.1:5000/json
//   GET  /bytes/{count}  count bytes, byte i = i % 251    curl -o out.bin http://127.0.0.1:5000/bytes/16777216
//   POST /echo           the body back                    curl --data-binary @file -o back http://127.0.0.1:5000/echo
//   GET  /               WebSocket chat page              open http://127.0.0.1:5000/?name=Ann in a browser
//   GET  /ws             the chat room's WebSocket
//
// A bad option ends the app with exit code 2 and one line on stderr saying what to fix.

using WebApp;

WebApplication app;
try
{
    app = SampleApp.Create(args);
}
catch (SampleOptionException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}

await app.RunAsync();
return 0;
