using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace WebApp;

/// <summary>
/// A throw-away TLS certificate for <c>--https-port</c>, made in memory at start-up so the sample needs no
/// external tool, no dev-certs and no files. Clients must skip verification (<c>curl -k</c>) or trust it explicitly.
/// </summary>
internal static class SelfSignedCertificate
{
    private const string ServerAuthenticationOid = "1.3.6.1.5.5.7.3.1";

    public static X509Certificate2 CreateForLocalhost(TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);

        // P-256 because its key is generated in about a millisecond, where RSA 2048 takes tens of milliseconds
        // at every start; every TLS client in use accepts it.
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);

        // Clients match the host they dialled against the SAN, not the CN, so every loopback spelling goes in.
        var subjectAlternativeNames = new SubjectAlternativeNameBuilder();
        subjectAlternativeNames.AddDnsName("localhost");
        subjectAlternativeNames.AddIpAddress(IPAddress.Loopback);
        subjectAlternativeNames.AddIpAddress(IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(subjectAlternativeNames.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(ServerAuthenticationOid)], critical: false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));

        // A day of slack for clients whose clock is behind; a year is far longer than any run of the sample.
        var now = timeProvider.GetUtcNow();
        using var ephemeral = request.CreateSelfSigned(now.AddDays(-1), now.AddYears(1));

        // CreateSelfSigned leaves the private key ephemeral, which some platform TLS stacks (SChannel, and
        // OpenSSL in some configurations) refuse for a server; a PKCS#12 round trip gives a normally loaded key.
        return X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), password: null);
    }
}
