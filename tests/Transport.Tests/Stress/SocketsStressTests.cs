using Xunit.Abstractions;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Stress;

/// <summary>The stress suite against the sample on the sockets transport.</summary>
public sealed class SocketsStressTests(ITestOutputHelper output) : StressTests(output)
{
    protected override string Transport => "sockets";

    protected override bool SurvivesDescriptorExhaustion => false;
}
