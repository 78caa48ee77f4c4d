using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;

/// <summary>Accepts exactly one certificate, compared by SHA-256 thumbprint, and records what it saw.</summary>
internal sealed class PinnedCertificateValidation(X509Certificate2 pinned)
{
    private readonly string _thumbprint = pinned.GetCertHashString(HashAlgorithmName.SHA256);
    private int _calls;
    private int _errors;

    public int Calls => Volatile.Read(ref _calls);

    public SslPolicyErrors Errors => (SslPolicyErrors)Volatile.Read(ref _errors);

    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        Interlocked.Increment(ref _calls);
        Interlocked.Or(ref _errors, (int)errors);
        return certificate is not null
            && string.Equals(certificate.GetCertHashString(HashAlgorithmName.SHA256), _thumbprint, StringComparison.OrdinalIgnoreCase);
    }
}
