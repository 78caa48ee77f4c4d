using Xunit.Abstractions;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Stress;

/// <summary>The stress suite against the sample on the epoll transport.</summary>
public sealed class EpollStressTests(ITestOutputHelper output) : StressTests(output)
{
    protected override string Transport => "epoll";

    protected override bool SurvivesDescriptorExhaustion => true;
}
