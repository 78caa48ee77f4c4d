using Microsoft.AspNetCore.Hosting;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests;

/// <summary>The reference: Kestrel's own Sockets transport. A test failing here is a wrong test.</summary>
public sealed class SocketsConformanceTests : ConformanceTests
{
    protected override string TransportLogCategory => "Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets";

    // Kestrel's receive loop logs a reset only while its socket is not yet disposed (SocketConnection.DoReceive):
    // when an abort has disposed it first, the reset goes unlogged. One CI run in about ten saw that.
    protected override bool LogsEveryPeerReset => false;

    protected override void UseTransport(IWebHostBuilder builder, long? maxReadBufferSize) =>
        builder.UseSockets(options =>
        {
            if (maxReadBufferSize is not null)
            {
                options.MaxReadBufferSize = maxReadBufferSize;
            }
        });
}
