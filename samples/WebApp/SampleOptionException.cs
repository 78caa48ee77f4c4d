namespace WebApp;

/// <summary>
/// An option of the sample (command line, environment or any other configuration source) has a value it cannot
/// use. The message is one line that names the option and says how to fix it; the command line prints it and
/// exits with code 2.
/// </summary>
public sealed class SampleOptionException : Exception
{
    /// <summary>Creates the exception with a generic message.</summary>
    public SampleOptionException()
        : base("Invalid sample option.")
    {
    }

    /// <summary>Creates the exception with a message that names the option and the fix.</summary>
    public SampleOptionException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message that names the option and the fix, and its cause.</summary>
    public SampleOptionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
