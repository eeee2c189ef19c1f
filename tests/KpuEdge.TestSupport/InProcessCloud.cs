using KpuEdge.Cloud;
using KpuEdge.Cloud.Broker;
using KpuEdge.Cloud.Ingest;
using KpuEdge.Cloud.Recap;
using KpuEdge.Cloud.Security;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Cloud.Transparency;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Edge.Transport;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace KpuEdge.TestSupport;

/// <summary>
/// The real cloud host (Orleans silo, MQTTnet broker on a loopback socket, SQLite ledger, HTTP API) started inside
/// this process on free ports: what `kpu-sim demo`, the benchmark and the end-to-end tests run against.
/// </summary>
public sealed class InProcessCloud : IAsyncDisposable
{
    private readonly WebApplication _app;

    private InProcessCloud(WebApplication app, SimulationPki pki)
    {
        _app = app;
        Pki = pki;
    }

    public CloudOptions Options => _app.Services.GetRequiredService<IOptions<CloudOptions>>().Value;
    /// <summary>The node's way to the device registry (in its ledger: shared by every node of a cluster).</summary>
    public DeviceRegistryProvider Devices => _app.Services.GetRequiredService<DeviceRegistryProvider>();
    public SimulationPki Pki { get; }
    public TransparencyLog Log => _app.Services.GetRequiredService<TransparencyLog>();
    public RecapService Recap => _app.Services.GetRequiredService<RecapService>();
    public IngestStats Stats => _app.Services.GetRequiredService<IngestStats>();
    public IServiceProvider Services => _app.Services;
    public string BrokerHost => Options.BrokerHost;
    public int BrokerPort => Options.BrokerPort;
    public Uri ApiBase { get; private set; } = null!;
    /// <summary>The NSOC wall's address (its own port), e.g. http://127.0.0.1:41234/.</summary>
    public Uri WallBase => new(Services.GetRequiredService<IOptions<KpuEdge.Nsoc.NsocOptions>>().Value.WallUrl.TrimEnd('/') + "/");

    /// <summary>The NSOC operator's bearer token (for the security events), read from its file as an operator would.</summary>
    public string OperatorToken => File.ReadAllText(Options.OperatorTokenFile).Trim();

    /// <param name="dataDirectory">Holds the ledger (with the device registry); reuse it to restart on the same ledger.</param>
    /// <param name="pki">KPU's PKI; pass the same one to restart on the same ledger (a new one is made when null).</param>
    public static async Task<InProcessCloud> StartAsync(
        string dataDirectory, RegionTree tree, ElectionDefinition election, LogLevel logLevel = LogLevel.Warning,
        Action<CloudOptions>? configure = null, SimulationPki? pki = null, CloudPki? cloudPki = null, CancellationToken cancellationToken = default,
        Action<KpuEdge.Nsoc.NsocOptions>? nsoc = null)
    {
        Directory.CreateDirectory(dataDirectory);
        pki ??= SimulationPki.Create(election);
        var app = CloudHost.Build([], options =>
        {
            options.BrokerPort = 0;
            options.SiloPort = 0;
            options.GatewayPort = 0;
            options.HttpUrl = "http://127.0.0.1:0";
            options.LedgerPath = Path.Combine(dataDirectory, "ledger.db");
            options.RegistryPath = Path.Combine(dataDirectory, "devices.json");
            options.CrlPath = Path.Combine(dataDirectory, "crl.der");
            options.ImageDirectory = Path.Combine(dataDirectory, "images");
            options.PublicDirectory = Path.Combine(dataDirectory, "public");
            options.PublicTreeInterval = TimeSpan.Zero; // built when a test asks (BuildPublicTreeAsync), never behind its back
            // Every simulated device connects from this machine's one address: the per-address bounds, meant for one
            // prober among many real devices, would refuse the crowd. The totals still hold.
            // And they share its two cores with the cloud: a thousand handshakes at once over an emulated satellite link
            // take longer here than any real device's would, so the handshake and CONNECT get a minute.
            options.BrokerLimits = options.BrokerLimits with
            {
                MaxPendingHandshakesPerSource = options.BrokerLimits.MaxPendingHandshakes,
                MaxConnectionsPerSource = options.BrokerLimits.MaxConnections,
                HandshakeTimeout = TimeSpan.FromMinutes(1),
                ConnectTimeout = TimeSpan.FromMinutes(1),
            };
            options.OperatorTokenFile = Path.Combine(dataDirectory, "operator-token");
            configure?.Invoke(options);
        }, new CloudOverrides
        {
            Tree = tree,
            Election = election,
            Pki = cloudPki ?? pki.Cloud,
            // The wall on a free port of its own; no InfluxDB unless the caller starts one (LocalInflux) and says where.
            Nsoc = o =>
            {
                o.WallUrl = "http://127.0.0.1:0";
                nsoc?.Invoke(o);
            },
            Logging = logging =>
            {
                logging.ClearProviders();
                logging.AddSimpleConsole(o => o.SingleLine = true);
                logging.SetMinimumLevel(logLevel);
                // A lone silo that stops finds no silo to migrate its activations to and says so at Error level:
                // expected here, and noise in a quiet run.
                // So do the region grains' last reports, which find no silo to place their parents on while it stops.
                if (logLevel >= LogLevel.Error)
                    foreach (var category in (string[])["Orleans.Grain", "Orleans.Messaging", "Polly"]) logging.AddFilter(category, LogLevel.Critical);
                // Runs after the appsettings rules are bound, so the caller's level wins over them.
                logging.Services.Configure<LoggerFilterOptions>(o => o.Rules.Clear());
            },
        });
        var cloud = new InProcessCloud(app, pki);
        await app.StartAsync(cancellationToken);
        var wallPort = new Uri(cloud.Services.GetRequiredService<IOptions<KpuEdge.Nsoc.NsocOptions>>().Value.WallUrl is { Length: > 0 } w ? w : "http://x:1").Port;
        cloud.ApiBase = new Uri(app.Urls.First(u => new Uri(u).Port != wallPort));
        await app.Services.GetRequiredService<IngestService>().Ready.WaitAsync(cancellationToken);
        return cloud;
    }

