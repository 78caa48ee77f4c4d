using Microsoft.AspNetCore.Hosting;
using Reactors.AspNetCore.Server.Kestrel.Transport.Select;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests;

// Runs on Linux too (as mio's CI forces its poll backend): the portable backend must hold the same contract.
public sealed class SelectConformanceTests : ConformanceTests
{
    protected override string TransportLogCategory => "Reactors.AspNetCore.Server.Kestrel.Transport.Select";

    protected override void UseTransport(IWebHostBuilder builder, long? maxReadBufferSize) =>
        builder.UseSelectTransport(options =>
        {
            if (maxReadBufferSize is not null)
            {
                options.MaxReadBufferSize = maxReadBufferSize;
            }
        });
}
