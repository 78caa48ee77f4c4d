using Xunit;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Interop;

/// <summary>A fact that is reported as skipped, with the reason, where Linux-only APIs cannot run.</summary>
public sealed class LinuxFactAttribute : FactAttribute
{
    public LinuxFactAttribute()
    {
        if (!OperatingSystem.IsLinux())
        {
            Skip = "Linux only: exercises the epoll interop layer.";
        }
    }
}
