using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace WebApp;

/// <summary>
/// What the configuration (command line, environment, appsettings) asks of the sample, read and checked before
/// anything is bound, so that a typo stops the app with one line naming the option and the fix instead of a stack
/// trace from deep inside Kestrel.
/// </summary>
internal sealed class SampleOptions
{
    public const string UnixSocketKey = "unix-socket";
    public const string HttpsPortKey = "https-port";
    public const string H2cPortKey = "h2c-port";
    public const string EchoPortKey = "echo-port";
    public const string ChatPortKey = "chat-port";
    public const string UnsafePreferInlineSchedulingKey = "unsafe-prefer-inline-scheduling";
    public const string UnixSocketModeKey = "unix-socket-mode";
    public const string ReusePortKey = "reuse-port";
    public const string ReactorCountKey = "reactor-count";
    public const string ReactorSpinMicrosecondsKey = "reactor-spin-microseconds";

    private const string DefaultUrl = "http://127.0.0.1:5000";

    // ReactorTransportOptions.ReactorCount's and ReactorSpinDuration's own bounds.
    private const int MaxReactorCount = 1024;
    private const int MaxReactorSpinMicroseconds = 1000;

    /// <summary>The switches that take no value: given bare, they mean true (<see cref="SampleArguments"/>).</summary>
    public static readonly IReadOnlyList<string> BooleanKeys = [UnsafePreferInlineSchedulingKey, ReusePortKey];

    /// <summary>The sample's switches that need a value (<see cref="SampleArguments"/> stops the app when it is missing).</summary>
    public static readonly IReadOnlyList<string> ValueKeys =
    [
        TransportChoice.ConfigurationKey, WebHostDefaults.ServerUrlsKey, UnixSocketKey, UnixSocketModeKey, HttpsPortKey, H2cPortKey,
        EchoPortKey, ChatPortKey, ReactorCountKey, ReactorSpinMicrosecondsKey,
    ];

    private SampleOptions(
        TransportChoice transport,
        IReadOnlyList<BindingAddress> httpAddresses,
        string? unixSocketPath,
        int? h2cPort,
        int? httpsPort,
        int? echoPort,
        int? chatPort,
        bool unsafePreferInlineScheduling,
        UnixFileMode? unixSocketMode,
        bool reusePort,
        int? reactorCount,
        TimeSpan? reactorSpinDuration,
        bool hasConfiguredCertificate,
        bool activatedBySystemd)
    {
        Transport = transport;
        HttpAddresses = httpAddresses;
        UnixSocketPath = unixSocketPath;
        H2cPort = h2cPort;
        HttpsPort = httpsPort;
        EchoPort = echoPort;
        ChatPort = chatPort;
        UnsafePreferInlineScheduling = unsafePreferInlineScheduling;
        UnixSocketMode = unixSocketMode;
        ReusePort = reusePort;
        ReactorCount = reactorCount;
        ReactorSpinDuration = reactorSpinDuration;
        HasConfiguredCertificate = hasConfiguredCertificate;
        ActivatedBySystemd = activatedBySystemd;
    }

    public TransportChoice Transport { get; }

    /// <summary>
    /// The addresses of <c>urls</c> (or <c>http_ports</c>/<c>https_ports</c>, or the default). The sample binds
    /// them itself, next to its other endpoints, because Kestrel drops configured URLs (with a warning) as soon
    /// as any endpoint is bound in code.
    /// </summary>
    public IReadOnlyList<BindingAddress> HttpAddresses { get; }

    public string? UnixSocketPath { get; }

    public int? H2cPort { get; }

    public int? HttpsPort { get; }

    public int? EchoPort { get; }

    public int? ChatPort { get; }

    /// <summary>
    /// <c>--unsafe-prefer-inline-scheduling</c>: the transport's <c>UnsafePreferInlineScheduling</c> (the reactor
    /// transports' options, or Kestrel's <c>SocketTransportOptions</c>), so benchmarks can compare both schedulings.
    /// </summary>
    public bool UnsafePreferInlineScheduling { get; }

    /// <summary>
    /// <c>--unix-socket-mode 660</c>: the reactor transports' <c>UnixSocketFileMode</c> for every Unix socket they
    /// create (<c>--unix-socket</c>, <c>--urls http://unix:...</c>), e.g. for an nginx worker running as another user.
    /// </summary>
    public UnixFileMode? UnixSocketMode { get; }

