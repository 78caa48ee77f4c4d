namespace WebApp;

/// <summary>
/// Builds the sample: the TechEmpower endpoints, bulk-data endpoints, a WebSocket chat room with its page, and
/// optionally a Unix domain socket, an h2c port, an HTTPS port and two raw TCP servers (echo and line chat), all
/// on the transport chosen with <c>--transport</c>. The command line and in-process tests build it the same way.
/// </summary>
public static class SampleApp
{
    /// <summary>
    /// Parses <paramref name="args"/> exactly like the command line and returns the built, not yet started, app.
    /// </summary>
    /// <param name="args">Command-line arguments, e.g. <c>["--transport", "select", "--echo-port", "0"]</c>.</param>
    /// <param name="configure">
    /// Runs on the builder before the options are read, so configuration it adds counts like command-line
    /// arguments, and services or logging it adds are in the built app.
    /// </param>
    /// <exception cref="SampleOptionException">An option is invalid; the message names it and the fix.</exception>
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(args);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = SampleArguments.Normalize(args),
            // The output folder, so appsettings.json (and its quiet log levels) is found however the app is
            // started: `dotnet run --project ...` from anywhere, `dotnet path/to/WebApp.dll`, or a test host.
            ContentRootPath = AppContext.BaseDirectory,
            ApplicationName = typeof(SampleApp).Assembly.GetName().Name,
        });
        configure?.Invoke(builder);

        var options = SampleOptions.Read(builder.Configuration);
        options.Transport.Apply(builder.WebHost, options);

        // The URLs are bound in code with the other endpoints (see SampleListeners); hosting must not hand them
        // to Kestrel a second time. An empty value would not do: hosting then falls back to the URLs it read when
        // the builder was created. ";" is a non-empty list of no URLs.
        builder.WebHost.UseSetting(WebHostDefaults.ServerUrlsKey, ";");
        builder.WebHost.UseSetting(WebHostDefaults.HttpPortsKey, string.Empty);
        builder.WebHost.UseSetting(WebHostDefaults.HttpsPortsKey, string.Empty);

        var certificate = options.ServesHttps && !options.HasConfiguredCertificate
            ? SelfSignedCertificate.CreateForLocalhost(TimeProvider.System)
            : null;
        var listeners = new SampleListeners(options, certificate);
        builder.WebHost.ConfigureKestrel(listeners.Configure);

        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(listeners);
        builder.Services.AddSingleton<SampleEndpoints>();
        builder.Services.AddSingleton<StartupReport>();
        builder.Services.AddSingleton<LineChatRoom>();
        builder.Services.AddSingleton<WebSocketChatRoom>();
        builder.Services.ConfigureHttpJsonOptions(static json =>
            json.SerializerOptions.TypeInfoResolverChain.Insert(0, AppJsonContext.Default));

        var app = builder.Build();

        if (certificate is not null)
        {
            Log.CertificateGenerated(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(Log.Category),
                certificate.Thumbprint, certificate.NotAfter.ToUniversalTime());
        }

        app.UseWebSockets();
        BenchmarkEndpoints.Map(app);
        ByteStreamEndpoints.Map(app);
        ChatPage.Map(app);

        // Map, not MapGet: WebSockets over HTTP/2 (RFC 8441) arrive as CONNECT requests.
        var chatRoom = app.Services.GetRequiredService<WebSocketChatRoom>();
        app.Map("/ws", chatRoom.HandleAsync);

        var report = app.Services.GetRequiredService<StartupReport>();
        app.Lifetime.ApplicationStarted.Register(report.OnStarted);

        return app;
    }
}
