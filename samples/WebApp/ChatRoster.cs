namespace WebApp;

/// <summary>
/// Who is in a chat room, copy-on-write: joins and leaves are rare and relays are not, so a relay reads the member
/// array without a lock, and never holds one while a slow member is being dropped (which may make that member
/// leave, on the same thread).
/// </summary>
internal sealed class ChatRoster<T> where T : class
{
    private readonly Lock _gate = new();
    private T[] _members = [];

    /// <summary>A snapshot; never changed after it is handed out.</summary>
    public T[] Members => Volatile.Read(ref _members);

    /// <summary>Adds <paramref name="member"/>; returns who was there before it.</summary>
    public T[] Add(T member)
    {
        lock (_gate)
        {
            var before = _members;
            _members = [.. before, member];
            return before;
        }
    }

    /// <summary>Removes <paramref name="member"/>; returns who remains, or null when it had already left.</summary>
    public T[]? Remove(T member)
    {
        lock (_gate)
        {
            var index = Array.IndexOf(_members, member);
            if (index < 0)
            {
                return null;
            }

            var remaining = new T[_members.Length - 1];
            Array.Copy(_members, 0, remaining, 0, index);
            Array.Copy(_members, index + 1, remaining, index, remaining.Length - index);
            _members = remaining;
            return remaining;
        }
    }
}