    /// <summary><c>--reuse-port</c>: the reactor transports' <c>ReusePort</c> (SO_REUSEPORT), to run several processes on one port.</summary>
    public bool ReusePort { get; }

    /// <summary>
    /// <c>--reactor-count 4</c>: the reactor transports' <c>ReactorCount</c>; not given keeps the transport's default.
    /// For benchmarks that compare how many reactors share the connections.
    /// </summary>
    public int? ReactorCount { get; }

    /// <summary>
    /// <c>--reactor-spin-microseconds 0</c>: the reactor transports' <c>ReactorSpinDuration</c>; not given keeps the
    /// transport's default. For benchmarks that compare reactors that poll before they block with ones that do not.
    /// </summary>
    public TimeSpan? ReactorSpinDuration { get; }

    /// <summary>True when <c>Kestrel:Certificates:Default</c> names a certificate, which then replaces the generated one.</summary>
    public bool HasConfiguredCertificate { get; }

    /// <summary>
    /// True when systemd (or <c>systemd-socket-activate</c>) passed this process listening sockets: they are served
    /// as HTTP/1.1 endpoints, and replace the default URL unless URLs are configured as well.
    /// </summary>
    public bool ActivatedBySystemd { get; }

    public bool ServesHttps
    {
        get
        {
            if (HttpsPort is not null)
            {
                return true;
            }

            foreach (var address in HttpAddresses)
            {
                if (IsHttps(address))
                {
                    return true;
                }
            }

            return false;
        }
    }

    public static bool IsHttps(BindingAddress address) =>
        string.Equals(address.Scheme, Uri.UriSchemeHttps, StringComparison.OrdinalIgnoreCase);

    /// <exception cref="SampleOptionException">A value is invalid; the message names the option and the fix.</exception>
    public static SampleOptions Read(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);

        var transportName = configuration[TransportChoice.ConfigurationKey];
        if (!TransportChoice.TryFind(transportName, out var transport))
        {
            throw new SampleOptionException(TransportChoice.UnknownValueMessage(transportName!));
        }

        var h2cPort = ReadPort(configuration, H2cPortKey);
        var httpsPort = ReadPort(configuration, HttpsPortKey);
        var echoPort = ReadPort(configuration, EchoPortKey);
        var chatPort = ReadPort(configuration, ChatPortKey);
        RejectSharedPorts([(H2cPortKey, h2cPort), (HttpsPortKey, httpsPort), (EchoPortKey, echoPort), (ChatPortKey, chatPort)]);

