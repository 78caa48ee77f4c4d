using Xunit.Abstractions;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.RealClients;

/// <summary>The real clients against the sample on the epoll transport.</summary>
public sealed class EpollRealClientTests(ITestOutputHelper output) : RealClientTests(output)
{
    protected override string Transport => "epoll";
}
