using System.Reflection;

namespace Reactors.AspNetCore.Server.Kestrel.Transport;

/// <summary>
/// Stops a transport from running on a core package of another version. Compiled into each transport as source,
/// never into the core: it has to work when the core loaded is not the one the transport was built with.
/// </summary>
/// <remarks>
/// The transports read the core's internals, a contract with no compatibility between versions, so each package
/// pins its dependencies to one exact version (Directory.Build.targets). NuGet only warns when a project overrides
/// such a pin (NU1608, e.g. a direct reference to another version of the core); without this check the mismatch
/// would surface later as a MissingMethodException from deep inside a reactor.
/// </remarks>
internal static class CoreVersionCheck
{
    public static void EnsureSameVersion(Type transport)
    {
        Assembly transportAssembly = transport.Assembly;
        Assembly coreAssembly = typeof(ReactorTransportOptions).Assembly;
        string? transportVersion = VersionOf(transportAssembly);
        string? coreVersion = VersionOf(coreAssembly);
        if (!string.Equals(transportVersion, coreVersion, StringComparison.Ordinal))
        {
            throw new InvalidOperationException(
                $"{transportAssembly.GetName().Name} {transportVersion} cannot run with {coreAssembly.GetName().Name} {coreVersion}: " +
                "a transport needs the core package of exactly its own version. Reference one version of every " +
                "Reactors.AspNetCore.Server.Kestrel.Transport.* package, and no other version of the .Core package directly " +
                "(NuGet reported the mismatch at restore as warning NU1608).");
        }
    }

    // The informational version, with the commit the SDK appends: two builds of one version from different commits
    // may differ in exactly the internals this guards.
    private static string? VersionOf(Assembly assembly) =>
        assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? assembly.GetName().Version?.ToString();
}
