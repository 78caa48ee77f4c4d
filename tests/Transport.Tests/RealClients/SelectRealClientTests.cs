using Xunit.Abstractions;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.RealClients;

/// <summary>The real clients against the sample on the select transport.</summary>
public sealed class SelectRealClientTests(ITestOutputHelper output) : RealClientTests(output)
{
    protected override string Transport => "select";
}
