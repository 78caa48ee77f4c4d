using System.Buffers;
using Microsoft.AspNetCore.Connections;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

internal static class ReactorMemoryPool
{
    // Kestrel's pools hand out 4 KiB blocks; a pipe segment larger than a block would make Rent throw.
    private const int PreferredSegmentSize = 4096;

    /// <summary>One pool per reactor, from the host's factory when it registered one.</summary>
    public static MemoryPool<byte> Create(IMemoryPoolFactory<byte>? factory) =>
        factory?.Create(new MemoryPoolOptions { Owner = "kestrel" }) ?? new NonDisposingSharedPool();

    public static int GetMinimumSegmentSize(MemoryPool<byte> pool) =>
        pool.MaxBufferSize is > 0 and < PreferredSegmentSize ? pool.MaxBufferSize : PreferredSegmentSize;

    // Without a registered factory (a host that is not Kestrel's) fall back to the shared array pool; it must
    // never be disposed by us since other code shares it.
    private sealed class NonDisposingSharedPool : MemoryPool<byte>
    {
        public override int MaxBufferSize => Shared.MaxBufferSize;

        public override IMemoryOwner<byte> Rent(int minBufferSize = -1) => Shared.Rent(minBufferSize);

        protected override void Dispose(bool disposing)
        {
        }
    }
}
