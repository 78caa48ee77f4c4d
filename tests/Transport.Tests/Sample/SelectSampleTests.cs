namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Sample;

/// <summary>The sample on the portable select transport (<c>--transport select</c>), run on Linux too.</summary>
public sealed class SelectSampleTests : SampleTests
{
    protected override string TransportLogCategory => "Reactors.AspNetCore.Server.Kestrel.Transport.Select";

    protected override string Transport => "select";
}
