namespace WebApp;

/// <summary>
/// The sample's command line, made unambiguous before .NET's command-line configuration reads it. That reader takes
/// whatever follows a switch as its value: it silently drops a last switch with nothing after it (<c>--reuse-port</c>
/// at the end started the app without port sharing) and swallows the next switch as the value of one given bare
/// (<c>--reuse-port --transport epoll</c> lost the transport). Here a boolean switch given bare means true, wherever
/// it stands, and any other switch given without its value (the sample's or the host's) stops the app with a message
/// naming it.
/// </summary>
internal static class SampleArguments
{
    /// <exception cref="SampleOptionException">A switch that needs a value has none.</exception>
    public static string[] Normalize(string[] args)
    {
        var normalized = new List<string>(args.Length + 2);
        for (var i = 0; i < args.Length; i++)
        {
            normalized.Add(args[i]);
            if (BareSwitchName(args[i]) is not { } name)
            {
                continue;
            }

            var next = i + 1 < args.Length ? args[i + 1] : null;
            if (Find(SampleOptions.BooleanKeys, name) is not null)
            {
                // true/false, or a word the option reader rejects naming the switch; another switch is no value.
                if (next is null || next.StartsWith('-') || next.StartsWith('/'))
                {
                    normalized.Add("true");
                    continue;
                }
            }
            else if (next is null || next.StartsWith("--", StringComparison.Ordinal))
            {
                // The sample's own value switches, and the host's (--environment, --Logging:LogLevel:Default ...),
                // which all take a value: left to the reader, one at the end would be dropped and one before another
                // switch would swallow it.
                var key = Find(SampleOptions.ValueKeys, name) ?? name;
                throw new SampleOptionException($"--{key} needs a value (e.g. --{key} {Example(key)}); it was given none.");
            }

            // The value: never read as a switch itself (a Unix socket path starts with '/').
            normalized.Add(next);
            i++;
        }

        return [.. normalized];
    }

    /// <summary>The key of a <c>--key</c> or <c>/key</c> argument without <c>=value</c>; null for anything else.</summary>
    private static string? BareSwitchName(string arg)
    {
        var key = arg.StartsWith("--", StringComparison.Ordinal) ? arg[2..]
            : arg.StartsWith('/') ? arg[1..]
            : null;
        return string.IsNullOrEmpty(key) || key.Contains('=') ? null : key;
    }

    /// <summary>The key of <paramref name="keys"/> that <paramref name="name"/> spells, in any case (configuration keys are case-insensitive).</summary>
    private static string? Find(IReadOnlyList<string> keys, string name)
    {
        foreach (var key in keys)
        {
            if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase))
            {
                return key;
            }
        }

        return null;
    }

    private static string Example(string key) => key switch
    {
        TransportChoice.ConfigurationKey => "epoll",
        "urls" => "http://127.0.0.1:5000",
        SampleOptions.UnixSocketKey => "/tmp/webapp.sock",
        SampleOptions.UnixSocketModeKey => "660",
        SampleOptions.ReactorCountKey => "2",
        SampleOptions.ReactorSpinMicrosecondsKey => "50",
        SampleOptions.HttpsPortKey or SampleOptions.H2cPortKey or SampleOptions.EchoPortKey or SampleOptions.ChatPortKey => "0",
        _ => "VALUE",
    };
}
