using System.Net;
using System.Net.Sockets;
using KpuEdge.Cloud.Api;
using KpuEdge.Cloud.Broker;
using KpuEdge.Cloud.Images;
using KpuEdge.Cloud.Ingest;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Cloud.Portal;
using KpuEdge.Cloud.Recap;
using KpuEdge.Cloud.Security;
using KpuEdge.Cloud.Transparency;
using KpuEdge.Crypto.Transparency;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using KpuEdge.Nsoc;
using KpuEdge.Nsoc.Rules;
using KpuEdge.Nsoc.Wall;
using Microsoft.Extensions.Options;

namespace KpuEdge.Cloud;

/// <summary>What an in-process caller (the simulator, tests) may hand the host instead of files.</summary>
public sealed class CloudOverrides
{
    public RegionTree? Tree { get; init; }
    public ElectionDefinition? Election { get; init; }
    public TimeProvider? Time { get; init; }
    /// <summary>The PKI to use instead of <see cref="CloudOptions.PkiDirectory"/> (the in-process demo and tests).</summary>
    public CloudPki? Pki { get; init; }
    public Action<ILoggingBuilder>? Logging { get; init; }
    /// <summary>Changes to the NSOC's settings after configuration is bound.</summary>
    public Action<NsocOptions>? Nsoc { get; init; }
}

