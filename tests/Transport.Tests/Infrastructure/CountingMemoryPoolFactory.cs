using System.Buffers;
using Microsoft.AspNetCore.Connections;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;

/// <summary>
/// An <see cref="IMemoryPoolFactory{T}"/> that counts the bytes rented and not yet returned by every pool it
/// creates, so that a test can prove a transport's buffering is bounded. Registered after Kestrel's own factory
/// it replaces it (the last registration wins), for Kestrel and for any transport that honours the host's factory.
/// </summary>
/// <remarks>
/// Its pools behave like Kestrel's pinned block pool where it matters to a transport: 4 KiB blocks, and a request
/// for more than a block throws, so a transport that works here also works with Kestrel's pool.
/// </remarks>
internal sealed class CountingMemoryPoolFactory : IMemoryPoolFactory<byte>
{
    public const int BlockSize = 4096;

    private long _outstandingBytes;
    private long _peakOutstandingBytes;
    private int _poolsCreated;
    private long _rentals;

    public long OutstandingBytes => Interlocked.Read(ref _outstandingBytes);

    public long PeakOutstandingBytes => Interlocked.Read(ref _peakOutstandingBytes);

    public int PoolsCreated => Volatile.Read(ref _poolsCreated);

    public long Rentals => Interlocked.Read(ref _rentals);

    public MemoryPool<byte> Create(MemoryPoolOptions? options = null)
    {
        Interlocked.Increment(ref _poolsCreated);
        return new CountingPool(this);
    }

    private void OnRent(int bytes)
    {
        Interlocked.Increment(ref _rentals);
        var outstanding = Interlocked.Add(ref _outstandingBytes, bytes);
        var peak = Interlocked.Read(ref _peakOutstandingBytes);
        while (outstanding > peak)
        {
            var previous = Interlocked.CompareExchange(ref _peakOutstandingBytes, outstanding, peak);
            if (previous == peak)
            {
                break;
            }
            peak = previous;
        }
    }

    private void OnReturn(int bytes) => Interlocked.Add(ref _outstandingBytes, -bytes);

    private sealed class CountingPool(CountingMemoryPoolFactory factory) : MemoryPool<byte>
    {
        public override int MaxBufferSize => BlockSize;

        public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockSize);
            var array = ArrayPool<byte>.Shared.Rent(BlockSize);
            factory.OnRent(array.Length);
            return new Block(factory, array);
        }

        protected override void Dispose(bool disposing)
        {
        }
    }

    private sealed class Block(CountingMemoryPoolFactory factory, byte[] array) : IMemoryOwner<byte>
    {
        private byte[]? _array = array;

        public Memory<byte> Memory => _array ?? throw new ObjectDisposedException(nameof(Block));

        public void Dispose()
        {
            // Guards the count against a double dispose, which would otherwise hide a leak.
            var returned = Interlocked.Exchange(ref _array, null);
            if (returned is not null)
            {
                factory.OnReturn(returned.Length);
                ArrayPool<byte>.Shared.Return(returned);
            }
        }
    }
}
