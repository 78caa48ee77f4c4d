using Microsoft.AspNetCore.Hosting;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests;

/// <summary>The reference: Kestrel's own Sockets transport. A test failing here is a wrong test.</summary>
public sealed class SocketsConformanceTests : ConformanceTests
{
    protected override string TransportLogCategory => "Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets";

    protected override void UseTransport(IWebHostBuilder builder, long? maxReadBufferSize) =>
        builder.UseSockets(options =>
        {
            if (maxReadBufferSize is not null)
            {
                options.MaxReadBufferSize = maxReadBufferSize;
            }
        });
}
