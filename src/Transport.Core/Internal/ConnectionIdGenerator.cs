namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

// Same shape as Kestrel's ids (13 base-32 characters from a counter seeded with the clock), so ids stay unique
// across restarts and look familiar in logs and TraceIdentifiers.
internal static class ConnectionIdGenerator
{
    private const string Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUV";
    private static long s_lastId = DateTime.UtcNow.Ticks;

    public static string Next() => string.Create(13, Interlocked.Increment(ref s_lastId), static (buffer, id) =>
    {
        for (int i = buffer.Length - 1; i >= 0; i--)
        {
            buffer[i] = Alphabet[(int)(id & 31)];
            id >>= 5;
        }
    });
}
