using System.Security.Cryptography.X509Certificates;
using WebApp;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;

/// <summary>
/// A self-signed localhost certificate made once per test run, by the same code as the sample's --https-port
/// certificate: no file, no store, no external tool.
/// </summary>
internal static class TestCertificate
{
    private static readonly Lazy<X509Certificate2> s_localhost = new(() => SelfSignedCertificate.CreateForLocalhost(TimeProvider.System));

    public static X509Certificate2 Localhost => s_localhost.Value;
}
