using Xunit.Abstractions;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Stress;

/// <summary>The stress suite against the sample on the select transport.</summary>
public sealed class SelectStressTests(ITestOutputHelper output) : StressTests(output)
{
    protected override string Transport => "select";

    protected override bool SurvivesDescriptorExhaustion => true;
}
