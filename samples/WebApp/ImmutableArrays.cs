namespace WebApp;

/// <summary>Copy-on-write member lists: readers take the array without a lock, writers replace it under one.</summary>
internal static class ImmutableArrays
{
    /// <summary>A copy of <paramref name="array"/> without <paramref name="item"/>, or null when it is not there.</summary>
    public static T[]? Without<T>(T[] array, T item) where T : class
    {
        var index = Array.IndexOf(array, item);
        if (index < 0)
        {
            return null;
        }
        var remaining = new T[array.Length - 1];
        Array.Copy(array, 0, remaining, 0, index);
        Array.Copy(array, index + 1, remaining, index, remaining.Length - index);
        return remaining;
    }
}
