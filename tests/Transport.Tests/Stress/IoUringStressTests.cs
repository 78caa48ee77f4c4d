using Xunit.Abstractions;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Stress;

/// <summary>The stress suite against the sample on the io_uring transport.</summary>
public sealed class IoUringStressTests(ITestOutputHelper output) : StressTests(output)
{
    protected override string Transport => "iouring";

    protected override bool SurvivesDescriptorExhaustion => true;
}
