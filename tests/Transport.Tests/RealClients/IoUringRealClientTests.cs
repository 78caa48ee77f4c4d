using Xunit.Abstractions;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.RealClients;

/// <summary>The real clients against the sample on the io_uring transport.</summary>
public sealed class IoUringRealClientTests(ITestOutputHelper output) : RealClientTests(output)
{
    protected override string Transport => "iouring";
}
