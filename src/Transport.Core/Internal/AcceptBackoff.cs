namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>
/// Delay before retrying accept after running out of a resource (EMFILE, ENFILE, ENOBUFS, ENOMEM). Retrying at
/// once would spin a core while the condition lasts (see libuv#690, dotnet/aspnetcore#55599); waiting too long
/// leaves clients in the backlog. Doubles from 5 ms to 1 s, as Go's net/http does, and resets on success.
/// </summary>
internal struct AcceptBackoff
{
    private const int InitialMilliseconds = 5;
    private const int MaxMilliseconds = 1000;

    private int _current;

    public int NextDelayMilliseconds()
    {
        _current = _current == 0 ? InitialMilliseconds : Math.Min(_current * 2, MaxMilliseconds);
        return _current;
    }

    public void Reset() => _current = 0;
}