/// <summary>
/// One node of the cloud: Orleans silo, embedded MQTT broker, ingest, results ledger and the public API. Alone
/// (localhost clustering, SQLite ledger) it is the whole cloud; with Redis clustering and the PostgreSQL ledger, any
/// number of nodes form one (cloud/README.md). <c>kpu-cloud</c> runs it; the simulator and tests start the same host in process.
/// </summary>
public static class CloudHost
{
    public static WebApplication Build(string[] args, Action<CloudOptions>? configure = null, CloudOverrides? overrides = null)
    {
        overrides ??= new CloudOverrides();
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        var options = new CloudOptions();
        builder.Configuration.GetSection(CloudOptions.Section).Bind(options);
        configure?.Invoke(options);
        ResolvePorts(options);
        if (options.Problems() is { Count: > 0 } problems)
            throw new InvalidOperationException("The cloud's settings do not hold together:\n  " + string.Join("\n  ", problems));
        var nsoc = NsocSettings(builder.Configuration, options, overrides);

        overrides.Logging?.Invoke(builder.Logging);
        builder.WebHost.UseUrls(nsoc.WallUrl.Length > 0 ? $"{options.HttpUrl};{nsoc.WallUrl}" : options.HttpUrl);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // Enforced while reading: a body is cut off at its limit, never buffered whole first (RequestBodyLimits answers).
            // Header timeouts and the minimum request body data rate keep Kestrel's defaults.
            kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            kestrel.Limits.MaxConcurrentConnections = options.MaxHttpConnections;
        });
        builder.UseOrleans(silo =>
        {
            if (options.Clustering == ClusteringMode.Redis)
            {
                silo.UseRedisClustering(options.RedisConnection!);
                silo.Configure<Orleans.Configuration.ClusterOptions>(c => (c.ClusterId, c.ServiceId) = (options.ClusterId, "kpu-edge"));
                silo.ConfigureEndpoints(IPAddress.Parse(options.AdvertisedAddress), options.SiloPort, options.GatewayPort, listenOnAnyHostAddress: false);
            }
            else
            {
                silo.UseLocalhostClustering(options.SiloPort, options.GatewayPort, serviceId: "kpu-edge", clusterId: $"kpu-{options.SiloPort}");
            }
            // A region grain activates by rebuilding from the ledger; on a cold node the nation's cascade (every desa
            // reading its forms) outlasts Orleans' 30 s activation timeout with a whole election in the ledger.
            silo.Configure<Orleans.Configuration.GrainCollectionOptions>(c => c.ActivationTimeout = TimeSpan.FromMinutes(10));
        });

        var services = builder.Services;
        services.AddSingleton(Options.Create(options));
        services.AddSingleton(overrides.Time ?? TimeProvider.System);
        services.AddSingleton(overrides.Tree ?? RegionTree.LoadEmbedded());
        services.AddSingleton(overrides.Election ?? (options.ElectionPath is { Length: > 0 } path ? ElectionDefinition.Load(path) : ElectionDefinition.Default));
        services.AddSingleton(sp => overrides.Pki ?? CloudPki.LoadDirectory(options.PkiDirectory,
            LogOrigin(options, sp.GetRequiredService<ElectionDefinition>())));
        services.AddSingleton(sp => sp.GetRequiredService<CloudPki>().LogKey);
        services.AddSingleton<DeviceRegistryProvider>();
        services.AddSingleton<IResultsLedger>(_ => options.Ledger switch
        {
            LedgerKind.Postgres => PostgresLedger.Open(options.PostgresConnection!),
            _ => new SqliteLedger(options.LedgerPath),
        });
        // Each part asks for the narrow side of the ledger it uses.
        services.AddSingleton<ILedgerWriter>(sp => sp.GetRequiredService<IResultsLedger>());
        services.AddSingleton<IFormReader>(sp => sp.GetRequiredService<IResultsLedger>());
        services.AddSingleton<IDeviceChains>(sp => sp.GetRequiredService<IResultsLedger>());
        services.AddSingleton<IPpkRecord>(sp => sp.GetRequiredService<IResultsLedger>());
        services.AddSingleton<ILogStore>(sp => sp.GetRequiredService<IResultsLedger>());
        services.AddSingleton<IAuditTrail>(sp => sp.GetRequiredService<IResultsLedger>());
        services.AddSingleton<IImageIndex>(sp => sp.GetRequiredService<IResultsLedger>());
        services.AddSingleton<IDeviceDirectory>(sp => sp.GetRequiredService<IResultsLedger>());
        services.AddSingleton<IRevocationLists>(sp => sp.GetRequiredService<IResultsLedger>());
        services.AddSingleton<TransparencyLog>();
        services.AddSingleton<LedgerWriter>();
        services.AddHostedService<CheckpointPublisher>();
        services.AddSingleton<SecurityEventRecorder>();
        services.AddHostedService(sp => sp.GetRequiredService<SecurityEventRecorder>());
        services.AddSingleton<RevocationService>();
        services.AddHostedService<CrlFollower>();
        services.AddSingleton<ChainGapMonitor>();
        services.AddHostedService(sp => sp.GetRequiredService<ChainGapMonitor>());
        services.AddSingleton<RecapContext>();
        services.AddSingleton<KpuEdge.Cloud.Public.PublicTreeBuilder>();
        services.AddSingleton<KpuEdge.Cloud.Public.PublicTreeMonitor>();
        services.AddSingleton<KpuEdge.Cloud.Public.PublicTreeReader>();
        services.AddSingleton<KpuEdge.Cloud.Public.PublicFileCache>();
        services.AddHostedService(sp => sp.GetRequiredService<KpuEdge.Cloud.Public.PublicTreeMonitor>());
        services.AddSingleton<RecapService>();
        services.AddSingleton<SubmissionChecker>();
        services.AddSingleton<IngestStats>();
        services.AddSingleton(new BrokerEndpoint(options.BrokerHost, options.BrokerPort));
        if (options.EmbeddedBroker)
        {
            services.AddSingleton<EmbeddedBroker>();
            services.AddHostedService(sp => sp.GetRequiredService<EmbeddedBroker>());
        }
        services.AddSingleton(sp => OperatorToken.LoadOrCreate(options.OperatorTokenFile, sp.GetRequiredService<ILogger<OperatorToken>>()));
        services.AddSingleton<CrlUploadSlots>();
        services.AddSingleton<ImageReceiver>();
        services.AddSingleton<ImageIngest>();
        services.AddSingleton<KpuEdge.Cloud.Ppk.PpkStatementChecker>();
        services.AddSingleton<KpuEdge.Cloud.Ppk.PpkIngest>();
        services.AddSingleton<IngestService>();
        services.AddHostedService(sp => sp.GetRequiredService<IngestService>());
        services.AddNsoc(nsoc);
        services.AddSingleton<TelemetryIngest>();
        services.AddHostedService(sp => sp.GetRequiredService<TelemetryIngest>());
        services.AddSingleton<INsocSources, CloudNsocSources>();

        var app = builder.Build();
        app.Services.GetRequiredService<OperatorToken>(); // made (or read) at start, not at the first operator's request
        if (nsoc.WallUrl.Length > 0) app.MapWall(new Uri(nsoc.WallUrl).Port);
        app.UseRequestBodyLimits();
        app.MapResultsApi();
        app.MapLogApi();
        app.MapPpkApi();
        app.MapTrustApi();
        app.MapImageApi();
        app.MapPublicTree();
        app.MapPortal();
        app.MapGet("/api", () => "KpuEdge cloud: GET /api/v1/results/{contest}/{region}, /api/v1/status, /api/v1/log/checkpoint (docs/verification.md); the public tree under /pemilu/ and /wilayah/; the portal at /");
        return app;
    }

    public static string LogOrigin(CloudOptions options, ElectionDefinition election) =>
        options.LogOrigin is { Length: > 0 } origin ? origin : Checkpoint.DefaultOrigin(election.ElectionId);

    /// <summary>
    /// The NSOC's settings (section <c>Nsoc</c>): its store and first password beside the ledger and operator token unless
    /// set, on the ledger's PostgreSQL in a cluster, and a free port for the wall when asked for port 0.
    /// </summary>
    private static NsocOptions NsocSettings(IConfiguration configuration, CloudOptions cloud, CloudOverrides overrides)
    {
        var nsoc = new NsocOptions();
        var section = configuration.GetSection(NsocOptions.Section);
        section.Bind(nsoc);
        if (section["StorePath"] is null) nsoc.StorePath = Path.Combine(Path.GetDirectoryName(cloud.LedgerPath) ?? ".", "nsoc.db");
        if (section["AdminPasswordFile"] is null) nsoc.AdminPasswordFile = Path.Combine(Path.GetDirectoryName(cloud.OperatorTokenFile) ?? ".", "nsoc-admin-password");
        if (section["PostgresConnection"] is null && cloud.Ledger == LedgerKind.Postgres) nsoc.PostgresConnection = cloud.PostgresConnection;
        overrides.Nsoc?.Invoke(nsoc);
        if (nsoc.WallUrl.Length > 0 && Uri.TryCreate(nsoc.WallUrl, UriKind.Absolute, out var wall) && wall.Port == 0)
            nsoc.WallUrl = new UriBuilder(wall) { Port = FreePort() }.Uri.ToString().TrimEnd('/');
        return nsoc;
    }

    /// <summary>Replaces port 0 with a free port, for the broker and the silo (Kestrel resolves its own).</summary>
    private static void ResolvePorts(CloudOptions options)
    {
        if (options.EmbeddedBroker && options.BrokerPort == 0) options.BrokerPort = FreePort();
        if (options.SiloPort == 0) options.SiloPort = FreePort();
        if (options.GatewayPort == 0) options.GatewayPort = FreePort();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
