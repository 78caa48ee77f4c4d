using Microsoft.AspNetCore.Hosting;
using Reactors.AspNetCore.Server.Kestrel.Transport.Epoll;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests;

/// <summary>The epoll transport, held to everything the Sockets reference passes.</summary>
public sealed class EpollConformanceTests : ConformanceTests
{
    protected override string TransportLogCategory => "Reactors.AspNetCore.Server.Kestrel.Transport.Epoll";

    protected override void UseTransport(IWebHostBuilder builder, long? maxReadBufferSize) =>
        builder.UseEpollTransport(options =>
        {
            if (maxReadBufferSize is not null)
            {
                options.MaxReadBufferSize = maxReadBufferSize;
            }
        });
}
