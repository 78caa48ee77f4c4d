namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Sample;

/// <summary>The reference: the sample on Kestrel's own Sockets transport. A test failing here is a wrong test or a sample bug.</summary>
public sealed class SocketsSampleTests : SampleTests
{
    protected override string TransportLogCategory => "Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets";

    protected override string Transport => "sockets";
}
