namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Sample;

/// <summary>The sample on the epoll transport (<c>--transport epoll</c>, the sample's default).</summary>
public sealed class EpollSampleTests : SampleTests
{
    protected override string TransportLogCategory => "Reactors.AspNetCore.Server.Kestrel.Transport.Epoll";

    protected override string Transport => "epoll";
}
