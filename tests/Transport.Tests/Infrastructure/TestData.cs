using System.Security.Cryptography;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;

/// <summary>Deterministic payloads, so both ends can compute the same bytes and hashes independently.</summary>
internal static class TestData
{
    public const int MiB = 1024 * 1024;

    /// <summary>A fresh Unix socket path; short, because sockaddr_un holds at most 107 bytes of path.</summary>
    public static string NewUnixSocketPath() =>
        Path.Combine(Path.GetTempPath(), $"rx-{Guid.NewGuid().ToString("N")[..12]}.sock");

    /// <summary>
    /// The byte at absolute <paramref name="position"/> of an endless pattern that does not repeat with any
    /// power-of-two period below 16 MiB, so a lost, duplicated or reordered block changes the hash.
    /// </summary>
    public static void FillPattern(long position, Span<byte> destination)
    {
        for (var i = 0; i < destination.Length; i++)
        {
            var p = position + i;
            destination[i] = (byte)(p ^ (p >> 8) ^ (p >> 16) ^ (p >> 24));
        }
    }

    public static byte[] Pattern(long length)
    {
        var bytes = new byte[length];
        FillPattern(0, bytes);
        return bytes;
    }

    /// <summary>Seeded pseudo-random bytes: incompressible and unlike anything a transport could fabricate.</summary>
    public static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static string Sha256Hex(ReadOnlySpan<byte> data) => Convert.ToHexString(SHA256.HashData(data));
}
