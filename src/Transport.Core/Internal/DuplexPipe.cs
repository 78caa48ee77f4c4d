using System.IO.Pipelines;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

internal sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
{
    public PipeReader Input { get; } = input;

    public PipeWriter Output { get; } = output;
}
