using Xunit.Abstractions;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.RealClients;

/// <summary>The real clients against the sample on Kestrel's Sockets transport, the reference.</summary>
public sealed class SocketsRealClientTests(ITestOutputHelper output) : RealClientTests(output)
{
    protected override string Transport => "sockets";
}
