namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;

/// <summary>The clone the tests were built from: the folder above the test assembly that holds Transports.sln.</summary>
internal static class RepositoryRoot
{
    /// <summary>The folder, or null when the tests run outside a clone (copied elsewhere).</summary>
    public static string? Find()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Transports.sln")))
            {
                return directory.FullName;
            }
        }
        return null;
    }
}