        var activatedBySystemd = IsActivatedBySystemd();
        return new SampleOptions(
            transport,
            ReadHttpAddresses(configuration, activatedBySystemd),
            ReadUnixSocketPath(configuration),
            h2cPort,
            httpsPort,
            echoPort,
            chatPort,
            ReadSwitch(configuration, UnsafePreferInlineSchedulingKey),
            ReadReactorOnly(configuration, UnixSocketModeKey, transport, ReadFileMode),
            ReadReactorOnly(configuration, ReusePortKey, transport, static (c, k) => ReadSwitch(c, k)),
            ReadReactorOnly(configuration, ReactorCountKey, transport, ReadReactorCount),
            ReadReactorOnly(configuration, ReactorSpinMicrosecondsKey, transport, ReadReactorSpinDuration),
            configuration.GetSection("Kestrel:Certificates:Default").Exists(),
            activatedBySystemd);
    }

    // sd_listen_fds(3): the sockets are ours only when LISTEN_PID names this process; Kestrel's UseSystemd makes
    // the same check before it listens on them.
    private static bool IsActivatedBySystemd() =>
        Environment.GetEnvironmentVariable("LISTEN_PID") == Environment.ProcessId.ToString(CultureInfo.InvariantCulture)
        && int.TryParse(Environment.GetEnvironmentVariable("LISTEN_FDS"), NumberStyles.None, CultureInfo.InvariantCulture, out var count)
        && count > 0;

    private static int? ReadPort(IConfiguration configuration, string key)
    {
        var value = configuration[key];
        if (value is null)
        {
            return null;
        }

        if (int.TryParse(value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port <= IPEndPoint.MaxPort)
        {
            return port;
        }

        throw new SampleOptionException(
            $"Invalid value '{value}' for --{key}: give a TCP port number from 0 to {IPEndPoint.MaxPort} (0 picks any free port).");
    }

    /// <summary>An option of the reactor transports' own: Kestrel's Sockets transport has no equivalent to set.</summary>
    private static T ReadReactorOnly<T>(IConfiguration configuration, string key, TransportChoice transport, Func<IConfiguration, string, T> read)
    {
        var value = read(configuration, key);
        if (configuration[key] is not null && !transport.IsReactor)
        {
            throw new SampleOptionException(
                $"--{key} applies to the reactor transports (epoll, select, default); Kestrel's {transport.Name} transport has no such option: leave it out or pick another --transport.");
        }

        return value;
    }

    /// <summary>An octal file mode such as 660 or 0666.</summary>
    private static UnixFileMode? ReadFileMode(IConfiguration configuration, string key)
    {
        var value = configuration[key];
        if (value is null)
        {
            return null;
        }

        var digits = value.Trim();
        if (digits.Length is >= 3 and <= 5 && digits.All(static c => c is >= '0' and <= '7'))
        {
            var mode = Convert.ToInt32(digits, 8);
            if (mode <= 0xFFF)
            {
                return (UnixFileMode)mode;
            }
        }

        throw new SampleOptionException(
            $"Invalid value '{value}' for --{key}: give an octal file mode such as 660 (owner and group) or 666 (everyone may connect).");
    }

    private static int? ReadReactorCount(IConfiguration configuration, string key)
    {
        var value = configuration[key];
        if (value is null)
        {
            return null;
        }

        if (int.TryParse(value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var count) && count is >= 1 and <= MaxReactorCount)
        {
            return count;
        }

        throw new SampleOptionException(
            $"Invalid value '{value}' for --{key}: give a number of reactor threads from 1 to {MaxReactorCount}, or leave it out for the transport's default.");
    }

    private static TimeSpan? ReadReactorSpinDuration(IConfiguration configuration, string key)
    {
        var value = configuration[key];
        if (value is null)
        {
            return null;
        }

        if (int.TryParse(value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var microseconds) && microseconds <= MaxReactorSpinMicroseconds)
        {
            return TimeSpan.FromMicroseconds(microseconds);
        }

        throw new SampleOptionException(
            $"Invalid value '{value}' for --{key}: give how long a reactor polls before it blocks, in microseconds from 0 (never) to {MaxReactorSpinMicroseconds}, or leave it out for the transport's default.");
    }

    /// <summary>A true/false switch; not given is false.</summary>
    private static bool ReadSwitch(IConfiguration configuration, string key)
    {
        var value = configuration[key];
        if (value is null)
        {
            return false;
        }

        if (bool.TryParse(value.Trim(), out var on))
        {
            return on;
        }

        throw new SampleOptionException($"Invalid value '{value}' for --{key}: give true or false (default: false).");
    }

    /// <summary>Two switches on one fixed loopback port would fail later as "address in use", less clearly.</summary>
    private static void RejectSharedPorts((string Key, int? Port)[] ports)
    {
        for (var i = 0; i < ports.Length; i++)
        {
            for (var j = i + 1; j < ports.Length; j++)
            {
                if (ports[i].Port is > 0 && ports[i].Port == ports[j].Port)
                {
                    throw new SampleOptionException(
                        $"--{ports[i].Key} and --{ports[j].Key} are both {ports[i].Port}: give them different ports (or 0 for any free port).");
                }
            }
        }
    }

    private static List<BindingAddress> ReadHttpAddresses(IConfiguration configuration, bool activatedBySystemd)
    {
        // The same sources, in the same order of precedence, as ASP.NET Core's own hosting layer.
        var urls = configuration[WebHostDefaults.ServerUrlsKey];
        if (!string.IsNullOrWhiteSpace(urls))
        {
            return ParseUrls(urls, $"--{WebHostDefaults.ServerUrlsKey} (or ASPNETCORE_URLS)");
        }

        var addresses = new List<BindingAddress>();
        AddPorts(addresses, configuration, WebHostDefaults.HttpPortsKey, Uri.UriSchemeHttp);
        AddPorts(addresses, configuration, WebHostDefaults.HttpsPortsKey, Uri.UriSchemeHttps);
        if (addresses.Count > 0)
        {
            return addresses;
        }

        // Endpoints in Kestrel's own configuration section, or sockets from systemd, replace the default.
        return activatedBySystemd || configuration.GetSection("Kestrel:Endpoints").GetChildren().Any()
            ? []
            : [BindingAddress.Parse(DefaultUrl)];
    }

    private static List<BindingAddress> ParseUrls(string urls, string optionName)
    {
        var addresses = new List<BindingAddress>();
        foreach (var url in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            BindingAddress address;
            try
            {
                address = BindingAddress.Parse(url);
            }
            catch (FormatException e)
            {
                throw new SampleOptionException(
                    $"Invalid URL '{url}' in {optionName}: write it like http://127.0.0.1:5000 or http://unix:/path/to.sock ({e.Message}).", e);
            }

            addresses.Add(Validate(address, url, optionName));
        }

        return addresses;
    }

    private static BindingAddress Validate(BindingAddress address, string url, string optionName)
    {
        if (!string.Equals(address.Scheme, Uri.UriSchemeHttp, StringComparison.OrdinalIgnoreCase) && !IsHttps(address))
        {
            throw new SampleOptionException(
                $"Invalid URL '{url}' in {optionName}: the scheme must be http or https, e.g. http://127.0.0.1:5000.");
        }

        if (address.IsNamedPipe)
        {
            throw new SampleOptionException(
                $"Invalid URL '{url}' in {optionName}: this sample does not serve named pipes; use an IP address or http://unix:/path/to.sock.");
        }

        if (!string.IsNullOrEmpty(address.PathBase) && address.PathBase != "/")
        {
            throw new SampleOptionException(
                $"Invalid URL '{url}' in {optionName}: a path is not supported; give only scheme://host:port.");
        }

        if (!address.IsUnixPipe && address.Port is < 0 or > IPEndPoint.MaxPort)
        {
            throw new SampleOptionException(
                $"Invalid URL '{url}' in {optionName}: the port must be from 0 to {IPEndPoint.MaxPort}.");
        }

        // localhost is two sockets (127.0.0.1 and ::1), which cannot be promised the same free port.
        if (!address.IsUnixPipe && address.Port == 0 && string.Equals(address.Host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            throw new SampleOptionException(
                $"Invalid URL '{url}' in {optionName}: port 0 needs an IP address; use {address.Scheme}://127.0.0.1:0 instead of localhost.");
        }

        return address;
    }

    private static void AddPorts(List<BindingAddress> addresses, IConfiguration configuration, string key, string scheme)
    {
        var ports = configuration[key];
        if (string.IsNullOrWhiteSpace(ports))
        {
            return;
        }

        foreach (var port in ports.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number > IPEndPoint.MaxPort)
            {
                throw new SampleOptionException(
                    $"Invalid port '{port}' in {key} (ASPNETCORE_{key.ToUpperInvariant()}): give TCP port numbers from 0 to {IPEndPoint.MaxPort}, separated by ';'.");
            }

            // Kestrel reads these ports as "any address", like http://*:PORT.
            addresses.Add(BindingAddress.Parse(string.Create(CultureInfo.InvariantCulture, $"{scheme}://*:{number}")));
        }
    }

    private static string? ReadUnixSocketPath(IConfiguration configuration)
    {
        var value = configuration[UnixSocketKey];
        if (value is null)
        {
            return null;
        }

        if (string.IsNullOrWhiteSpace(value))
        {
            throw new SampleOptionException($"--{UnixSocketKey} was given an empty path: give the socket file's path, e.g. /run/webapp/webapp.sock.");
        }

        if (!Socket.OSSupportsUnixDomainSockets)
        {
            throw new SampleOptionException($"--{UnixSocketKey} is not supported on this operating system: leave it out.");
        }

        // Kestrel wants an absolute path; a relative one is taken from the working directory, as a shell user expects.
        var path = Path.GetFullPath(value);
        if (File.Exists(path) || Directory.Exists(path))
        {
            throw new SampleOptionException(
                $"The path '{path}' given to --{UnixSocketKey} already exists: remove it (a stale socket file from an earlier run?) or choose another path.");
        }

        var directory = Path.GetDirectoryName(path);
        if (directory is not null && !Directory.Exists(directory))
        {
            throw new SampleOptionException(
                $"The directory '{directory}' of --{UnixSocketKey} does not exist: create it or choose another path.");
        }

        try
        {
            _ = new UnixDomainSocketEndPoint(path);
        }
        catch (ArgumentException e)
        {
            throw new SampleOptionException(
                $"The path '{path}' given to --{UnixSocketKey} is too long for a Unix domain socket (about 100 bytes at most): choose a shorter path.", e);
        }

        return path;
    }
}