    /// <summary>
    /// Registers a device's signing certificate in the cloud's registry (its ledger), checked against KPU's CA; returns
    /// once it is stored. Throws <see cref="InvalidDataException"/> for a certificate the cloud refuses.
    /// </summary>
    public void Register(DeviceCredentials device) =>
        Task.Run(() => Devices.RegisterCertifiedAsync(device.SigningCertificate)).GetAwaiter().GetResult();

    /// <summary>Registers many devices at once (a transaction per thousands), as <see cref="Register"/> does one.</summary>
    public Task RegisterAsync(IEnumerable<DeviceCredentials> devices, CancellationToken cancellationToken = default) =>
        RegisterAsync(devices.Select(d => d.SigningCertificate), cancellationToken);

    public Task RegisterAsync(IEnumerable<KpuCertificate> signingCertificates, CancellationToken cancellationToken = default) =>
        Devices.RegisterCertifiedAsync(signingCertificates.ToList(), cancellationToken);

    /// <summary>
    /// Stops the embedded broker and starts a fresh one on the same port while the rest of the host keeps running, as
    /// when the broker process restarts: every connection drops and its session is gone; the ingest and devices reconnect.
    /// </summary>
    public async Task RestartBrokerAsync(CancellationToken cancellationToken = default)
    {
        var broker = _app.Services.GetRequiredService<EmbeddedBroker>();
        await broker.StopAsync(cancellationToken);
        await broker.StartAsync(cancellationToken);
    }

    /// <summary>Signs a checkpoint of the whole log and brings the public tree up to it.</summary>
    public async Task<KpuEdge.Cloud.Public.PublicTreeBuild?> BuildPublicTreeAsync()
    {
        await Log.PublishFreshAsync();
        return await Services.GetRequiredService<KpuEdge.Cloud.Public.PublicTreeMonitor>().BuildAsync();
    }

    /// <summary>How a device reaches this cloud's broker: TLS with its own certificate, receipts checked with the log key.</summary>
    public BrokerConnection ConnectionFor(DeviceCredentials device) => BrokerConnection.For(device, BrokerHost, BrokerPort, Pki.LogKey);

    /// <summary>Stops the node; again is nothing (a node stopped by hand may still be in an <c>await using</c>).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private int _disposed;
}
