namespace KpuEdge.Cloud;

/// <summary>Configuration of the cloud host (section "Cloud" of appsettings, or command-line overrides).</summary>
public sealed class CloudOptions
{
    public const string Section = "Cloud";

    /// <summary>Run the embedded MQTTnet broker; when false, ingest connects to <see cref="BrokerHost"/> (e.g. mosquitto).</summary>
    public bool EmbeddedBroker { get; set; } = true;
    public string BrokerHost { get; set; } = "127.0.0.1";
    /// <summary>MQTT port; 0 picks a free port (tests, the in-process demo).</summary>
    public int BrokerPort { get; set; } = 1883;
    /// <summary>Messages the embedded broker queues per client before dropping the oldest (MQTTnet's default is 1,000).</summary>
    public int BrokerMaxPendingPerClient { get; set; } = 250_000;

    /// <summary>HTTP address of the public API; port 0 picks a free port.</summary>
    public string HttpUrl { get; set; } = "http://127.0.0.1:8080";

    /// <summary>SQLite results ledger (the durable source of truth for accepted forms).</summary>
    public string LedgerPath { get; set; } = "data/ledger.db";
    /// <summary>Device registry (JSON) written by provisioning or the simulator.</summary>
    public string RegistryPath { get; set; } = "data/devices.json";
    /// <summary>Election definition (JSON); empty for the built-in Pemilu 2024 default.</summary>
    public string? ElectionPath { get; set; }

    /// <summary>How often region grains push their totals upward.</summary>
    public TimeSpan RecapFlushInterval { get; set; } = TimeSpan.FromMilliseconds(250);
    /// <summary>Largest submission payload accepted, in bytes.</summary>
    public int MaxPayloadBytes { get; set; } = Crypto.SubmissionCodec.MaxWireBytes;
    /// <summary>Most submissions written to the ledger in one transaction (group commit).</summary>
    public int LedgerBatchSize { get; set; } = 1024;

    /// <summary>Orleans silo and gateway ports for localhost clustering; 0 picks free ports.</summary>
    public int SiloPort { get; set; } = 11111;
    public int GatewayPort { get; set; } = 30000;
}
