using Microsoft.AspNetCore.Hosting;
using Reactors.AspNetCore.Server.Kestrel.Transport.IoUring;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests;

/// <summary>The io_uring transport, held to everything the Sockets reference passes.</summary>
public sealed class IoUringConformanceTests : ConformanceTests
{
    protected override string TransportLogCategory => "Reactors.AspNetCore.Server.Kestrel.Transport.IoUring";

    protected override void UseTransport(IWebHostBuilder builder, long? maxReadBufferSize) =>
        builder.UseIoUringTransport(options =>
        {
            if (maxReadBufferSize is not null)
            {
                options.MaxReadBufferSize = maxReadBufferSize;
            }
        });
}
