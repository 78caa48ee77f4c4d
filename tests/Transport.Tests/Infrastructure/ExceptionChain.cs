namespace Reactors.AspNetCore.Server.Kestrel.Transport.Tests.Infrastructure;

internal static class ExceptionChain
{
    /// <summary>The exception and its inner exceptions, outermost first: Kestrel wraps a transport's bind errors.</summary>
    public static IEnumerable<Exception> Of(Exception error)
    {
        for (Exception? e = error; e is not null; e = e.InnerException)
        {
            yield return e;
        }
    }

    /// <summary>Every message of the chain, joined: what a test searches for the transport's own words.</summary>
    public static string Messages(Exception error) => string.Join(" | ", Of(error).Select(e => e.Message));
}
