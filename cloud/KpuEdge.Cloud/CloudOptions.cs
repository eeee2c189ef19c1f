namespace KpuEdge.Cloud;

/// <summary>Configuration of the cloud host (section "Cloud" of appsettings, or command-line overrides).</summary>
public sealed class CloudOptions
{
    public const string Section = "Cloud";

    /// <summary>Run the embedded MQTTnet broker; when false, ingest connects to <see cref="BrokerHost"/> (e.g. mosquitto).</summary>
    public bool EmbeddedBroker { get; set; } = true;
    public string BrokerHost { get; set; } = "127.0.0.1";
    /// <summary>MQTT over TLS port (client certificates required); 0 picks a free port (tests, the in-process demo).</summary>
    public int BrokerPort { get; set; } = 8883;
    /// <summary>Host name devices and the ingest expect in the broker's certificate.</summary>
    public string BrokerTlsName { get; set; } = "localhost";
    /// <summary>
    /// The embedded broker's bounds: handshake and CONNECT timeouts, connections in all and per source address,
    /// packet sizes, keep-alive, publish quotas per device and station (KpuEdge.Broker's <c>BrokerLimits</c>; set as
    /// <c>Cloud:BrokerLimits:HandshakeTimeout</c> and so on).
    /// </summary>
    public KpuEdge.Broker.BrokerLimits BrokerLimits { get; set; } = new();
    /// <summary>Messages the embedded broker queues per client before dropping the oldest (MQTTnet's default is 1,000).</summary>
    public int BrokerMaxPendingPerClient { get; set; } = 250_000;

    /// <summary>HTTP address of the public API; port 0 picks a free port.</summary>
    public string HttpUrl { get; set; } = "http://127.0.0.1:8080";

    /// <summary>SQLite results ledger (the durable source of truth for accepted forms).</summary>
    public string LedgerPath { get; set; } = "data/ledger.db";
    /// <summary>Where form page images are stored, in a folder per TPS (see Images/ImageReceiver).</summary>
    public string ImageDirectory { get; set; } = "data/images";
    /// <summary>The public tree (Sirekap's static JSON layout, cloud/README.md "Public tree"); shared by the nodes of a cluster.</summary>
    public string PublicDirectory { get; set; } = "data/public";
    /// <summary>How often the public tree is brought up to the newest checkpoint; zero or less: never (it is built on demand).</summary>
    public TimeSpan PublicTreeInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How much of the public tree a node holds in memory to serve it (bytes, LRU); the files stay the truth.</summary>
    public long PublicCacheBytes { get; set; } = 256L << 20;

