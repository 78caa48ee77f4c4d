namespace Reactors.AspNetCore.Server.Kestrel.Transport.Internal;

/// <summary>What the kernel says about the process's file descriptor table: its limit and how many are open.</summary>
/// <remarks>
/// Read through procfs so that both transports share one implementation without any interop (the select
/// transport must stay free of native calls). Both reads are rare (start-up, and an accept loop near its limit),
/// so their allocations do not matter.
/// </remarks>
internal interface IFileDescriptorTable
{
    /// <summary>
    /// The soft RLIMIT_NOFILE; <see cref="long.MaxValue"/> where there is none to honour; null when it cannot be read
    /// just now (opening the file needs a descriptor: near the limit, this fails exactly when it matters).
    /// </summary>
    long? ReadLimit();

    /// <summary>Open descriptors now, or null when they cannot be counted (which near the limit means "full").</summary>
    int? CountOpen();
}

internal sealed class ProcessFileDescriptors : IFileDescriptorTable
{
    private const string LimitsPath = "/proc/self/limits";
    private const string DescriptorsPath = "/proc/self/fd";

    public static ProcessFileDescriptors Instance { get; } = new();

    private ProcessFileDescriptors()
    {
    }

    public long? ReadLimit()
    {
        if (!OperatingSystem.IsLinux())
        {
            return long.MaxValue;
        }
        try
        {
            foreach (string line in File.ReadLines(LimitsPath))
            {
                // "Max open files            1024                 1048576              files"
                if (line.StartsWith("Max open files", StringComparison.Ordinal))
                {
                    return ParseSoftLimit(line.AsSpan("Max open files".Length));
                }
            }
        }
        catch (IOException)
        {
            return null; // EMFILE, ENFILE among others
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
        return long.MaxValue;
    }

    internal static long ParseSoftLimit(ReadOnlySpan<char> columns)
    {
        columns = columns.TrimStart();
        int end = columns.IndexOf(' ');
        ReadOnlySpan<char> soft = end < 0 ? columns : columns[..end];
        return long.TryParse(soft, out long value) ? value : long.MaxValue; // "unlimited"
    }

    public int? CountOpen()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }
        try
        {
            int count = 0;
            foreach (string _ in Directory.EnumerateFileSystemEntries(DescriptorsPath))
            {
                count++;
            }
            // The enumeration's own descriptor for the directory is in the list.
            return count - 1;
        }
        catch (IOException)
        {
            return null; // EMFILE while opening the directory, among others
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
