namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Sample;

/// <summary>The sample on the io_uring transport (<c>--transport iouring</c>).</summary>
public sealed class IoUringSampleTests : SampleTests
{
    protected override string TransportLogCategory => "Reactors.AspNetCore.Server.Kestrel.Transport.IoUring";

    protected override string Transport => "iouring";
}