    /// <summary>
    /// A device registry file (JSON) written by provisioning or the simulator, imported into the ledger's registry at start
    /// and again when it changes; the registry itself lives in the ledger's database.
    /// </summary>
    public string RegistryPath { get; set; } = "data/devices.json";
    /// <summary>Registered devices a node keeps in memory (the rest are read from the ledger's database when they send).</summary>
    public int DeviceCacheCapacity { get; set; } = 200_000;
    /// <summary>How long a node remembers that the registry does not hold a device id (one database read per id and period).</summary>
    public TimeSpan UnknownDeviceTtl { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>The cloud's PKI files (root.crt, issuing.crt, broker/ingest certificates and keys, log.key); see cloud/README.md.</summary>
    public string PkiDirectory { get; set; } = "data/pki";
    /// <summary>
    /// A revocation list file installed at start if it is there (where a node kept its newest list before the ledger's
    /// database did); installed lists live in the ledger's database, shared by every node.
    /// </summary>
    public string CrlPath { get; set; } = "data/crl.der";
    /// <summary>How often a node asks the ledger's database for a revocation list newer than its own (installed on another node).</summary>
    public TimeSpan CrlPollInterval { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>The transparency log's origin line; empty for "kpu.go.id/kpuedge/&lt;election id&gt;".</summary>
    public string? LogOrigin { get; set; }
    /// <summary>How often the newest signed checkpoint is published (persisted) when the log grew.</summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>How long a hole in a device's chain may stay open (forms in flight) before it is reported as a gap.</summary>
    public TimeSpan ChainGapGrace { get; set; } = TimeSpan.FromMinutes(5);
    /// <summary>Election definition (JSON); empty for the built-in Pemilu 2024 default.</summary>
    public string? ElectionPath { get; set; }

    /// <summary>How often region grains push their totals upward.</summary>
    public TimeSpan RecapFlushInterval { get; set; } = TimeSpan.FromMilliseconds(250);
    /// <summary>Largest submission payload accepted, in bytes.</summary>
    public int MaxPayloadBytes { get; set; } = Crypto.SubmissionCodec.MaxWireBytes;
    /// <summary>Most submissions written to the ledger in one transaction (group commit).</summary>
    public int LedgerBatchSize { get; set; } = 1024;

    /// <summary>How far beyond a device's newest accepted sequence number a form may be numbered (chain_jump beyond).</summary>
    public ulong MaxSequenceJump { get; set; } = Ingest.DeviceChain.DefaultMaxJump;
    /// <summary>Accepted versions (the original and its corrections) a device may have of one TPS and contest's form.</summary>
    public int MaxVersionsPerForm { get; set; } = 16;
    /// <summary>How far a form's device time may lie ahead of the cloud's clock (device_time_out_of_range beyond).</summary>
    public TimeSpan MaxDeviceClockAhead { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Orleans silo and gateway ports; 0 picks free ports.</summary>
    public int SiloPort { get; set; } = 11111;
    public int GatewayPort { get; set; } = 30000;

    // ---- One node or a cluster (cloud/README.md "Cluster") ----

    /// <summary>How silos find each other: <see cref="ClusteringMode.Localhost"/> (one node) or <see cref="ClusteringMode.Redis"/>.</summary>
    public ClusteringMode Clustering { get; set; } = ClusteringMode.Localhost;
    /// <summary>Redis for the cluster's membership (StackExchange.Redis form, e.g. "127.0.0.1:6379"); required with Redis clustering.</summary>
    public string? RedisConnection { get; set; }
    /// <summary>The cluster's id: nodes with the same id in the same Redis form one cluster.</summary>
    public string ClusterId { get; set; } = "kpu-edge";
    /// <summary>The address other silos reach this one at (Redis clustering).</summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1";
    /// <summary>This node's name in logs, the status API and the benchmark; empty for "node-&lt;silo port&gt;".</summary>
    public string? NodeName { get; set; }

    /// <summary>Where the ledger lives: <see cref="LedgerKind.Sqlite"/> (<see cref="LedgerPath"/>, one node) or <see cref="LedgerKind.Postgres"/>.</summary>
    public LedgerKind Ledger { get; set; } = LedgerKind.Sqlite;
    /// <summary>PostgreSQL ledger (Npgsql form: "Host=…;Port=…;Database=…;Username=…"); required with the PostgreSQL ledger.</summary>
    public string? PostgresConnection { get; set; }

    /// <summary>The settings that must agree, checked at start: a node that would run half-configured does not start.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (Clustering == ClusteringMode.Redis && string.IsNullOrWhiteSpace(RedisConnection))
            problems.Add("Cloud:Clustering is Redis but Cloud:RedisConnection is empty.");
        if (Ledger == LedgerKind.Postgres && string.IsNullOrWhiteSpace(PostgresConnection))
            problems.Add("Cloud:Ledger is Postgres but Cloud:PostgresConnection is empty.");
        if (Clustering == ClusteringMode.Redis && Ledger == LedgerKind.Sqlite)
            problems.Add("A cluster needs a ledger every node shares: set Cloud:Ledger to Postgres (SQLite is one node's file).");
        if (!System.Net.IPAddress.TryParse(AdvertisedAddress, out _))
            problems.Add($"Cloud:AdvertisedAddress '{AdvertisedAddress}' is not an IP address.");
        if (LedgerBatchSize < 1) problems.Add("Cloud:LedgerBatchSize must be at least 1.");
        if (DeviceCacheCapacity < 1) problems.Add("Cloud:DeviceCacheCapacity must be at least 1.");
        if (CrlPollInterval <= TimeSpan.Zero) problems.Add("Cloud:CrlPollInterval must be positive.");
        return problems;
    }

    // ---- HTTP limits and operator access (issue 10 §3; cloud/README.md "Limits") ----

    /// <summary>
    /// Largest request body the API reads, in bytes, unless an endpoint sets its own (<c>PUT /api/v1/pki/crl</c>:
    /// <see cref="Api.TrustApi.MaxCrlBytes"/>). Kestrel enforces it while reading, so a chunked body is cut off at the limit.
    /// </summary>
    public long MaxRequestBodyBytes { get; set; } = 64 * 1024;
    /// <summary>Revocation lists received at once; a further upload is answered 503 with Retry-After.</summary>
    public int MaxConcurrentCrlUploads { get; set; } = 1;
    /// <summary>How long one revocation list may take to arrive, so a slow sender cannot hold an upload slot for hours.</summary>
    public TimeSpan CrlUploadTimeout { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>Open HTTP connections Kestrel accepts; null for no limit. Header timeouts and the minimum data rate keep Kestrel's defaults.</summary>
    public long? MaxHttpConnections { get; set; } = 10_000;
    /// <summary>The NSOC operator's bearer token (security events); created with a random token, owner-only, when missing.</summary>
    public string OperatorTokenFile { get; set; } = "data/operator-token";
}

public enum ClusteringMode
{
    /// <summary>One silo on this machine (the demo, most tests).</summary>
    Localhost,
    /// <summary>Silos find each other through Redis (Microsoft.Orleans.Clustering.Redis).</summary>
    Redis,
}

public enum LedgerKind
{
    Sqlite,
    Postgres,
}
